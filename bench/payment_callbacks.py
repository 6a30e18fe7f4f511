"""Signed payment callbacks over HTTP against the real server (issue 4, "payment_callbacks").

Starts `uvicorn slotwise.asgi:application --workers 2` on a free port (the same server as
`booking_http`, with its balanced loop; `connections_per_process` shows the senders' spread),
builds its own organisation on PostgreSQL with the test provider enabled (its signing secret
from an environment variable both sides read) and 3,000 open payments of its customers, then
50 sender threads POST 5,000 callbacks signed like the test provider's (`Slotwise-Signature`,
see `slotwise/payments/providers/test/provider.py`) to `/payments/callback/test/<org>/`:

- 3,000 "paid" events, one per payment;
- 1,000 "refunded" events (a partial refund) for 1,000 of those payments, shuffled among the rest,
  so some arrive before the capture they refund;
- 1,000 duplicates: the same event (same id and body) sent again, at random places, so many race
  their original.

The senders run closed loop (each sends its next callback when the last was answered): `per_s`
is the server's saturation throughput and `p95_ms` includes the queueing 50 senders cause (mean
latency = 50 / throughput). A second, paced phase offers the same mix at `PACED_PER_S` (open loop,
2,000 callbacks on payments of their own; latency counted from when each callback was due):
`paced_per_s`, `paced_p95_ms`.

The callback URL stores each authentic event as pending and answers; the payments pump applies it
(`slotwise.payments.pump`). So beside the server the bench runs the real worker
(`manage.py worker --no-periodic`, the same environment as the server: its payments pump, its
messaging pump and its task loop; the periodic reconciliation is left out so that only callbacks
move the bench's payments). After both phases it waits until no event is pending (at most
`DRAIN_TIMEOUT` seconds): `applied_all_within_s` is the time from the last callback answered until
then, `apply_per_s` the events the pump applied per second over the whole run (first callback
stored → last event applied; bounded by how fast callbacks arrive). `PAYMENTS_PUMP_NICE` in the
environment reaches the worker (the pump thread's CPU priority, see docs/operator-guide.md).

Then it counts, with SQL, double transitions (a payment with more than one status change to the
same status) and lost events (a distinct event whose payment did not reach what it reported:
paid, or partially refunded by exactly its amount; or that was not stored exactly once), then
deletes everything it made, also on error. An event still pending at the end counts as lost.

    {"bench": "payment_callbacks", "callbacks": 5000, "duplicates_sent": 1000, "per_s": ...,
     "p95_ms": ..., "double_transitions": 0, "lost": 0, "applied_all_within_s": ...,
     "apply_per_s": ..., ...}
"""

from __future__ import annotations

import json
import os
import queue
import random
import secrets
import statistics
import threading
import time
import uuid
from decimal import Decimal

from bench.booking_http import (
    build_dataset,
    cleanup,
    log,
    percentile,
    postgres_cpu_seconds,
    server,
    setup_django,
    spread_during,
    tree_cpu_seconds,
    worker,
)

SENDERS = 50
PAYMENTS = 3000
REFUNDS = 1000
DUPLICATES = 1000
WARMUP_PAYMENTS = 100
# The paced phase: the same mix at a fixed offered rate (open loop), 2,000 callbacks.
PACED_PER_S = 200
PACED_PAYMENTS = 1200
PACED_REFUNDS = 400
PACED_DUPLICATES = 400
AMOUNT = Decimal("450.00")
REFUNDED = Decimal("150.00")
SECRET_ENV = "BENCH_PAYMENT_CALLBACK_SECRET"
DRAIN_TIMEOUT = 120


def pending_count(org) -> int:
    from slotwise.payments.models import PaymentEvent

    return PaymentEvent.objects.filter(organisation=org, outcome="pending").count()


def wait_drained(org, *, timeout: float = DRAIN_TIMEOUT) -> float | None:
    """Seconds until no event of the organisation is pending (None: still some at `timeout`)."""
    t0 = time.perf_counter()
    while pending_count(org):
        if time.perf_counter() - t0 > timeout:
            return None
        time.sleep(0.05)
    return time.perf_counter() - t0


