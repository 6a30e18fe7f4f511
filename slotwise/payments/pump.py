"""The payments pump: applies the callback events the callback URL stored as pending
(`services.payment_events_apply_pending`). `manage.py worker` runs it in a thread of its own
(beside the messaging pump), the web process runs it for the demo (`MESSAGING_PUMP_IN_WEB`,
slotwise/asgi.py), and `worker --batch` drains it.

When there was nothing to do it sleeps `PAYMENTS_PUMP_IDLE_SECONDS` (default 0.2 s: the
worst-case extra delay before an idle worker applies a callback). Several workers run it side by
side: they claim events with SKIP LOCKED.

`PAYMENTS_PUMP_NICE` (default 0: as the rest of the worker) lowers the pump thread's CPU priority
on Linux (`setpriority` on the thread): where the worker shares cores with the web server, the
web server then answers callbacks first and the pump catches up when the CPU is free — the events
wait safely in the database meanwhile. See docs/operator-guide.md and docs/scaling.md.
"""

from __future__ import annotations

import logging
import os
import threading

from slotwise.core.pumps import run_pump

from .conf import setting
from .services import payment_events_apply_pending

logger = logging.getLogger("slotwise.payments.pump")


def pump_once(*, batch: int = 100) -> int:
    """One pass: up to `batch` pending events applied; how many were done."""
    return payment_events_apply_pending(limit=batch)


def drain(*, batch: int = 100) -> int:
    """Apply every pending event (`worker --batch`); how many were done."""
    total = 0
    while done := pump_once(batch=batch):
        total += done
    return total


def lower_priority(nice: int) -> None:
    """Lower this thread's CPU priority by `nice` (Linux: a thread has its own nice value)."""
    if nice <= 0 or not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError:
        logger.warning("could not lower the payments pump's priority", exc_info=True)


def run(stop: threading.Event, *, batch: int = 100) -> None:
    lower_priority(setting("PAYMENTS_PUMP_NICE", 0))
    run_pump(
        stop,
        lambda: pump_once(batch=batch),
        idle=setting("PAYMENTS_PUMP_IDLE_SECONDS", 0.2),
        name="payments",
    )
