"""Inbound messaging webhooks over HTTP against the real server (issue 5, "inbound").

Starts `uvicorn slotwise.asgi:application --workers 2` on a free port (the same server as
`booking_http`), builds its own organisation on PostgreSQL with a Twilio SMS channel (its auth
token in an environment variable both sides read) and 500 contacts with phone numbers, then
POSTs Twilio "a message comes in" webhooks, signed with `X-Twilio-Signature` exactly as Twilio
signs them (the local Twilio fake builds the form and the signature; the server checks every
one), to `/messaging/inbound/twilio/<key>/`:

- 2,000 senders: 500 phone numbers of existing contacts, 1,500 numbers nobody knows yet (each
  becomes a new contact on its first message);
- 10,000 requests in the measured phase, 20% of them replays: 8,000 distinct messages (a random
  sender each), and 2,000 of them sent again with the same body and signature (Twilio retries a
  webhook that did not answer in time), at random places, so many race their original.

The senders run closed loop (each sends its next webhook when the last was answered): `per_s` is
the server's saturation throughput and `p95_ms` includes the queueing `SENDERS` senders cause
(mean latency = senders / throughput). A second, paced phase offers the same mix at `PACED_PER_S`
(open loop, 3,000 requests on messages of their own; latency counted from when each request
was due): `paced_per_s`, `paced_p95_ms` — the latency target (p95 ≤ 100 ms) is judged on this
one, at a stated offered rate (docs/scaling.md).

The web requests only authenticate and store the raw event (one INSERT … ON CONFLICT DO NOTHING);
contacts, conversations and messages are made by the messaging pump. The pump does NOT run while
the requests are measured (the figures are the request path's alone): afterwards two real
`manage.py worker` processes drain the stored events, and `processed_per_s` is the number of
events over the time between the first and the last event they processed (start-up excluded).

Then it counts, with SQL: `lost` — distinct messages without exactly one Message (or not stored
as exactly one event); `duplicates` — Messages beyond one per distinct message; `wrong_contact`
— messages on a contact whose phone is not the sender's; `contacts_created` must be the number
of new senders. Everything it made is deleted afterwards, also on error.

    {"bench": "inbound", "messages": 10000, "replays_sent": 2000, "per_s": ..., "p95_ms": ...,
     "paced_offered_per_s": 300, "paced_p95_ms": ..., "processed_per_s": ..., "lost": 0,
     "duplicates": 0, ...}
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import urlencode

from bench.booking_http import (
    ROOT,
    build_dataset,
    cleanup,
    log,
    percentile,
    postgres_cpu_seconds,
    server,
    setup_django,
    stop,
    tree_cpu_seconds,
)

SENDERS = 32
MESSAGES = 10_000
REPLAY_SHARE = 0.2
PHONES = 2000
EXISTING = 500
PACED_PER_S = 300
PACED_MESSAGES = 3000
WARMUP = 200
WORKERS = 2
TOKEN_ENV = "BENCH_TWILIO_AUTH_TOKEN"
FORM = "application/x-www-form-urlencoded"


# --- shared with bench/outbox.py ------------------------------------------------------------


def database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}"
        + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        + f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


@contextlib.contextmanager
def workers(count: int, *, label: str, extra_env: dict | None = None):
    """`count` real `manage.py worker` processes (the task worker with its messaging pump
    thread), as production runs them: DEBUG off, one database connection per thread. Yields
    their worker ids; stops them (SIGTERM, then SIGKILL) and forgets their heartbeats."""
    env = dict(os.environ)
    env.pop("SLOTWISE_TESTING", None)
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        LOG_LEVEL="WARNING",
        DATABASE_URL=database_url(),
        DB_CONN_MAX_AGE="0",
        DB_POOL_MAX_SIZE="0",
        DJANGO_SETTINGS_MODULE="slotwise.settings",
        **(extra_env or {}),
    )
    ids = [f"bench-{label}-{uuid.uuid4().hex[:8]}-{i}" for i in range(count)]
    procs = []
    try:
        for worker_id in ids:
            cmd = [sys.executable, "manage.py", "worker", "--queue-name", "*"]
            cmd += ["--no-startup-delay", "--no-reload", "--no-periodic", "-v", "0"]
            cmd += ["--worker-id", worker_id]
            procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True))
        yield ids, procs
    finally:
        stop(*procs)
        from slotwise.core.models import WorkerHeartbeat

        WorkerHeartbeat.objects.filter(worker_id__in=ids).delete()


def check_alive(procs) -> None:
    for proc in procs:
        if proc.poll() is not None:
            raise RuntimeError(f"a worker exited with {proc.returncode}")


def stop_on_sigterm() -> None:
    """SIGTERM (make, CI) ends the benchmark through its clean-up, like Ctrl-C."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def delete_messaging(org) -> None:
    """What the messaging benchmarks made in `org` (channel configs are protected by their
    conversations and messages, so those go first)."""
    from slotwise.messaging.models import ChannelConfig, Conversation, InboundEvent, Message

    Message.objects.filter(organisation=org).delete()
    Conversation.objects.filter(organisation=org).delete()
    InboundEvent.objects.filter(channel__organisation=org).delete()
    ChannelConfig.objects.filter(organisation=org).delete()