def apply_rate(org, since) -> tuple[float, dict]:
    """Events the pump applied per second (first stored → last applied, the events stored since
    `since`), and the outcomes."""
    from django.db.models import Count, Max, Min

    from slotwise.payments.models import PaymentEvent

    events = PaymentEvent.objects.filter(organisation=org, created_at__gte=since).exclude(
        outcome__in=("pending", "rejected")
    )
    span = events.aggregate(first=Min("created_at"), last=Max("updated_at"))
    outcomes = dict(events.values_list("outcome").annotate(n=Count("id")).order_by())
    n = sum(outcomes.values())
    if not n or span["first"] is None:
        return 0.0, outcomes
    seconds = max((span["last"] - span["first"]).total_seconds(), 1e-3)
    return round(n / seconds, 1), outcomes


def build(data: dict) -> None:
    """The test provider for the bench organisation and its open (pending) payments."""
    from slotwise.payments.models import Payment, PaymentStatus, ProviderConfig, Purpose

    os.environ[SECRET_ENV] = secrets.token_hex(32)  # the server inherits the environment
    org = data["org"]
    ProviderConfig.objects.create(
        organisation=org, provider="test", settings={"secret_env": SECRET_ENV}
    )
    contacts = data["contacts"]
    payments = Payment.objects.bulk_create(
        Payment(
            organisation=org,
            provider="test",
            purpose=Purpose.OTHER,
            amount=AMOUNT,
            currency="SEK",
            contact=contacts[i % len(contacts)],
            status=PaymentStatus.PENDING,
            reported_pending=True,
            provider_reference=f"tp_{uuid.uuid4().hex}",
        )
        for i in range(PAYMENTS + PACED_PAYMENTS + WARMUP_PAYMENTS)
    )
    data["payments"] = payments[:PAYMENTS]
    data["paced"] = payments[PAYMENTS : PAYMENTS + PACED_PAYMENTS]
    data["warmup"] = payments[PAYMENTS + PACED_PAYMENTS :]


def remote(payment, *, status: str, refunded: Decimal = Decimal("0")) -> dict:
    """The test provider's remote record of a payment, as its callbacks carry it."""
    refunds = [{"id": f"re_{payment.public_id.hex}", "amount": str(refunded)}] if refunded else []
    return {
        "reference": payment.provider_reference,
        "payment_id": str(payment.public_id),
        "amount": str(payment.amount),
        "currency": payment.currency,
        "refunded": str(refunded),
        "refunds": refunds,
        "status": status,
        "description": "Bench",
        "return_url": "",
        "callback_url": "",
    }


def events_for(provider, payments, *, refunds: int, duplicates: int, seed: int = 4) -> tuple:
    """(bodies, distinct events): the event bodies in send order (signed when sent, as a
    provider signs each delivery); distinct events are (event id, payment id, kind)."""
    rng = random.Random(seed)
    distinct = []
    for payment in payments:
        distinct.append((f"evt_paid_{payment.public_id.hex}", payment, "paid"))
    for payment in rng.sample(payments, refunds):
        distinct.append((f"evt_refund_{payment.public_id.hex}", payment, "refunded"))
    rng.shuffle(distinct)
    requests = []
    for event_id, payment, kind in distinct:
        data = remote(payment, status=kind, refunded=REFUNDED if kind == "refunded" else 0)
        body = provider.event_body(data, event_type=f"payment.{kind}", event_id=event_id)
        requests.append(body)
    for original in rng.sample(requests, duplicates):
        requests.insert(rng.randrange(len(requests) + 1), original)
    return requests, [(e, p.pk, k) for e, p, k in distinct]


