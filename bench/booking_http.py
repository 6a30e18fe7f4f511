"""Booking over HTTP against the real server (issue 3, "booking_http").

Starts `uvicorn slotwise.asgi:application --workers 2` on a free port with the balanced loop
(`--loop slotwise.core.serving:new_event_loop`, as docs/operator-guide.md runs it;
`BENCH_ACCEPT=greedy` for uvicorn's own), DEBUG off, persistent database connections, builds its own organisation on PostgreSQL (staff with working hours, one
appointment type, contacts, a call-centre user with an API token), then 50 client threads book
1,000 distinct free slots through `POST /api/bookings/` (plus a few deliberate collisions that
must answer 409). The clients run closed loop (each sends its next booking when the last was
answered): `per_s` is the server's saturation throughput and `p95_ms` includes the queueing 50
clients cause (mean latency = 50 / throughput). A second, paced phase offers 1,000 more bookings
(a later week's slots) at `PACED_PER_S` (open loop, latency counted from when each booking was
due): `paced_per_s`, `paced_p95_ms`. The real worker runs beside the server (its bookings pump
writes each booking's timeline entry and message after the answer): `follow_ups_within_s` is how
long after the last booking the last follow-up was written, `follow_ups_missing` counts bookings
without theirs (must be 0); `connections_per_process` is how the 50 clients' connections were
spread over the server's processes. Afterwards it counts double bookings with SQL (overlapping active
blocked ranges per staff member) and deletes everything it made, also on error.

    {"bench": "booking_http", "clients": 50, "bookings": 1000, "per_s": ..., "p95_ms": ...,
     "double_bookings": 0, "errors_5xx": 0, "paced_per_s": ..., "paced_p95_ms": ..., ...}

The helpers here (Django setup, server, dataset, clean-up) are shared with `booking_race`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import queue
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

CLIENTS = 50
BOOKINGS = 1000
#: The paced phase: the same number of bookings offered at this rate (the issue's target).
PACED_PER_S = 200
COLLISIONS = 50
STAFF = 100
ROOT = Path(__file__).resolve().parent.parent


def log(*args, sep: str = " ") -> None:
    print(*args, file=sys.stderr, flush=True, sep=sep)


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slotwise.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if not settings.IS_POSTGRES:
        raise SystemExit("This benchmark needs PostgreSQL: set DATABASE_URL.")
    call_command("migrate", verbosity=0)
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def tree_cpu_seconds(root_pid: int) -> float:
    """CPU time (user + system) of a process and its children, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid = int(fields[1])
        children.setdefault(ppid, []).append(int(entry))
        stats[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def postgres_cpu_seconds(database: str) -> float:
    """CPU time of the PostgreSQL backends serving `database` (Linux /proc; 0 if unreadable)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().decode(errors="replace")
            if not cmd.startswith("postgres:") or f" {database} " not in cmd:
                continue
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connections_per_process(base: str) -> list[int]:
    """How many established connections to the server each of its processes holds (Linux `ss`;
    [] where it is missing), largest first: how evenly the clients were spread."""
    import collections
    import re

    port = base.rsplit(":", 1)[1]
    try:
        out = subprocess.run(
            ["ss", "-tnpH", "state", "established", f"sport = :{port}"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    held = collections.Counter(re.findall(r"pid=(\d+)", out))
    return sorted(held.values(), reverse=True)


@contextlib.contextmanager
def spread_during(base: str, after: float = 1.0):
    """Yields a list that holds `connections_per_process` as seen `after` seconds in."""
    seen: list[int] = []
    timer = threading.Timer(after, lambda: seen.extend(connections_per_process(base)))
    timer.start()
    try:
        yield seen
    finally:
        timer.cancel()


#: One secret for the server and the worker of a run (links one signs, the other checks).
_SECRET_KEY = secrets.token_urlsafe(50)


def process_env() -> dict:
    """The environment of the server and the worker: production settings (DEBUG off), the
    same DATABASE_URL, warnings only in the log."""
    env = dict(os.environ)
    env.pop("SLOTWISE_TESTING", None)
    env.update(
        DEBUG="0",
        SECRET_KEY=_SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        # Under ASGI each request has its own connection context: a per-process pool reuses
        # connections (see settings.py), at least one per request thread (slotwise/asgi.py).
        WEB_THREADS=env.get("WEB_THREADS", "16"),
        WEB_LEAN_THREADS=env.get("WEB_LEAN_THREADS", "3"),
        DB_CONN_MAX_AGE="0",
        DB_POOL_MAX_SIZE=env.get("DB_POOL_MAX_SIZE", "19"),
        DB_POOL_MIN_SIZE=env.get("DB_POOL_MIN_SIZE", "4"),
        DJANGO_SETTINGS_MODULE="slotwise.settings",
    )
    return env


def stop(*procs: subprocess.Popen) -> None:
    """Stop subprocesses started in sessions of their own (with their children): SIGTERM to
    each, then up to 20 s for each to end before SIGKILL."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def server(*, workers: int = 2, kind: str = "uvicorn"):
    """The real ASGI server as a subprocess, with the same DATABASE_URL; yields its base URL."""
    import httpx

    port = free_port()
    env = process_env()
    bin_dir = Path(sys.executable).parent
    if kind == "gunicorn-sync":
        # WSGI, one request at a time per process: persistent connections work here.
        env.update(DB_CONN_MAX_AGE="600", DB_POOL_MAX_SIZE="0")
        cmd = [str(bin_dir / "gunicorn"), "slotwise.wsgi:application", "-w", str(workers)]
        cmd += ["-b", f"127.0.0.1:{port}", "--log-level", "warning", "--backlog", "2048"]
    elif kind == "uvicorn-wsgi":
        # The same uvicorn, serving Django's WSGI handler from a thread pool: one thread hop
        # per request instead of one per middleware hook, and threads (so connections) reused.
        env.update(DB_CONN_MAX_AGE="600", DB_POOL_MAX_SIZE="0")
        cmd = [str(bin_dir / "uvicorn"), "slotwise.wsgi:application", "--interface", "wsgi"]
        cmd += ["--workers", str(workers), "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--no-access-log", "--log-level", "warning"]
    elif kind == "gunicorn-uvicorn":
        cmd = [str(bin_dir / "gunicorn"), "slotwise.asgi:application", "-w", str(workers)]
        cmd += ["-k", "uvicorn.workers.UvicornWorker", "-b", f"127.0.0.1:{port}"]
        cmd += ["--log-level", "warning"]
    else:
        cmd = [str(bin_dir / "uvicorn"), "slotwise.asgi:application", "--workers", str(workers)]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        cmd += ["--log-level", "warning"]
        if os.environ.get("BENCH_ACCEPT", "balanced") == "balanced":
            # As docs/operator-guide.md runs it: connections spread evenly over the workers.
            cmd += ["--loop", "slotwise.core.serving:new_event_loop"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}")
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start within 60 s") from None
                time.sleep(0.2)
        yield base, proc.pid
    finally:
        stop(proc)


@contextlib.contextmanager
def worker(*args: str):
    """`manage.py worker` as a subprocess with the server's environment (`server`), with `args`
    (e.g. "--no-messaging"); yields its pid. Its output goes to stderr."""
    env = process_env()
    cmd = [sys.executable, "manage.py", "worker", "--no-periodic", "--no-reload"]
    cmd += ["--queue-name", "*", "--worker-id", f"bench-{os.getpid()}", *args]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, start_new_session=True, stdout=sys.stderr, stderr=sys.stderr
    )
    try:
        time.sleep(1)
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with {proc.returncode}")
        yield proc.pid
    finally:
        stop(proc)