# --- the webhooks ---------------------------------------------------------------------------


def requests_for(fake, url: str, phones: list[str], count: int, *, seed: int) -> tuple:
    """(requests, distinct): `count` (body, headers) pairs in send order, REPLAY_SHARE of them
    replays of earlier distinct messages; distinct = [(MessageSid, sender)]."""
    rng = random.Random(seed)
    n_distinct = round(count * (1 - REPLAY_SHARE))
    requests = []
    distinct = []
    for i in range(n_distinct):
        sender = rng.choice(phones)
        params = fake.inbound_sms_params(from_=sender, body=f"Hej! Kan jag boka en tid? ({i})")
        body = urlencode(params).encode()
        headers = {
            "Content-Type": FORM,
            "X-Twilio-Signature": fake.sign(url, params),
            "User-Agent": "TwilioProxy/1.1",
        }
        requests.append((body, headers))
        distinct.append((params["MessageSid"], sender))
    for original in rng.sample(requests, count - n_distinct):
        requests.insert(rng.randrange(len(requests) + 1), original)
    return requests, distinct


def send(base: str, path: str, requests: list, senders: int, *, rate: float = 0) -> dict:
    """`senders` threads with keep-alive connections POST the webhooks (standard library
    http.client, to keep the load generator lean on a machine it shares with the server).
    Closed loop (`rate` 0): each sender sends its next webhook as soon as the last one was
    answered. Open loop (`rate` > 0): webhook i is due at i / rate seconds; its latency counts
    from when it was due, so time spent waiting for a free sender counts too."""
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
    started = 0.0

    def sender() -> None:
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        gate.wait()
        while True:
            try:
                due, (body, headers) = work.get_nowait()
            except queue.Empty:
                conn.close()
                return
            if due is not None:
                delay = started + due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
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
    for t in threads:
        t.join()
    return {
        "latencies": latencies,
        "statuses": statuses,
        "wall": time.perf_counter() - started,
        "errors": errors,
    }


# --- the pump -------------------------------------------------------------------------------


def drain(config, *, expected: int, timeout: float = 900) -> dict:
    """Run WORKERS real workers until every event of `config` is processed; the processing rate
    from the events' own processed_at times (worker start-up is not counted)."""
    from django.db import connection
    from django.db.models import Max, Min

    from slotwise.messaging.models import InboundEvent

    events = InboundEvent.objects.filter(channel=config)
    pending = events.filter(processed_at__isnull=True)
    dbname = connection.settings_dict["NAME"]
    cpu0 = pg0 = None
    with workers(WORKERS, label="inbound") as (_ids, procs):
        deadline = time.monotonic() + timeout
        while (left := pending.count()) > 0:
            check_alive(procs)
            if cpu0 is None and left < expected:  # started: from here the CPU is the pump's
                cpu0 = sum(tree_cpu_seconds(p.pid) for p in procs)
                pg0 = postgres_cpu_seconds(dbname)
                done0 = expected - left
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not process every event in time")
            time.sleep(0.2)
        cpu = sum(tree_cpu_seconds(p.pid) for p in procs) - (cpu0 or 0)
        pg = postgres_cpu_seconds(dbname) - (pg0 or 0)
    span = events.aggregate(first=Min("processed_at"), last=Max("processed_at"))
    seconds = (span["last"] - span["first"]).total_seconds() if span["first"] else 0
    measured = max(1, expected - (done0 if cpu0 is not None else 0))
    return {
        "processed": events.count(),
        "seconds": seconds,
        "per_s": round(expected / seconds, 1) if seconds else None,
        "failed": events.exclude(error="").count(),
        "worker_cpu_ms": round(cpu * 1000 / measured, 2),
        "postgres_cpu_ms": round(pg * 1000 / measured, 2),
    }