def send(base: str, path: str, requests: list, senders: int, provider, *, rate: float = 0) -> dict:
    """`senders` threads with keep-alive connections POST the callbacks (standard library
    http.client, to keep the load generator lean on a machine it shares with the server).

    Closed loop (`rate` 0): each sender sends its next callback as soon as the last one was
    answered — the server's saturation throughput; latency is then mostly queueing (Little's
    law: mean latency = senders / throughput). Open loop (`rate` > 0): callback i is due at
    i / rate seconds, as a provider sends them when payments happen; its latency counts from
    when it was due, so time spent waiting for a free sender counts too."""
    import http.client
    from urllib.parse import urlsplit

    host = urlsplit(base)
    work: queue.Queue = queue.Queue()
    for i, item in enumerate(requests):
        work.put((i / rate if rate else None, item))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    lock = threading.Lock()
    gate = threading.Barrier(senders + 1)

    def sender() -> None:
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        gate.wait()
        while True:
            try:
                due, body = work.get_nowait()
            except queue.Empty:
                conn.close()
                return
            if due is not None:
                delay = started + due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            headers = {
                "Content-Type": "application/json",
                "Slotwise-Signature": provider.sign(body),
            }
            t0 = time.perf_counter() if due is None else started + due
            text = ""
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                code = response.status
                if code != 200:
                    text = f"{code}: {payload[:300].decode(errors='replace')}"
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
                code, text = 599, repr(exc)
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[code] = statuses.get(code, 0) + 1
                if text and len(errors) < 5:
                    errors.append(text)

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for t in threads:
        t.start()
    started = time.perf_counter() + 0.05
    gate.wait()
    t0 = started
    for t in threads:
        t.join()
    return {
        "latencies": latencies,
        "statuses": statuses,
        "wall": time.perf_counter() - t0,
        "errors": errors,
    }


def double_transitions(payment_ids: list[int]) -> int:
    """(payment, new status) pairs written more than once."""
    from django.db import connection

    from slotwise.payments.models import StatusChange

    with connection.cursor() as cur:
        cur.execute(
            f"""
            SELECT count(*) FROM (
              SELECT payment_id, new_status FROM {StatusChange._meta.db_table}
               WHERE payment_id = ANY(%s)
               GROUP BY payment_id, new_status HAVING count(*) > 1) twice
            """,
            [payment_ids],
        )
        return cur.fetchone()[0]


def lost_events(distinct: list[tuple[str, int, str]], org) -> int:
    """Distinct events that were not stored exactly once, or whose payment did not reach the
    status they reported."""
    from django.db.models import Count

    from slotwise.payments.models import Payment, PaymentEvent, PaymentStatus

    stored = dict(
        PaymentEvent.objects.filter(organisation=org, provider="test")
        .exclude(event_id__startswith="rejected:")
        .values_list("event_id")
        .annotate(n=Count("id"))
    )
    payments = {
        p["pk"]: p
        for p in Payment.objects.filter(pk__in={pk for _, pk, _ in distinct}).values(
            "pk", "status", "paid_amount", "refunded_amount"
        )
    }
    refunded = {pk for _, pk, kind in distinct if kind == "refunded"}
    lost = 0
    for event_id, pk, _kind in distinct:
        p = payments[pk]
        ok = stored.get(event_id) == 1 and p["paid_amount"] == AMOUNT
        if pk in refunded:
            ok = ok and p["status"] == PaymentStatus.PARTIALLY_REFUNDED
            ok = ok and p["refunded_amount"] == REFUNDED
        else:
            ok = ok and p["status"] == PaymentStatus.PAID
        lost += not ok
    return lost


def delete_payments(data: dict | None) -> None:
    """Payments and what hangs on them (refunds are protected, so they go first)."""
    if not data or "org" not in data:
        return
    from slotwise.payments.models import Payment, PaymentEvent, ProviderConfig, Refund

    org = data["org"]
    Refund.objects.filter(organisation=org).delete()
    Payment.objects.filter(organisation=org).delete()
    PaymentEvent.objects.filter(organisation=org).delete()
    ProviderConfig.objects.filter(organisation=org).delete()


