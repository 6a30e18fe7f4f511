"""`manage.py worker` — the database-backed task worker (django-tasks-db) plus a heartbeat.

It runs the same loop as `db_worker` and, beside it, a thread that records a heartbeat every few
seconds so /healthz can tell whether any worker is alive.
"""

import threading

from django.db import close_old_connections, connection
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Command as DBWorkerCommand

from slotwise.core.health import record_heartbeat

HEARTBEAT_SECONDS = 10


class Command(DBWorkerCommand):
    help = "Run the background task worker (database-backed) with a health heartbeat."

    def handle(self, *args, **options):
        worker_id = options["worker_id"]
        started_at = timezone.now()
        stop = threading.Event()

        def beat() -> None:
            while not stop.is_set():
                try:
                    record_heartbeat(worker_id, started_at)
                except Exception:  # the database may be restarting; try again next beat
                    pass
                finally:
                    close_old_connections()
                    connection.close()
                stop.wait(HEARTBEAT_SECONDS)

        try:  # one beat before any task runs, so even a short --batch run is seen
            record_heartbeat(worker_id, started_at)
        except Exception:
            pass
        thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
        thread.start()
        try:
            return super().handle(*args, **options)
        finally:
            stop.set()