def counts(config, distinct: list[tuple[str, str]]) -> dict:
    """lost / duplicates / wrong contacts over every distinct message sent."""
    from django.db import connection
    from django.db.models import Count

    from slotwise.messaging.models import InboundEvent, Message

    messages = dict(
        Message.objects.filter(channel_config=config, direction="in")
        .values_list("provider_message_id")
        .annotate(n=Count("id"))
    )
    events = dict(
        InboundEvent.objects.filter(channel=config).values_list("event_id").annotate(n=Count("id"))
    )
    lost = sum(1 for sid, _ in distinct if messages.get(sid) != 1 or events.get(sid) != 1)
    duplicates = sum(max(0, messages.get(sid, 0) - 1) for sid, _ in distinct)
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT count(*) FROM messaging_message m
              JOIN customers_contact c ON c.id = m.contact_id
             WHERE m.channel_config_id = %s AND m.direction = 'in' AND c.phone <> m."to"
            """,
            [config.pk],
        )
        wrong = cur.fetchone()[0]
    return {
        "lost": lost,
        "duplicates": duplicates,
        "unexpected": sum(messages.values()) - len(messages.keys() & {s for s, _ in distinct}),
        "wrong_contact": wrong,
    }


def measure(*, senders: int = SENDERS) -> dict:
    from django.db import connection

    from slotwise.customers.models import Contact
    from slotwise.messaging.fakes.twilio import TwilioFake
    from slotwise.messaging.models import ChannelConfig
    from slotwise.messaging.testing import inbound_path

    data = None
    fake = TwilioFake()  # not started: it only builds and signs the webhooks here
    os.environ[TOKEN_ENV] = fake.auth_token  # the server inherits the environment
    try:
        data = build_dataset(label="inbound", n_staff=1, n_contacts=EXISTING)
        org = data["org"]
        config = ChannelConfig.objects.create(
            organisation=org, kind="twilio", name="SMS", settings=fake.settings(TOKEN_ENV)
        )
        contacts_before = Contact.objects.filter(organisation=org).count()
        existing = [c.phone for c in data["contacts"]]
        new = [f"+4670{i:07d}" for i in range(PHONES - EXISTING)]
        phones = existing + new
        path = inbound_path(config)
        with server(workers=2) as (base, pid):
            url = base + path  # what Twilio calls, and signs
            warm_requests, warm_distinct = requests_for(fake, url, phones, WARMUP, seed=1)
            warm = send(base, path, warm_requests, 8)
            log(f"warm-up: {warm['statuses']}")
            requests, distinct = requests_for(fake, url, phones, MESSAGES, seed=2)
            dbname = connection.settings_dict["NAME"]
            cpu0, own0 = tree_cpu_seconds(pid), time.process_time()
            pg0 = postgres_cpu_seconds(dbname)
            result = send(base, path, requests, senders)
            server_cpu = tree_cpu_seconds(pid) - cpu0
            client_cpu = time.process_time() - own0
            pg_cpu = postgres_cpu_seconds(dbname) - pg0
            log(f"closed loop: {result['statuses']} in {result['wall']:.1f} s")
            paced_requests, paced_distinct = requests_for(fake, url, phones, PACED_MESSAGES, seed=3)
            paced = send(base, path, paced_requests, senders, rate=PACED_PER_S)
            log(f"paced: {paced['statuses']} in {paced['wall']:.1f} s")
        for run in (warm, result, paced):
            if run["errors"]:
                log("errors:", *run["errors"], sep="\n  ")
        everything = warm_distinct + distinct + paced_distinct
        log(f"pump: {WORKERS} workers process {len(everything)} events …")
        pump = drain(config, expected=len(everything))
        log(f"pump: {pump}")
        checks = counts(config, everything)
        senders_new = {s for _, s in everything} & set(new)
        created = Contact.objects.filter(organisation=org).count() - contacts_before
        n = len(requests)
        non_200 = sum(
            v for run in (warm, result, paced) for k, v in run["statuses"].items() if k != 200
        )
        return {
            "bench": "inbound",
            "server": "uvicorn x2",
            "channel": "twilio (X-Twilio-Signature)",
            "senders": senders,
            "messages": n,
            "replays_sent": n - len(distinct),
            "phones": PHONES,
            "per_s": round(n / result["wall"], 1),
            "p50_ms": round(statistics.median(result["latencies"]), 1),
            "p95_ms": round(percentile(result["latencies"], 0.95), 1),
            "paced_offered_per_s": PACED_PER_S,
            "paced_messages": len(paced_requests),
            "paced_per_s": round(len(paced_requests) / paced["wall"], 1),
            "paced_p50_ms": round(statistics.median(paced["latencies"]), 1),
            "paced_p95_ms": round(percentile(paced["latencies"], 0.95), 1),
            "workers": WORKERS,
            "processed": len(everything),
            "processed_per_s": pump["per_s"],
            "pump_worker_cpu_ms_per_event": pump["worker_cpu_ms"],
            "pump_postgres_cpu_ms_per_event": pump["postgres_cpu_ms"],
            "lost": checks["lost"],
            "duplicates": checks["duplicates"],
            "unexpected_messages": checks["unexpected"],
            "wrong_contact": checks["wrong_contact"],
            "events_failed": pump["failed"],
            "contacts_created": created,
            "contacts_expected": len(senders_new),
            "non_200": non_200,
            "server_cpu_ms_per_request": round(server_cpu * 1000 / n, 2),
            "client_cpu_ms_per_request": round(client_cpu * 1000 / n, 2),
            "postgres_cpu_ms_per_request": round(pg_cpu * 1000 / n, 2),
            "machine_cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        try:
            if data:
                delete_messaging(data["org"])
        finally:
            cleanup(data)
            os.environ.pop(TOKEN_ENV, None)


def main() -> None:
    stop_on_sigterm()
    setup_django()
    print(json.dumps(measure()), flush=True)


if __name__ == "__main__":
    main()