def measure(*, senders: int = SENDERS) -> dict:
    from django.db import connection
    from django.urls import reverse
    from django.utils import timezone

    from slotwise.payments.services import provider_for

    data = None
    try:
        data = build_dataset(label="callbacks", n_staff=1, n_contacts=500)
        build(data)
        org = data["org"]
        provider = provider_for(organisation=org, kind="test")
        path = reverse("payments:callback", kwargs={"provider": "test", "org_slug": org.slug})
        with server(workers=2) as (base, pid), worker() as worker_pid:
            warm_requests, _ = events_for(provider, data["warmup"], refunds=20, duplicates=20)
            warm = send(base, path, warm_requests, 8, provider)
            log(f"warm-up: {warm['statuses']}, drained in {wait_drained(org)} s")
            requests, distinct = events_for(
                provider, data["payments"], refunds=REFUNDS, duplicates=DUPLICATES
            )
            dbname = connection.settings_dict["NAME"]
            since = timezone.now()
            cpu0, own0 = tree_cpu_seconds(pid), time.process_time()
            wcpu0 = tree_cpu_seconds(worker_pid)
            pg0 = postgres_cpu_seconds(dbname)
            with spread_during(base) as spread:
                result = send(base, path, requests, senders, provider)
            server_cpu = tree_cpu_seconds(pid) - cpu0
            worker_cpu = tree_cpu_seconds(worker_pid) - wcpu0
            client_cpu = time.process_time() - own0
            pg_cpu = postgres_cpu_seconds(dbname) - pg0
            pending_after_closed = pending_count(org)
            paced_requests, paced_distinct = events_for(
                provider,
                data["paced"],
                refunds=PACED_REFUNDS,
                duplicates=PACED_DUPLICATES,
                seed=5,
            )
            paced = send(base, path, paced_requests, senders, provider, rate=PACED_PER_S)
            # The last callback was answered: wait until the pump has applied everything.
            drained = wait_drained(org)
            worker_cpu_all = tree_cpu_seconds(worker_pid) - wcpu0
            apply_per_s, outcomes = apply_rate(org, since)
            log(f"outcomes: {outcomes}")
        for run in (result, paced):
            if run["errors"]:
                log("errors:", *run["errors"], sep="\n  ")
        n = len(requests)
        statuses = result["statuses"]
        payment_ids = [p.pk for p in data["payments"] + data["paced"]]
        return {
            "bench": "payment_callbacks",
            "server": "uvicorn x2",
            "senders": senders,
            "callbacks": n,
            "duplicates_sent": DUPLICATES,
            "per_s": round(n / result["wall"], 1),
            "p50_ms": round(statistics.median(result["latencies"]), 1),
            "p95_ms": round(percentile(result["latencies"], 0.95), 1),
            "double_transitions": double_transitions(payment_ids),
            # The senders' connections per server process, a second into the closed phase.
            "connections_per_process": spread,
            "lost": lost_events(distinct + paced_distinct, org),
            "non_200": sum(v for k, v in statuses.items() if k != 200)
            + sum(v for k, v in paced["statuses"].items() if k != 200),
            # The payments pump (in the worker): stored events applied after answering.
            "applied_all_within_s": round(drained, 2) if drained is not None else None,
            "apply_per_s": apply_per_s,
            "pending_after_closed_phase": pending_after_closed,
            "failed_events": outcomes.get("failed", 0),
            "pump_nice": int(os.environ.get("PAYMENTS_PUMP_NICE", "0") or 0),
            # The same mix offered at a fixed rate (open loop, 2,000 callbacks).
            "paced_offered_per_s": PACED_PER_S,
            "paced_per_s": round(len(paced_requests) / paced["wall"], 1),
            "paced_p50_ms": round(statistics.median(paced["latencies"]), 1),
            "paced_p95_ms": round(percentile(paced["latencies"], 0.95), 1),
            "server_cpu_ms_per_callback": round(server_cpu * 1000 / n, 2),
            # The worker's CPU during the closed phase, and per distinct event over the run.
            "worker_cpu_ms_per_callback": round(worker_cpu * 1000 / n, 2),
            "worker_cpu_ms_per_event_applied": round(
                worker_cpu_all * 1000 / max(1, sum(outcomes.values())), 2
            ),
            "client_cpu_ms_per_callback": round(client_cpu * 1000 / n, 2),
            "postgres_cpu_ms_per_callback": round(pg_cpu * 1000 / n, 2),
            "machine_cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        try:
            delete_payments(data)
        finally:
            cleanup(data)
            os.environ.pop(SECRET_ENV, None)


def main() -> None:
    setup_django()
    print(json.dumps(measure()), flush=True)


if __name__ == "__main__":
    main()
