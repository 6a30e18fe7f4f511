"""The messaging pump: a loop in each worker process (`manage.py worker` runs it in a thread)
that processes stored inbound events and sends due outbox messages.

It is a loop rather than one job per message because a job per message costs a task row, a claim
and a result write each (bench outbox: the loop sends several times more messages per second).
Several workers run it side by side: both halves claim with SKIP LOCKED. When there was nothing
to do it sleeps `MESSAGING_PUMP_IDLE_SECONDS` (0.2 s: the worst-case extra latency of a message).
"""

from __future__ import annotations

import threading

from django.conf import settings

from slotwise.core.pumps import run_pump

from .inbound import inbound_process_pending
from .outbox import dispatch_due


def pump_once(*, batch: int = 100) -> int:
    """One pass: inbound first (a reply may depend on it), then the outbox."""
    return inbound_process_pending(limit=batch) + dispatch_due(limit=batch)


def run(stop: threading.Event, *, batch: int = 100) -> None:
    idle = getattr(settings, "MESSAGING_PUMP_IDLE_SECONDS", 0.2)
    run_pump(stop, lambda: pump_once(batch=batch), idle=idle, name="messaging")
