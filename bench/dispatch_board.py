"""The dispatch board (issue 6, S2.3, "dispatch_board"): 100 technicians with 600 orders on one
day, the server time of `/work/dispatch/?day=…&unit=…` on PostgreSQL.

Builds its own organisation (Los Angeles, one field unit): 100 technicians working every day
07:00–19:00, a manager, 600 assigned work orders on one day (6 per technician, each with its
confirmed booking on the technician's agenda, in the statuses of a working day) and 40 orders
still without a technician (drafts with a window that day) — all bulk-created. The board is
requested through Django's test `Client` as the manager (the whole request: middleware, session,
the reads, the template), 10 warm-up requests then 100 timed ones. Everything it made is deleted
at the end, also on error. One JSON line::

    {"bench": "dispatch_board", "technicians": 100, "orders": 600, "p95_ms": ..., "queries": ...}

Targets: p95_ms ≤ 200, queries ≤ 15 (the count does not grow with technicians or orders).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time
import uuid
from zoneinfo import ZoneInfo

from bench.booking_http import cleanup as cleanup_org
from bench.booking_http import log, percentile, setup_django

TECHNICIANS = int(os.environ.get("BENCH_DISPATCH_TECHNICIANS", "100"))
PER_TECHNICIAN = 6
UNASSIGNED = 40
WARMUP = 10
REQUESTS = int(os.environ.get("BENCH_DISPATCH_REQUESTS", "100"))
TZ = "America/Los_Angeles"
#: the statuses of a day's orders, in the order of their start times
DAY_STATUSES = ("closed", "completed", "in_progress", "accepted", "assigned", "assigned")


def build() -> dict:
    from django.contrib.auth import get_user_model

    from slotwise.bookings.models import Booking
    from slotwise.customers.models import Contact
    from slotwise.org import services as org_services
    from slotwise.org.models import Location, Organisation, Staff, StaffRole
    from slotwise.org.roles import Role
    from slotwise.scheduling.models import AppointmentType, SchedulingPolicy, WorkingHours
    from slotwise.workorders.models import WorkOrder, WorkOrderSequence

    User = get_user_model()
    tag = f"dispatch-{uuid.uuid4().hex[:8]}"
    zone = ZoneInfo(TZ)
    org = Organisation.objects.create(
        name=f"Bench {tag}",
        slug=f"bench-{tag}",
        country="US",
        time_zone=TZ,
        currency="USD",
        default_language="en",
    )
    SchedulingPolicy.objects.create(organisation=org, observe_public_holidays=False)
    root = org_services.org_unit_create(organisation=org, name="Bench repair", kind="department")
    unit = org_services.org_unit_create(
        organisation=org, name="Field team", kind="team", parent=root
    )
    users = User.objects.bulk_create(
        User(username=f"{tag}-t{i}", first_name=f"Tech{i:03d}", last_name="Bench")
        for i in range(TECHNICIANS)
    )
    since = dt.date(2020, 1, 1)
    techs = Staff.objects.bulk_create(
        Staff(organisation=org, user=u, unit=unit, active_from=since) for u in users
    )
    StaffRole.objects.bulk_create(StaffRole(staff=s, role=Role.TECHNICIAN) for s in techs)
    WorkingHours.objects.bulk_create(
        WorkingHours(staff=s, weekday=d, start=dt.time(7), end=dt.time(19))
        for s in techs
        for d in range(7)
    )
    manager_user = User.objects.create(username=f"{tag}-manager", first_name="Manager")
    manager = Staff.objects.create(
        organisation=org, user=manager_user, unit=unit, active_from=since
    )
    StaffRole.objects.create(staff=manager, role=Role.MANAGER)
    visit = AppointmentType.objects.create(
        organisation=org,
        name="Repair visit",
        slug="repair",
        duration_minutes=60,
        currency="USD",
        horizon_days=365,
        mode="customer_address",
    )
    n_orders = TECHNICIANS * PER_TECHNICIAN
    contacts = Contact.objects.bulk_create(
        Contact(organisation=org, first_name=f"Customer{i}", last_name="Bench")
        for i in range(n_orders + UNASSIGNED)
    )
    locations = Location.objects.bulk_create(
        Location(
            organisation=org,
            address=f"{100 + i} Main St",
            postcode=f"900{i % 90 + 10:02d}",
            city="Los Angeles",
            country="US",
            lat=34.0 + (i % 50) / 100,
            lng=-118.4 + (i % 40) / 100,
        )
        for i in range(n_orders + UNASSIGNED)
    )
    day = dt.datetime.now(zone).date() + dt.timedelta(days=7)
    bookings, orders = [], []
    for t, tech in enumerate(techs):
        for k in range(PER_TECHNICIAN):
            i = t * PER_TECHNICIAN + k
            start = dt.datetime.combine(day, dt.time(8), tzinfo=zone) + dt.timedelta(minutes=90 * k)
            end = start + dt.timedelta(minutes=60)
            bookings.append(
                Booking(
                    organisation=org,
                    type=visit,
                    staff=tech,
                    contact=contacts[i],
                    unit=unit,
                    start=start,
                    end=end,
                    blocked_start=start,
                    blocked_end=end,
                    status="confirmed",
                    location=locations[i],
                    notes=f"Job {i}",
                )
            )
    bookings = Booking.objects.bulk_create(bookings)
    for i, booking in enumerate(bookings):
        orders.append(
            WorkOrder(
                organisation=org,
                number=i + 1,
                status=DAY_STATUSES[i % PER_TECHNICIAN],
                source="phone",
                contact_id=booking.contact_id,
                unit=unit,
                type=visit,
                location_id=booking.location_id,
                title=f"Job {i}: leaking pipe",
                window_start=booking.start - dt.timedelta(hours=1),
                window_end=booking.end + dt.timedelta(hours=1),
                technician_id=booking.staff_id,
                booking=booking,
                scheduled_start=booking.start,
                scheduled_end=booking.end,
                currency="USD",
                total="120.00",
                proposed_total="120.00",
            )
        )
    for j in range(UNASSIGNED):
        i = n_orders + j
        ws = dt.datetime.combine(day, dt.time(8 + j % 8), tzinfo=zone)
        orders.append(
            WorkOrder(
                organisation=org,
                number=i + 1,
                status="draft",
                source="web_form",
                contact=contacts[i],
                unit=unit,
                type=visit,
                location=locations[i],
                title=f"Request {j}: broken tap",
                window_start=ws,
                window_end=ws + dt.timedelta(hours=4),
                currency="USD",
            )
        )
    WorkOrder.objects.bulk_create(orders, batch_size=500)
    WorkOrderSequence.objects.create(organisation=org, next_number=len(orders) + 1)
    return {
        "org": org,
        "unit": unit,
        "day": day,
        "manager": manager_user,
        "users": [*users, manager_user],
        "orders": n_orders,
    }


def cleanup(data: dict | None) -> None:
    if not data:
        return
    from slotwise.workorders.models import WorkOrder, WorkOrderSequence

    org = data["org"]
    WorkOrder.objects.filter(organisation=org).delete()  # PROTECTs contacts, staff, the type
    WorkOrderSequence.objects.filter(organisation=org).delete()
    cleanup_org(data)  # bookings, contacts, staff, type, units, the organisation, users, history


def measure(data: dict) -> dict:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    if "testserver" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.force_login(data["manager"])
    url = f"/work/dispatch/?day={data['day'].isoformat()}&unit={data['unit'].pk}"
    for _ in range(WARMUP):
        response = client.get(url)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    queries = len(ctx.captured_queries)
    html = response.content.decode()
    shown = html.count('data-testid="board-order"')
    rows = html.count('data-testid="board-row"')
    assert shown == data["orders"], (shown, data["orders"])
    assert rows == TECHNICIANS, rows
    times = []
    for _ in range(REQUESTS):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    return {
        "bench": "dispatch_board",
        "technicians": TECHNICIANS,
        "orders": data["orders"],
        "p95_ms": round(percentile(times, 0.95), 1),
        "queries": queries,
        "p50_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "unassigned": UNASSIGNED,
        "requests": REQUESTS,
        "html_kb": round(len(html.encode()) / 1024, 1),
    }


def main() -> None:
    setup_django()
    data = None
    try:
        log("dispatch_board: building the data")
        t0 = time.perf_counter()
        data = build()
        log(f"dispatch_board: built in {time.perf_counter() - t0:.1f}s; measuring")
        result = measure(data)
    finally:
        cleanup(data)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
