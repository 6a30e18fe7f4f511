"""The bookings pump: the follow-ups (timeline entry, the customer's message) of bookings made
with `defer_effects` — the API's (`services.booking_effects_apply_pending`). `manage.py worker`
runs it in a thread of its own beside the other pumps (`--no-bookings` leaves it out, `--batch`
drains it); the demo's web process runs it too (`MESSAGING_PUMP_IN_WEB`, slotwise/asgi.py).

When there was nothing to do it sleeps `BOOKINGS_PUMP_IDLE_SECONDS` (default 0.2 s: the worst-case
extra delay before an idle worker writes a booking's follow-ups). Several workers share the queue
(SKIP LOCKED).
"""

from __future__ import annotations

import threading

from django.conf import settings

from slotwise.core.pumps import run_pump

from .services import booking_effects_apply_pending


def pump_once(*, batch: int = 100) -> int:
    """One pass: the follow-ups of up to `batch` bookings; how many bookings were done."""
    return booking_effects_apply_pending(limit=batch)


def run(stop: threading.Event, *, batch: int = 100) -> None:
    run_pump(
        stop,
        lambda: pump_once(batch=batch),
        idle=getattr(settings, "BOOKINGS_PUMP_IDLE_SECONDS", 0.2),
        name="bookings",
    )
