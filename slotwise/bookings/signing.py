"""Signed links a customer uses to manage a booking without logging in (S4.13).

A token carries the booking's `public_id` (never the pk), an action and an expiry, signed with
`TimestampSigner` under its own salt (so no other signed value of the project can be replayed as
one). It is valid until the appointment ends (the end when the link was made; a rescheduled
booking gets a fresh link in its message).

Actions: ``manage`` (reschedule and cancel), ``reschedule`` (only that), ``cancel`` (only that).
A tampered token, one for another action, or an expired one → `InvalidToken` / `ExpiredToken`;
the views answer with a friendly 404 / 410 page and change nothing.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

SALT = "slotwise.bookings.manage-link"
ACTIONS = ("manage", "reschedule", "cancel")
# What each token lets its holder do.
ALLOWS = {
    "manage": frozenset({"view", "reschedule", "cancel"}),
    "reschedule": frozenset({"view", "reschedule"}),
    "cancel": frozenset({"view", "cancel"}),
}


class InvalidToken(Exception):
    """Tampered, malformed, or not for this action."""


class ExpiredToken(InvalidToken):
    """Well signed, but the appointment it was made for is over."""


@dataclass(frozen=True)
class LinkClaims:
    public_id: uuid.UUID
    action: str
    expires_at: datetime.datetime

    def allows(self, what: str) -> bool:
        return what in ALLOWS.get(self.action, frozenset())


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def make_token(booking, action: str = "manage") -> str:
    if action not in ACTIONS:
        raise ValueError(f"Unknown action {action!r}")
    payload = {"b": str(booking.public_id), "a": action, "e": int(booking.end.timestamp())}
    return _signer().sign_object(payload, compress=True)


def read_token(token: str, *, action: str | None = None, now=None) -> LinkClaims:
    """The claims of a valid token; `action` (e.g. "cancel") must be allowed by it."""
    try:
        payload = _signer().unsign_object(token)
        claims = LinkClaims(
            public_id=uuid.UUID(payload["b"]),
            action=payload["a"],
            expires_at=datetime.datetime.fromtimestamp(int(payload["e"]), tz=datetime.UTC),
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise InvalidToken(str(exc)) from exc
    if claims.action not in ACTIONS:
        raise InvalidToken("unknown action")
    if action is not None and not claims.allows(action):
        raise InvalidToken("action not allowed by this link")
    if (now or timezone.now()) >= claims.expires_at:
        raise ExpiredToken("the appointment is over")
    return claims


def manage_path(booking, action: str = "manage") -> str:
    return reverse("bookings:manage", kwargs={"token": make_token(booking, action)})


def manage_url(booking, action: str = "manage") -> str:
    """The absolute link for messages (SITE_URL + path)."""
    return settings.SITE_URL.rstrip("/") + manage_path(booking, action)
