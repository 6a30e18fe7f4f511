"""The public booking page's one write: who books (an existing contact or a new one) and the
booking itself, in one transaction, so a lost race or a bad field leaves nothing behind.

Option tokens: the options page hands each option out as a signed token (type, staff, start and
the customer's postcode/address), so the details step books exactly what was offered and the
visitor cannot swap in another staff member, time or type; the availability is re-checked under
the staff lock anyway (`booking_create(..., enforce_availability=True)`).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core import signing
from django.db import transaction

from slotwise.core.errors import ValidationError
from slotwise.customers.selectors import find_duplicates
from slotwise.customers.services import contact_create

from .models import Booking, BookingSource

OPTION_SALT = "slotwise.bookings.public-option"
OPTION_MAX_AGE = 2 * 60 * 60  # an options page left open longer is refreshed
FORM_SALT = "slotwise.bookings.public-form"


@dataclass(frozen=True)
class OptionChoice:
    type_id: int
    staff_id: int
    start: datetime.datetime
    postcode: str = ""
    address: str = ""


def option_token(
    *, type_id: int, staff_id: int, start: datetime.datetime, postcode="", address=""
) -> str:
    payload = {"t": type_id, "s": staff_id, "st": start.isoformat(), "pc": postcode, "ad": address}
    return signing.TimestampSigner(salt=OPTION_SALT).sign_object(payload, compress=True)


def read_option_token(token: str, *, type_id: int) -> OptionChoice:
    """The choice behind a token from the options page; ValidationError({"option"}) when it is
    tampered, too old or for another type."""
    from django.utils.translation import gettext as _

    try:
        payload = signing.TimestampSigner(salt=OPTION_SALT).unsign_object(
            token or "", max_age=OPTION_MAX_AGE
        )
        choice = OptionChoice(
            type_id=int(payload["t"]),
            staff_id=int(payload["s"]),
            start=datetime.datetime.fromisoformat(payload["st"]),
            postcode=str(payload.get("pc", "")),
            address=str(payload.get("ad", "")),
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise ValidationError(
            {"option": _("This choice has expired. Please choose a time again.")}
        ) from None
    if choice.type_id != type_id or choice.start.tzinfo is None:
        raise ValidationError({"option": _("This choice has expired. Please choose a time again.")})
    return choice


def form_token(type_id: int) -> str:
    """A signed value in the booking form: with the Origin check, it is the CSRF defence of the
    embedded page where the browser keeps no cookies (see views.embed_csrf)."""
    return signing.TimestampSigner(salt=FORM_SALT).sign(str(type_id))


def form_token_ok(token: str, type_id: int) -> bool:
    try:
        value = signing.TimestampSigner(salt=FORM_SALT).unsign(token or "", max_age=OPTION_MAX_AGE)
    except signing.BadSignature:
        return False
    return value == str(type_id)


def match_or_create_contact(*, organisation, details: dict, language: str):
    """The organisation's contact with this phone number (first) or e-mail address, else a new
    one. Matching never changes the existing contact's data."""
    found = find_duplicates(
        organisation=organisation, phone=details["phone"], email=details["email"]
    )
    by_phone = [contact for field, contact in found if field == "phone"]
    if by_phone or found:
        return (by_phone or [found[0][1]])[0]
    return contact_create(
        organisation=organisation,
        first_name=details["first_name"],
        last_name=details.get("last_name", ""),
        phone=details["phone"],
        email=details["email"],
        language=language,
        preferred_channel="sms",
    )


def public_booking_create(
    *,
    type,
    staff,
    start: datetime.datetime,
    location=None,
    contact=None,
    details: dict | None = None,
    language: str = "",
    actor=None,
) -> Booking:
    """Book from the public page: `contact` for a logged-in customer, else `details` (cleaned
    first_name, last_name, phone in E.164, e-mail) matched to or creating a contact. Raises
    ValidationError / Conflict like `booking_create`; nothing is written then.

    A type paid when booking (full prepayment or a deposit) is booked as a hold for the
    organisation's hold minutes; the customer pays next (`payments.booking`)."""
    from slotwise.payments.booking import prepayment_hold_minutes

    from .services import booking_create

    hold_minutes = prepayment_hold_minutes(type)
    with transaction.atomic():
        if contact is None:
            contact = match_or_create_contact(
                organisation=type.organisation,
                details=details or {},
                language=language or type.organisation.default_language,
            )
        return booking_create(
            type=type,
            staff=staff,
            contact=contact,
            start=start,
            location=location,
            source=BookingSource.PUBLIC,
            actor=actor,
            hold_minutes=hold_minutes,
        )
