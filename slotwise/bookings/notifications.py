"""Messages to the customer when a booking changes (outbox: written in the caller's transaction).

Placeholder until the customer-facing part lands: `booking_changed` is the one entry point the
booking services call.
"""

from __future__ import annotations


def booking_changed(*, booking, event: str) -> None:
    """Queue the customer's message for `event` ("created", "confirmed", "cancelled",
    "rescheduled")."""
    return None