def next_workdays(zone, count: int, start_in_days: int = 2) -> list[dt.date]:
    day = dt.datetime.now(zone).date() + dt.timedelta(days=start_in_days)
    out = []
    while len(out) < count:
        if day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def build_dataset(*, label: str, n_staff: int, n_contacts: int, phone: bool = True) -> dict:
    """An organisation of its own: one unit, `n_staff` staff working Mon–Fri 08:00–18:00, one
    60-minute type at a branch (45 min + 15 min buffer after), contacts with phone numbers (so
    every booking queues its SMS, as in production), a call-centre user with an API token."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from slotwise.customers.models import Contact
    from slotwise.org import services as org_services
    from slotwise.org.models import Organisation, Staff, StaffRole
    from slotwise.org.roles import Role
    from slotwise.scheduling.models import AppointmentType, SchedulingPolicy, WorkingHours

    User = get_user_model()
    tag = f"{label}-{uuid.uuid4().hex[:8]}"
    org = Organisation.objects.create(
        name=f"Bench {tag}",
        slug=f"bench-{tag}",
        country="NL",
        time_zone="Europe/Amsterdam",
        currency="EUR",
        default_language="en",
    )
    SchedulingPolicy.objects.create(organisation=org, observe_public_holidays=False)
    unit = org_services.org_unit_create(organisation=org, name="Bench branch", kind="branch")
    users = User.objects.bulk_create(
        User(username=f"{tag}-s{i}", first_name=f"Staff{i}", last_name="Bench")
        for i in range(n_staff)
    )
    staff = Staff.objects.bulk_create(
        Staff(organisation=org, user=u, unit=unit, active_from=dt.date(2020, 1, 1)) for u in users
    )
    WorkingHours.objects.bulk_create(
        WorkingHours(staff=s, weekday=d, start=dt.time(8), end=dt.time(18))
        for s in staff
        for d in range(5)
    )
    booker_user = User.objects.create(username=f"{tag}-booker", first_name="Booker")
    booker = Staff.objects.create(
        organisation=org, user=booker_user, unit=unit, active_from=dt.date(2020, 1, 1)
    )
    StaffRole.objects.create(staff=booker, role=Role.CALL_CENTRE)
    token = Token.objects.create(user=booker_user)
    btype = AppointmentType.objects.create(
        organisation=org,
        name="Bench consult",
        slug="consult",
        duration_minutes=45,
        buffer_after=15,
        currency="EUR",
        horizon_days=60,
    )
    contacts = Contact.objects.bulk_create(
        Contact(
            organisation=org,
            first_name=f"Customer{i}",
            last_name="Bench",
            phone=f"+3161{i:07d}" if phone else "",
        )
        for i in range(n_contacts)
    )
    return {
        "org": org,
        "staff": staff,
        "type": btype,
        "contacts": contacts,
        "token": token.key,
        "users": [*users, booker_user],
    }


def cleanup(data: dict | None) -> None:
    """Delete everything the benchmark made: the organisation (and by cascade its units, staff,
    types, contacts, bookings, messages), its history rows, its users and their tasks."""
    if not data:
        return
    from django.contrib.auth import get_user_model
    from django.db import connection

    from slotwise.bookings.models import Booking
    from slotwise.org.models import Organisation

    org = data["org"]
    message_ids: list[int] = []
    with contextlib.suppress(Exception):
        from slotwise.messaging.models import Message

        fields = {f.name for f in Message._meta.get_fields()}
        if "organisation" in fields:
            message_ids = list(
                Message.objects.filter(organisation=org).values_list("pk", flat=True)
            )
    from slotwise.customers.models import Contact
    from slotwise.org.models import OrgUnit, Staff
    from slotwise.scheduling.models import AppointmentType

    # PROTECT foreign keys: bookings first, then what they point to, units leaves first.
    staff_ids = list(Staff.objects.filter(organisation=org).values_list("pk", flat=True))
    user_ids = [u.pk for u in data["users"]]
    Booking.objects.filter(organisation=org).delete()
    Contact.objects.filter(organisation=org).delete()
    Staff.objects.filter(organisation=org).delete()
    AppointmentType.objects.filter(organisation=org).delete()
    for unit in sorted(
        OrgUnit.objects.filter(organisation=org), key=lambda u: len(u.path), reverse=True
    ):
        unit.delete()
    Organisation.objects.filter(pk=org.pk).delete()
    get_user_model().objects.filter(pk__in=user_ids).delete()
    with connection.cursor() as cur:
        # simple-history rows have no foreign keys (and deleting writes more of them): delete
        # them by organisation, staff member or user.
        for table in connection.introspection.table_names():
            if "_historical" not in table:
                continue
            cols = {c.name for c in connection.introspection.get_table_description(cur, table)}
            if table.endswith("_historicalorganisation"):
                cur.execute(f'DELETE FROM "{table}" WHERE id = %s', [org.pk])
            elif "organisation_id" in cols:
                cur.execute(f'DELETE FROM "{table}" WHERE organisation_id = %s', [org.pk])
            elif "staff_id" in cols and staff_ids:
                cur.execute(f'DELETE FROM "{table}" WHERE staff_id = ANY(%s)', [staff_ids])
            elif table.endswith("_historicaluser"):
                cur.execute(f'DELETE FROM "{table}" WHERE id = ANY(%s)', [user_ids])
        if message_ids:
            with contextlib.suppress(Exception):
                from django_tasks_db.models import DBTaskResult

                ids = {json.dumps([m]) for m in message_ids}
                stale = [
                    r.pk
                    for r in DBTaskResult.objects.filter(
                        task_path__endswith="deliver_message"
                    ).only("pk", "args_kwargs")
                    if json.dumps(r.args_kwargs.get("args", [])) in ids
                ]
                DBTaskResult.objects.filter(pk__in=stale).delete()


def wait_follow_ups(org, *, timeout: float = 120) -> float | None:
    """Seconds until no booking of the organisation has follow-ups due (None: some still are
    at `timeout`)."""
    from slotwise.bookings.models import Booking

    due = Booking.objects.filter(organisation=org, effects_due=True)
    t0 = time.perf_counter()
    while due.exists():
        if time.perf_counter() - t0 > timeout:
            return None
        time.sleep(0.05)
    return time.perf_counter() - t0


def follow_ups_missing(org) -> int:
    """Bookings of the organisation without their "booking.created" timeline entry."""
    from django.db import connection

    from slotwise.bookings.models import Booking
    from slotwise.customers.models import TimelineEntry

    with connection.cursor() as cur:
        cur.execute(
            f"""
            SELECT count(*) FROM {Booking._meta.db_table} b
             WHERE b.organisation_id = %s AND NOT EXISTS (
                   SELECT 1 FROM {TimelineEntry._meta.db_table} t
                    WHERE t.contact_id = b.contact_id AND t.kind = 'booking.created'
                      AND t.data ->> 'booking' = b.public_id::text)
            """,
            [org.pk],
        )
        return cur.fetchone()[0]


def double_bookings(org_id: int) -> int:
    """Pairs of active exclusive bookings of one staff member whose blocked ranges overlap."""
    from django.db import connection

    from slotwise.bookings.models import Booking

    table = Booking._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"""
            SELECT count(*) FROM {table} a JOIN {table} b
              ON a.staff_id = b.staff_id AND a.id < b.id
             AND tstzrange(a.blocked_start, a.blocked_end, '[)')
                 && tstzrange(b.blocked_start, b.blocked_end, '[)')
             WHERE a.organisation_id = %s AND b.organisation_id = %s
               AND a.status IN ('held', 'confirmed') AND b.status IN ('held', 'confirmed')
               AND (a.exclusive OR b.exclusive OR a.type_id <> b.type_id OR a.start <> b.start)
            """,
            [org_id, org_id],
        )
        return cur.fetchone()[0]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def run_clients(
    base: str,
    token: str,
    jobs: list,
    clients: int,
    *,
    path: str = "/api/bookings/",
    rate: float = 0,
) -> dict:
    """`clients` threads, each with its own keep-alive connection, POST the jobs; returns the
    status counts, per-request latencies and the wall time. The load generator uses the
    standard library's http.client: it shares the machine with the server, so it is kept lean.

    Closed loop (`rate` 0): each client sends its next request as soon as the last one was
    answered — the server's saturation throughput, and latency that is mostly queueing (Little's
    law: mean latency = clients / throughput). Open loop (`rate` > 0): request i is due at
    i / rate seconds, as customers arrive; its latency counts from when it was due, so time
    spent waiting for a free client counts too."""
    import http.client
    from urllib.parse import urlsplit

    host = urlsplit(base)
    work: queue.Queue = queue.Queue()
    for i, job in enumerate(jobs):
        work.put((i / rate if rate else None, job))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def client() -> None:
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        start_gate.wait()
        while True:
            try:
                due, job = work.get_nowait()
            except queue.Empty:
                conn.close()
                return
            body = None if job is None else json.dumps(job)
            if due is not None:
                delay = started + due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            t0 = time.perf_counter() if due is None else started + due
            text = ""
            try:
                method = "GET" if body is None else "POST"
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                code = response.status
                if code >= 500:
                    text = payload[:300].decode(errors="replace")
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                code, text = 599, repr(exc)
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[code] = statuses.get(code, 0) + 1
                if text and len(errors) < 5:
                    errors.append(text)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    # Paced: request 0 is due just after every client is at the gate.
    started = time.perf_counter() + (0.05 if rate else 0)
    start_gate.wait()
    t0 = started
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"latencies": latencies, "statuses": statuses, "wall": wall, "errors": errors}


def jobs_for(data: dict, count: int, collisions: int, start_in_days: int = 2) -> list[dict]:
    """`count` distinct free slots round-robin over the staff (hourly, 08:00–17:00 local), then
    `collisions` repeats of slots already in the list, shuffled in."""
    import random
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(data["org"].time_zone)
    staff = data["staff"]
    per_day = len(staff) * 10
    days = next_workdays(zone, math.ceil(count / per_day), start_in_days)
    jobs = []
    contacts = data["contacts"]
    for i in range(count):
        day = days[i // per_day]
        within = i % per_day
        member = staff[within % len(staff)]
        hour = 8 + within // len(staff)
        start = dt.datetime.combine(day, dt.time(hour), tzinfo=zone)
        jobs.append(
            {
                "type": "consult",
                "staff": member.pk,
                "start": start.isoformat(),
                "contact": str(contacts[i % len(contacts)].public_id),
            }
        )
    rng = random.Random(3)
    repeats = [dict(rng.choice(jobs)) for _ in range(collisions)]
    rng.shuffle(jobs)
    for repeat in repeats:
        jobs.insert(rng.randrange(len(jobs) // 2, len(jobs)), repeat)
    return jobs


def measure(
    *, clients: int = CLIENTS, bookings: int = BOOKINGS, kind: str = "uvicorn", workers: int = 2
) -> dict:
    data = None
    try:
        data = build_dataset(label="http", n_staff=STAFF, n_contacts=500)
        jobs = jobs_for(data, bookings, COLLISIONS)
        # The worker writes the bookings' follow-ups (timeline entry, the customer's message):
        # its bookings pump runs beside the server as in production (messages stay queued, as
        # no provider is reachable; the messaging and payments pumps are off).
        pumps_off = ("--no-messaging", "--no-payments")
        with server(kind=kind, workers=workers) as (base, pid), worker(*pumps_off) as wpid:
            # Warm up both workers (imports, connections, caches) outside the measurement:
            # real bookings in a later week, not counted.
            warm_jobs = jobs_for(data, 40, 0, start_in_days=21)
            warm = run_clients(base, data["token"], warm_jobs, 8)
            log(f"warm-up: {warm['statuses']}")
            from django.db import connection

            dbname = connection.settings_dict["NAME"]
            wait_follow_ups(data["org"])
            cpu0, own0 = tree_cpu_seconds(pid), time.process_time()
            pg0, wcpu0 = postgres_cpu_seconds(dbname), tree_cpu_seconds(wpid)
            with spread_during(base) as spread:
                result = run_clients(base, data["token"], jobs, clients)
            server_cpu = tree_cpu_seconds(pid) - cpu0
            client_cpu = time.process_time() - own0
            pg_cpu = postgres_cpu_seconds(dbname) - pg0
            worker_cpu = tree_cpu_seconds(wpid) - wcpu0
            from slotwise.bookings.models import Booking

            made = Booking.objects.filter(organisation=data["org"])
            created = made.count() - warm["statuses"].get(201, 0)
            # The same bookings offered at a fixed rate (open loop, a later week's slots):
            # the latency a booking has when customers arrive at PACED_PER_S.
            paced_jobs = jobs_for(data, bookings, 0, start_in_days=9)
            before = made.count()
            paced = run_clients(base, data["token"], paced_jobs, clients, rate=PACED_PER_S)
            paced_created = made.count() - before
            follow_ups_s = wait_follow_ups(data["org"])
            # The stack's floor on this machine: the same clients on GET /api/me/ (token
            # authentication and three small queries), to compare the booking with.
            floor = run_clients(base, data["token"], [None] * 2000, clients, path="/api/me/")
        statuses = result["statuses"]
        for run in (result, paced):
            if run["errors"]:
                log("errors:", *run["errors"][:5], sep="\n  ")
        line = {
            "bench": "booking_http",
            "server": f"{kind} x{workers}",
            "clients": clients,
            "bookings": created,
            "requests": len(jobs),
            "conflicts_409": statuses.get(409, 0),
            "per_s": round(created / result["wall"], 1),
            "requests_per_s": round(len(jobs) / result["wall"], 1),
            "p50_ms": round(statistics.median(result["latencies"]), 1),
            "p95_ms": round(percentile(result["latencies"], 0.95), 1),
            "double_bookings": double_bookings(data["org"].pk),
            # The clients' connections per server process, a second into the closed phase.
            "connections_per_process": spread,
            "errors_5xx": sum(n for code, n in statuses.items() if code >= 500),
            "other_4xx": sum(
                n for code, n in statuses.items() if 400 <= code < 500 and code != 409
            ),
            # Where the time goes on this machine (PostgreSQL and other processes have the rest).
            "server_cpu_ms_per_request": round(server_cpu * 1000 / len(jobs), 2),
            "client_cpu_ms_per_request": round(client_cpu * 1000 / len(jobs), 2),
            "postgres_cpu_ms_per_request": round(pg_cpu * 1000 / len(jobs), 2),
            # The worker's bookings pump during the closed phase, and the time from the last
            # booking answered until every follow-up was written; bookings without their
            # timeline entry afterwards (must be 0).
            "worker_cpu_ms_per_request": round(worker_cpu * 1000 / len(jobs), 2),
            "follow_ups_within_s": round(follow_ups_s, 2) if follow_ups_s is not None else None,
            "follow_ups_missing": follow_ups_missing(data["org"]),
            "paced_offered_per_s": PACED_PER_S,
            "paced_bookings": paced_created,
            "paced_per_s": round(paced_created / paced["wall"], 1),
            "paced_p50_ms": round(statistics.median(paced["latencies"]), 1),
            "paced_p95_ms": round(percentile(paced["latencies"], 0.95), 1),
            "paced_errors_5xx": sum(n for code, n in paced["statuses"].items() if code >= 500),
            "floor_api_me_per_s": round(len(floor["latencies"]) / floor["wall"], 1),
            "machine_cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
        return line
    finally:
        cleanup(data)


def main() -> None:
    setup_django()
    kinds = os.environ.get("BENCH_SERVER", "uvicorn").split(",")
    for kind in kinds:
        print(json.dumps(measure(kind=kind.strip())), flush=True)


if __name__ == "__main__":
    main()
