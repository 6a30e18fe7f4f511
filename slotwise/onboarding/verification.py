"""Verification codes (S1.4) and the signed link tokens of the "SMS link to another messenger".

A code is 6 digits, sent by SMS to the application's phone. Only an HMAC of it (keyed with the
site's secret and the row's own salt) is stored in `messaging.VerificationCode`: a copy of the
database alone doesn't give the codes away. A code lives `CODE_TTL` and takes `MAX_ATTEMPTS`
guesses; a contact gets at most `MAX_CODES_PER_HOUR` codes (an SMS costs money and a flood of
codes is an attack). Typing the right code proves the phone and, in the onboarding flow, accepts
the offer (the consent is recorded by the engine).

The link token names an application in a Telegram ``/start`` parameter or a Viber ``context``:
``<application id in base 36>_<16 characters of HMAC>`` — at most 64 characters of
``[A-Za-z0-9_-]`` as Telegram requires, unguessable, and checked without a database lookup.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from slotwise.core.errors import ValidationError
from slotwise.messaging.models import VerificationCode

CODE_TTL = timedelta(minutes=30)
MAX_ATTEMPTS = 5
MAX_CODES_PER_HOUR = 5
CODE_LENGTH = 6
_CODE_SALT = "slotwise.onboarding.code"
_TOKEN_SALT = "slotwise.onboarding.link"
_CODE_RE = re.compile(r"\b(\d{6})\b")


class TooManyCodes(ValidationError):
    pass


def _digest(salt: str, code: str) -> str:
    return salted_hmac(_CODE_SALT, f"{salt}:{code}", algorithm="sha256").hexdigest()


def code_issue(
    *, contact, purpose: str = "link", offer_version: str = ""
) -> tuple[VerificationCode, str]:
    """A new code for `contact`: (the stored row, the plain code to send). Older unused codes of
    the same purpose stop working. Raises TooManyCodes past the hourly limit."""
    now = timezone.now()
    recent = VerificationCode.objects.filter(
        contact=contact, created_at__gte=now - timedelta(hours=1)
    ).count()
    if recent >= MAX_CODES_PER_HOUR:
        raise TooManyCodes(
            {"code": [_("Too many codes were sent to this person; try again in an hour.")]}
        )
    VerificationCode.objects.filter(contact=contact, purpose=purpose, used_at__isnull=True).update(
        expires_at=now
    )
    code = f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"
    salt = secrets.token_hex(8)
    row = VerificationCode.objects.create(
        organisation_id=contact.organisation_id,
        contact=contact,
        code_hash=f"hmac-sha256${salt}${_digest(salt, code)}",
        purpose=purpose,
        offer_version=offer_version,
        expires_at=now + CODE_TTL,
    )
    return row, code


def code_outstanding(*, contact, purpose: str = "link") -> VerificationCode | None:
    """The contact's current code, if it can still be used."""
    return (
        VerificationCode.objects.filter(
            contact=contact,
            purpose=purpose,
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
            attempts__lt=MAX_ATTEMPTS,
        )
        .order_by("-created_at")
        .first()
    )


@dataclass(frozen=True)
class CodeResult:
    ok: bool
    reason: str = ""  # "wrong", "expired", "attempts", "none"
    attempts_left: int = 0
    code: VerificationCode | None = None


def extract_code(text: str) -> str:
    """The 6 digits in what the person typed ("123 456", "code: 123456")."""
    compact = re.sub(r"[\s-]", "", text or "")
    if compact.isdigit() and len(compact) == CODE_LENGTH:
        return compact
    match = _CODE_RE.search(text or "")
    return match.group(1) if match else ""


@transaction.atomic
def code_check(*, contact, text: str, purpose: str = "link") -> CodeResult:
    """Check what the person typed against the contact's newest code; counts the attempt."""
    row = (
        VerificationCode.objects.select_for_update()
        .filter(contact=contact, purpose=purpose, used_at__isnull=True)
        .order_by("-created_at")
        .first()
    )
    if row is None:
        return CodeResult(False, "none")
    now = timezone.now()
    if row.expires_at <= now:
        return CodeResult(False, "expired", code=row)
    if row.attempts >= MAX_ATTEMPTS:
        return CodeResult(False, "attempts", code=row)
    row.attempts += 1
    _scheme, salt, digest = (row.code_hash.split("$") + ["", ""])[:3]
    code = extract_code(text)
    if code and hmac.compare_digest(digest, _digest(salt, code)):
        row.used_at = now
        row.save(update_fields=["attempts", "used_at", "updated_at"])
        return CodeResult(True, code=row)
    row.save(update_fields=["attempts", "updated_at"])
    left = MAX_ATTEMPTS - row.attempts
    return CodeResult(False, "wrong" if left else "attempts", attempts_left=left, code=row)


# --- link tokens ------------------------------------------------------------------------------


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def _token_sig(value: str) -> str:
    mac = salted_hmac(_TOKEN_SALT, value, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(mac).decode()[:16]


def link_token(application) -> str:
    value = _b36(application.pk)
    return f"{value}_{_token_sig(value)}"


def application_id_from_token(token: str) -> int | None:
    """The application id a token names, or None if it is not one of ours."""
    value, sep, sig = (token or "").strip().partition("_")
    if not sep or not value or len(token) > 64:
        return None
    if not hmac.compare_digest(sig, _token_sig(value)):
        return None
    try:
        return int(value, 36)
    except ValueError:
        return None
