"""Customer login by phone number + one-time SMS code (S0.6, S3.15, OWASP ASVS 2.7).

- codes are 6 random digits from `secrets`, stored only as an HMAC, valid for
  SMS_CODE_TTL_SECONDS, single use; a new code invalidates earlier unused ones;
- sending is rate-limited per number and per client IP (cache counters);
- SMS_CODE_MAX_FAILURES wrong codes lock the number for SMS_CODE_LOCK_SECONDS (a database row,
  so the lock survives restarts); while locked even the right code is refused;
- unknown numbers get the same answer as known ones, but no SMS (no account enumeration).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from slotwise.core.ratelimit import hit as rate_limit_hit
from slotwise.core.ratelimit import parse_rate  # noqa: F401 - part of this module's API (tests)
from slotwise.customers.phones import to_e164

from .models import PhoneCode, PhoneLoginState

CODE_LENGTH = 6


def _hit(key: str, rate: str) -> bool:
    return rate_limit_hit(f"sms-code:{key}", rate)


def _code_hash(phone: str, code: str) -> str:
    message = f"phone-login:{phone}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _normalise(phone_raw: str, default_region: str | None = None) -> str:
    try:
        return to_e164(phone_raw, default_region)
    except ValidationError as exc:
        raise ValidationError({"phone": exc.messages}) from None


def _locked_error(field: str) -> ValidationError:
    minutes = max(1, settings.SMS_CODE_LOCK_SECONDS // 60)
    return ValidationError(
        {
            field: [
                _("Too many wrong codes. Try again in %(minutes)d minutes.") % {"minutes": minutes}
            ]
        },
        code="locked",
    )


def _is_locked(phone: str) -> bool:
    return PhoneLoginState.objects.filter(phone=phone, locked_until__gt=timezone.now()).exists()


def user_for_phone(phone: str):
    """The one user this E.164 number belongs to, or None (unknown or ambiguous)."""
    from slotwise.customers.models import Contact

    User = get_user_model()
    user = User.objects.filter(phone=phone, is_active=True).first()
    if user is not None:
        return user
    user_ids = set(
        Contact.objects.filter(phone=phone, user__isnull=False, user__is_active=True).values_list(
            "user_id", flat=True
        )
    )
    if len(user_ids) != 1:
        return None
    return User.objects.get(pk=user_ids.pop())


def phone_code_request(*, phone_raw: str, ip: str | None, default_region: str | None = None) -> str:
    """Send a login code to the number if it belongs to a user; return the E.164 number.

    The answer is the same whether or not the number is known (only known numbers get an SMS).
    """
    phone = _normalise(phone_raw, default_region)
    number_ok = _hit(f"number:{phone}", settings.SMS_CODE_SEND_LIMIT_PER_NUMBER)
    ip_ok = _hit(f"ip:{ip or 'unknown'}", settings.SMS_CODE_SEND_LIMIT_PER_IP)
    if not (number_ok and ip_ok):
        raise ValidationError(
            {"phone": [_("Too many codes requested. Please wait a few minutes and try again.")]},
            code="rate_limited",
        )
    if _is_locked(phone):
        raise _locked_error("phone")
    user = user_for_phone(phone)
    if user is None:
        return phone
    code = "".join(secrets.choice("0123456789") for _i in range(CODE_LENGTH))
    now = timezone.now()
    with transaction.atomic():
        PhoneCode.objects.filter(phone=phone, used_at__isnull=True).update(used_at=now)
        PhoneCode.objects.create(
            phone=phone,
            code_hash=_code_hash(phone, code),
            expires_at=now + timedelta(seconds=settings.SMS_CODE_TTL_SECONDS),
        )
        from slotwise.messaging.services import sms_queue

        sms_queue(
            to=phone,
            body=_("Your Slotwise code is %(code)s. It expires in 10 minutes.") % {"code": code},
            purpose="login_code",
        )
    return phone


def phone_code_verify(*, phone_raw: str, code: str, ip: str | None = None):
    """Check a login code and return its user; every failure is a field-level ValidationError."""
    phone = _normalise(phone_raw)
    code = re.sub(r"\s+", "", code or "")
    if not re.fullmatch(rf"\d{{{CODE_LENGTH}}}", code):
        raise ValidationError(
            {"code": [_("Enter the 6-digit code from the text message.")]}, code="invalid"
        )
    now = timezone.now()
    error: ValidationError | None = None
    user = None
    with transaction.atomic():
        state, _created = PhoneLoginState.objects.select_for_update().get_or_create(phone=phone)
        if state.locked_until and state.locked_until > now:
            error = _locked_error("code")
        else:
            candidate = (
                PhoneCode.objects.select_for_update()
                .filter(phone=phone, used_at__isnull=True, expires_at__gt=now)
                .order_by("-created_at")
                .first()
            )
            expected = candidate.code_hash if candidate else _code_hash(phone, "x" * CODE_LENGTH)
            matches = hmac.compare_digest(expected, _code_hash(phone, code))
            if candidate is not None and matches:
                user = user_for_phone(phone)
            if user is not None:
                candidate.used_at = now
                candidate.save(update_fields=["used_at"])
                state.failures = 0
                state.locked_until = None
                state.save(update_fields=["failures", "locked_until"])
                if user.phone == phone and not user.phone_verified:
                    user.phone_verified = True
                    user.save(update_fields=["phone_verified"])
            else:
                if candidate is not None:
                    candidate.attempts += 1
                    candidate.save(update_fields=["attempts"])
                state.failures += 1
                if state.failures >= settings.SMS_CODE_MAX_FAILURES:
                    state.failures = 0
                    state.locked_until = now + timedelta(seconds=settings.SMS_CODE_LOCK_SECONDS)
                    state.save(update_fields=["failures", "locked_until"])
                    error = _locked_error("code")
                else:
                    state.save(update_fields=["failures"])
                    error = ValidationError(
                        {
                            "code": [
                                _(
                                    "The code is wrong or has expired. Check it or ask for a new one."
                                )
                            ]
                        },
                        code="invalid",
                    )
    if error is not None:
        raise error
    return user
