"""`manage.py worker` — the database-backed task worker (django-tasks-db) plus a heartbeat and
periodic tasks.

It runs the same loop as `db_worker` and, beside it, these threads:

- the bookings pump (`slotwise.bookings.pump`): the follow-ups (timeline entry, the customer's
  message) of bookings made through the API, which answers before writing them;
- the messaging pump (`slotwise.messaging.pump`): inbound events and the outbox;
- the payments pump (`slotwise.payments.pump`): applies the payment callbacks the callback URL
  stored as pending (the pumps are a list, `PUMPS`: each runs in a thread of its own, so the
  messaging pump knows nothing of payments);

- a heartbeat every few seconds, so /healthz can tell whether any worker is alive;
- a small scheduler for *periodic tasks* (django.tasks has none). `PERIODIC_TASKS` maps a name to
  (dotted path of a task, interval in seconds). Time is cut into slots of the interval
  (slot n = [n·interval, (n+1)·interval) since the epoch); in each slot the first worker that gets
  there enqueues the task once, however many workers run on however many machines. The check and
  the enqueue happen in one transaction that holds a lock: a PostgreSQL transaction-level
  advisory lock per task name (an exclusive transaction on SQLite), under which the worker looks
  for a task result of that task enqueued since the slot began and enqueues only if there is
  none. The enqueued task is then run by whichever worker claims it, like any other task.

A worker checks at start (so `worker --batch` run from cron also runs what is due; a batch run
checks only then) and then every `PERIODIC_TICK_SECONDS`; `--no-periodic` turns the scheduler off for a worker. A periodic task must
be idempotent: a slot can be missed while no worker runs, and two slots' runs may overlap.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import threading
from importlib import import_module

from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.management.commands.db_worker import Command as DBWorkerCommand

from slotwise.core.health import record_heartbeat

HEARTBEAT_SECONDS = 10
PERIODIC_TICK_SECONDS = 5

#: name → dotted path of a pump module with `run(stop)` (the loop, in a thread of its own) and
#: `pump_once()` (one pass; how much it did — `--batch` repeats it until nothing is left).
#: `--no-<name>` leaves one out. The bookings pump comes first: a batch run then also delivers
#: the messages it queues.
PUMPS: dict[str, str] = {
    "bookings": "slotwise.bookings.pump",
    "messaging": "slotwise.messaging.pump",
    "payments": "slotwise.payments.pump",
}

#: name → (dotted path of a django.tasks Task, interval in seconds).
PERIODIC_TASKS: dict[str, tuple[str, int]] = {
    "payments.reconcile": ("slotwise.payments.jobs.reconcile_open_payments", 60),
}

logger = logging.getLogger("slotwise.worker")


def register_periodic(name: str, task_path: str, every_seconds: int) -> None:
    """Run the task at `task_path` every `every_seconds` (once per interval over all workers)."""
    if every_seconds <= 0:
        raise ValueError("the interval must be positive")
    PERIODIC_TASKS[name] = (task_path, every_seconds)


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_xact_lock."""
    digest = hashlib.blake2b(f"slotwise.periodic:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def slot_start(now: datetime.datetime, every_seconds: int) -> datetime.datetime:
    epoch = int(now.timestamp())
    return datetime.datetime.fromtimestamp(epoch - epoch % every_seconds, tz=datetime.UTC)


def enqueue_if_due(name: str, *, now: datetime.datetime | None = None) -> bool:
    """Enqueue the periodic task `name` unless some worker already did in the current slot.
    Returns True if this call enqueued it."""
    from django_tasks_db.models import DBTaskResult
    from django_tasks_db.utils import exclusive_transaction

    task_path, every = PERIODIC_TASKS[name]
    task = import_string(task_path)
    since = slot_start(now or timezone.now(), every)
    with exclusive_transaction():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(name)])
        done = DBTaskResult.objects.filter(
            task_path=task.module_path, enqueued_at__gte=since
        ).exists()
        if done:
            return False
        task.enqueue()
        return True


class PeriodicScheduler:
    """Checks every registered periodic task once per slot in this process (a cheap local skip),
    and lets `enqueue_if_due` decide across workers."""

    def __init__(self) -> None:
        self.seen: dict[str, datetime.datetime] = {}

    def tick(self, now: datetime.datetime | None = None) -> list[str]:
        now = now or timezone.now()
        enqueued = []
        for name, (_path, every) in list(PERIODIC_TASKS.items()):
            since = slot_start(now, every)
            if self.seen.get(name) == since:
                continue
            try:
                if enqueue_if_due(name, now=now):
                    enqueued.append(name)
                self.seen[name] = since
            except Exception:  # the database may be busy or restarting: try at the next tick
                logger.exception("periodic task %s: could not check or enqueue", name)
        return enqueued


class Command(DBWorkerCommand):
    help = (
        "Run the background task worker (database-backed) with a health heartbeat and the "
        "periodic tasks."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--no-periodic",
            action="store_false",
            dest="periodic",
            help="Don't enqueue periodic tasks from this worker.",
        )
        parser.add_argument(
            "--no-messaging",
            action="store_false",
            dest="messaging",
            help="Don't run the messaging pump (inbound events and the outbox) in this worker.",
        )
        parser.add_argument(
            "--no-bookings",
            action="store_false",
            dest="bookings",
            help="Don't run the bookings pump (follow-ups of API bookings) in this worker.",
        )
        parser.add_argument(
            "--no-payments",
            action="store_false",
            dest="payments",
            help="Don't run the payments pump (stored payment callbacks) in this worker.",
        )

    def handle(self, *args, **options):
        worker_id = options["worker_id"]
        periodic = options.pop("periodic", True)
        pumps = [name for name in PUMPS if options.pop(name, True)]
        started_at = timezone.now()
        stop = threading.Event()

        def beat() -> None:
            # The first beat is written below, before any task runs; the thread waits first so
            # it does not write at the same moment as the worker's first poll.
            while not stop.wait(HEARTBEAT_SECONDS):
                try:
                    record_heartbeat(worker_id, started_at)
                except Exception:  # the database may be restarting; try again next beat
                    pass
                finally:
                    close_old_connections()
                    connection.close()

        scheduler = PeriodicScheduler()

        def schedule() -> None:
            while not stop.wait(PERIODIC_TICK_SECONDS):
                try:
                    scheduler.tick()
                finally:
                    close_old_connections()
                    connection.close()

        try:  # one beat before any task runs, so even a short --batch run is seen
            record_heartbeat(worker_id, started_at)
        except Exception:
            pass
        threads = [threading.Thread(target=beat, name="heartbeat", daemon=True)]
        if periodic:
            # Due tasks are enqueued before the loop starts, so a --batch run also runs them
            # (a batch run checks only then; a long-running worker keeps checking).
            scheduler.tick()
            if not options.get("batch"):
                threads.append(threading.Thread(target=schedule, name="periodic", daemon=True))
        for name in pumps:
            pump = import_module(PUMPS[name])
            if options.get("batch"):
                while pump.pump_once():  # a batch run empties the pump's queues
                    pass
            else:
                threads.append(
                    threading.Thread(target=pump.run, args=(stop,), name=name, daemon=True)
                )
        for thread in threads:
            thread.start()
        try:
            return super().handle(*args, **options)
        finally:
            stop.set()
