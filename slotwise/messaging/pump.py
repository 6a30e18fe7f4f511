"""The messaging pump: a loop in each worker process (`manage.py worker` runs it in a thread)
that processes stored inbound events and sends due outbox messages.

It is a loop rather than one job per message because a job per message costs a task row, a claim
and a result write each (bench outbox: the loop sends several times more messages per second).
Several workers run it side by side: both halves claim with SKIP LOCKED. When there was nothing
to do it sleeps `MESSAGING_PUMP_IDLE_SECONDS` (0.2 s: the worst-case extra latency of a message).
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from .inbound import inbound_process_pending
from .outbox import dispatch_due

logger = logging.getLogger("slotwise.messaging.pump")


def pump_once(*, batch: int = 100) -> int:
    """One pass: inbound first (a reply may depend on it), then the outbox."""
    return inbound_process_pending(limit=batch) + dispatch_due(limit=batch)


#: The pump keeps its database connection from pass to pass and tidies it (Django's
#: close_old_connections: closed if broken or older than CONN_MAX_AGE) this often. Closing it
#: after every pass, as a request does, would start a PostgreSQL backend five times a second
#: in an idle worker and once per batch in a busy one.
TIDY_SECONDS = 30


def run(stop: threading.Event, *, batch: int = 100) -> None:
    idle = getattr(settings, "MESSAGING_PUMP_IDLE_SECONDS", 0.2)
    tidied = time.monotonic()
    while not stop.is_set():
        done = 0
        try:
            done = pump_once(batch=batch)
        except Exception:  # the database may be restarting: wait and go on
            logger.exception("messaging pump pass failed")
            connection.close()
        if time.monotonic() - tidied > TIDY_SECONDS:
            close_old_connections()
            tidied = time.monotonic()
        if not done:
            stop.wait(idle)
    connection.close()
