"""The technician's Today page (issue 6, "tech_today"): server time and queries on PostgreSQL.

Builds its own organisation (Los Angeles, USD): one unit, one technician with 30 orders today
in the organisation's time zone — a mix of the statuses a day has (assigned, accepted, in
progress, paused, needs confirmation, completed, closed), each with a customer, an address and
a total — plus other technicians' orders and the same technician's orders on other days that
the page must leave out. Then it requests ``workorders:tech_today`` through Django's test
client, logged in as the technician (the whole middleware stack: session, authentication,
locale, messages; the template rendered), 200 times after 20 warm-up requests, and counts the
queries of one request. Everything it made is deleted at the end, also on error.

    {"bench": "tech_today", "orders": 30, "p50_ms": ..., "p95_ms": ..., "queries": ...,
     "queries_5_orders": ..., "target_p95_ms": 60, "target_queries": 10, "ok": true}

``queries_5_orders`` is the same page with 5 orders: equal to ``queries`` when the page has no
N+1.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import statistics
import sys
import time
import uuid
from decimal import Decimal

ORDERS = 30
FEW = 5
OTHER_DAYS = 40
OTHER_TECHS = 3
REQUESTS = 200
WARMUP = 20
TARGET_P95_MS = 60
TARGET_QUERIES = 10
TZ = "America/Los_Angeles"
STATUSES = (
    "assigned",
    "accepted",
    "in_progress",
    "paused",
    "needs_confirmation",
    "completed",
    "closed",
)


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slotwise.settings")
    os.environ.setdefault("SLOTWISE_TESTING", "1")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if not settings.IS_POSTGRES:
        raise SystemExit("bench tech_today needs PostgreSQL: set DATABASE_URL")
    call_command("migrate", verbosity=0)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[k]


def build(tag: str, data: dict) -> None:
    """The organisation, its technicians, customers, addresses and orders (bulk inserts), into
    `data` as they are made (so a failure half-way is cleaned up too)."""
    from zoneinfo import ZoneInfo

    from django.contrib.auth import get_user_model

    from slotwise.customers.models import Contact
    from slotwise.org import services as org_services
    from slotwise.org.models import Location, Organisation, Staff, StaffRole
    from slotwise.org.roles import Role
    from slotwise.scheduling.models import SchedulingPolicy
    from slotwise.workorders.models import WorkOrder

    User = get_user_model()
    zone = ZoneInfo(TZ)
    org = Organisation.objects.create(
        name=f"Bench {tag}",
        slug=f"bench-{tag}",
        country="US",
        time_zone=TZ,
        currency="USD",
        default_language="en",
    )
    data.update(org=org, users=[])
    SchedulingPolicy.objects.create(organisation=org, observe_public_holidays=False)
    unit = org_services.org_unit_create(organisation=org, name="Field team", kind="branch")
    users = User.objects.bulk_create(
        User(username=f"{tag}-t{i}", first_name=f"Tech{i}", last_name="Bench")
        for i in range(1 + OTHER_TECHS)
    )
    data["users"] = users
    staff = Staff.objects.bulk_create(
        Staff(organisation=org, user=u, unit=unit, active_from=dt.date(2020, 1, 1)) for u in users
    )
    StaffRole.objects.bulk_create(StaffRole(staff=s, role=Role.TECHNICIAN) for s in staff)
    contacts = Contact.objects.bulk_create(
        Contact(
            organisation=org,
            first_name=f"Client{i}",
            last_name="Bench",
            phone=f"+1310555{i:04d}",
            email=f"client{i}@example.com",
        )
        for i in range(ORDERS)
    )
    cities = ("Los Angeles", "Pasadena", "Santa Monica", "Burbank", "Glendale")
    locations = Location.objects.bulk_create(
        Location(
            organisation=org,
            address=f"{100 + i} Main St",
            postcode=f"9{i % 10:04d}",
            city=cities[i % len(cities)],
            country="US",
            lat=34.05 + i / 1000,
            lng=-118.24 - i / 1000,
        )
        for i in range(ORDERS)
    )
    today = dt.datetime.now(zone).date()
    midnight = dt.datetime.combine(today, dt.time.min, tzinfo=zone)
    number = iter(range(1, 10**6))

    def order(technician, start, i, status):
        total = Decimal(80 + (i % 7) * 15) + Decimal("0.50")
        return WorkOrder(
            organisation=org,
            public_id=uuid.uuid4(),
            number=next(number),
            status=status,
            source="phone",
            contact=contacts[i % len(contacts)],
            unit=unit,
            location=locations[i % len(locations)],
            title=f"Repair job {i}: leaking pipe under the kitchen sink",
            description="Bench order",
            technician=technician,
            scheduled_start=start,
            scheduled_end=start + dt.timedelta(minutes=20),
            currency="USD",
            net_total=total,
            total=total,
            proposed_total=total,
            version=1,
        )

    me, others = staff[0], staff[1:]
    rows = [
        order(me, midnight + dt.timedelta(hours=6, minutes=25 * i), i, STATUSES[i % len(STATUSES)])
        for i in range(ORDERS)
    ]
    rows += [
        order(me, midnight + dt.timedelta(days=d, hours=9), d, "assigned")
        for d in range(-OTHER_DAYS // 2, OTHER_DAYS // 2 + 1)
        if d != 0
    ]
    rows += [
        order(t, midnight + dt.timedelta(hours=8 + k), k, "assigned")
        for t in others
        for k in range(10)
    ]
    WorkOrder.objects.bulk_create(rows)
    data.update(staff=staff, me=me, today=midnight)


def cleanup(data: dict | None) -> None:
    if not data or data.get("org") is None:
        return
    from bench.booking_http import cleanup as org_cleanup
    from slotwise.workorders.models import WorkOrder

    WorkOrder.objects.filter(organisation=data["org"]).delete()
    org_cleanup(data)


def measure(client, url: str) -> tuple[list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARMUP):
        response = client.get(url, secure=True)
        assert response.status_code == 200, response.status_code
    times = []
    for _ in range(REQUESTS):
        t0 = time.perf_counter()
        response = client.get(url, secure=True)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        client.get(url, secure=True)
    return times, len(ctx.captured_queries)


def main() -> None:
    _setup()
    from django.test import Client
    from django.urls import reverse

    from slotwise.workorders.models import WorkOrder

    tag = f"techtoday-{uuid.uuid4().hex[:8]}"
    data: dict = {}
    client = Client(HTTP_HOST="127.0.0.1")
    try:
        log(f"tech_today: building {ORDERS} orders today for one technician")
        build(tag, data)
        client.force_login(data["me"].user)
        url = reverse("workorders:tech_today")
        page = client.get(url, secure=True)
        assert page.status_code == 200, page.status_code
        shown = page.content.decode().count('data-testid="order-row"')
        if shown != ORDERS:
            raise SystemExit(f"tech_today: the page shows {shown} orders, expected {ORDERS}")
        times, queries = measure(client, url)
        # the same page with 5 orders: the query count must not depend on the number of orders
        keep = list(
            WorkOrder.objects.filter(
                technician=data["me"],
                scheduled_start__gte=data["today"],
                scheduled_start__lt=data["today"] + dt.timedelta(days=1),
            )
            .order_by("scheduled_start")
            .values_list("pk", flat=True)[FEW:]
        )
        WorkOrder.objects.filter(pk__in=keep).update(
            scheduled_start=data["today"] - dt.timedelta(days=60)
        )
        _, queries_few = measure(client, url)
        p95 = _percentile(times, 0.95)
        print(
            json.dumps(
                {
                    "bench": "tech_today",
                    "orders": ORDERS,
                    "requests": REQUESTS,
                    "p50_ms": round(statistics.median(times), 2),
                    "p95_ms": round(p95, 2),
                    "max_ms": round(max(times), 2),
                    "queries": queries,
                    "queries_5_orders": queries_few,
                    "target_p95_ms": TARGET_P95_MS,
                    "target_queries": TARGET_QUERIES,
                    "ok": p95 <= TARGET_P95_MS
                    and queries <= TARGET_QUERIES
                    and queries_few == queries,
                }
            ),
            flush=True,
        )
    finally:
        client.logout()
        cleanup(data)


if __name__ == "__main__":
    main()
