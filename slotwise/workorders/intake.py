"""Intake (S2.1): requests from every source land as draft orders on a matched or new contact.

- `order_from_web_form`: the public request form on the company's site (`/work/request/<org>/`).
- `order_from_staff`: the call centre entering a phone call, or a manager entering an order
  (`/work/new/`).
- `order_from_message`: an inbound e-mail or messenger message (the messaging hook in
  `hooks.py` calls it for channels with ``"work_order_intake": true`` in their settings).
- `order_from_conversation`: the inbox's "Create work order" button.
- The REST API creates orders through `services.work_order_create` with its own source.

Each of them validates everything first and raises one field-level `ValidationError` with all
the problems, then writes the contact (when new), the address and the order in one transaction,
so bad input leaves nothing behind. The order itself is made by `services.work_order_create`,
which numbers it, flags a possible duplicate (an open order of the same customer or address)
and writes the event and the customer's timeline entry. A `source_ref` (the message's id) makes
a replay return the order already made instead of a second one.
"""

from __future__ import annotations

import datetime
import logging
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from slotwise.core.errors import ValidationError
from slotwise.customers.models import Contact
from slotwise.customers.phones import to_e164
from slotwise.customers.selectors import find_duplicates
from slotwise.customers.services import contact_create

from . import services
from .models import OPEN_STATUSES, Source, WorkOrder

logger = logging.getLogger("slotwise.workorders.intake")

#: a title made from a message is cut here (the whole text goes into the description)
TITLE_FROM_TEXT = 80
#: the longest stretch of preferred days a visitor may give on the web form
MAX_PREFERRED_DAYS = 62


# -- the customer -------------------------------------------------------------------------------


def _clean_phone_email(organisation, phone: str, email: str) -> tuple[str, str, dict]:
    """(E.164 phone, lower-case e-mail, field errors) — nothing is looked up or written."""
    errors: dict[str, list[str]] = {}
    e164 = ""
    phone = (phone or "").strip()
    email = (email or "").strip().lower()
    if phone:
        try:
            e164 = to_e164(phone, organisation.country)
        except DjangoValidationError as exc:
            errors["phone"] = list(exc.messages)
    if email:
        try:
            validate_email(email)
        except DjangoValidationError:
            errors["email"] = [_("Enter a valid e-mail address.")]
    if not phone and not email:
        errors["phone"] = [_("Enter a phone number or an e-mail address.")]
    return e164, email, errors


def _match(organisation, e164: str, email: str) -> Contact | None:
    """The organisation's contact with this phone number (first) or e-mail address."""
    found = find_duplicates(organisation=organisation, phone=e164, email=email)
    by_phone = [contact for field, contact in found if field == "phone"]
    if by_phone:
        return by_phone[0]
    return found[0][1] if found else None


def _split_name(name: str) -> tuple[str, str]:
    first, _sep, last = " ".join((name or "").split()).partition(" ")
    return first[:120], last[:120]


def contact_for_request(
    *,
    organisation,
    name: str,
    phone: str = "",
    email: str = "",
    unit=None,
    actor=None,
    location=None,
    language: str = "",
) -> Contact:
    """The organisation's contact with this phone number (in E.164; first) or e-mail address,
    else a new contact (`customers.services.contact_create`). Matching never changes the
    existing contact's data. Field errors: ``name``, ``phone``, ``email``."""
    e164, email, errors = _clean_phone_email(organisation, phone, email)
    if errors:
        raise ValidationError(errors)
    contact = _match(organisation, e164, email)
    if contact is not None:
        return contact
    first, last = _split_name(name)
    if not first:
        raise ValidationError({"name": [_("Enter the customer's name.")]})
    if location is not None and location.pk is None:
        location.save()
    try:
        return contact_create(
            organisation=organisation,
            first_name=first,
            last_name=last,
            phone=e164,
            email=email,
            language=language or organisation.default_language,
            preferred_channel="sms" if e164 else "email",
            unit=unit,
            location=location,
            actor=actor,
        )
    except DjangoValidationError as exc:
        raise ValidationError(_renamed(exc, {"first_name": "name", "last_name": "name"})) from None


def _renamed(exc: DjangoValidationError, names: dict[str, str]) -> dict[str, list[str]]:
    if not hasattr(exc, "error_dict"):
        return {"__all__": list(exc.messages)}
    out: dict[str, list[str]] = {}
    for key, messages in exc.message_dict.items():
        out.setdefault(names.get(key, key), []).extend(messages)
    return out


# -- address and window -------------------------------------------------------------------------


def _location(organisation, *, address: str, postcode: str, city: str, errors: dict):
    """An unsaved, geocoded Location for the address (None without one); a bad or unknown
    postcode (or an address without one) is a ``postcode`` error."""
    from slotwise.scheduling.selectors import resolve_location

    address, postcode, city = (address or "").strip(), (postcode or "").strip(), city or ""
    if not (address or postcode):
        return None
    try:
        location = resolve_location(organisation=organisation, postcode=postcode, address=address)
    except DjangoValidationError as exc:
        for key, messages in _renamed(exc, {}).items():
            errors.setdefault(key, []).extend(messages)
        return None
    if location is not None:
        location.address = address[:300]
        location.city = city.strip()[:120]
    return location


def _day_window(
    organisation, first: datetime.date | None, last: datetime.date | None, errors: dict
) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """The customer's preferred days as a visit window: from the first day's start to the end of
    the last day, in the organisation's time zone."""
    if first is None and last is None:
        return None, None
    zone = ZoneInfo(organisation.time_zone)
    first = first or last
    last = last or first
    today = datetime.datetime.now(zone).date()
    if first < today:
        errors.setdefault("preferred_from", []).append(_("Choose today or a later day."))
    if last < first:
        errors.setdefault("preferred_to", []).append(
            _("The last day must not be before the first day.")
        )
    elif (last - first).days >= MAX_PREFERRED_DAYS:
        errors.setdefault("preferred_to", []).append(
            _("Choose at most %(days)s days.") % {"days": MAX_PREFERRED_DAYS}
        )
    start = datetime.datetime.combine(first, datetime.time(0), tzinfo=zone)
    end = datetime.datetime.combine(
        last + datetime.timedelta(days=1), datetime.time(0), tzinfo=zone
    )
    return start, end


def _check_title(title: str, errors: dict) -> str:
    title = " ".join((title or "").split())
    if not title:
        errors.setdefault("title", []).append(_("Describe the work in a few words."))
    return title[:200]


def _raise(errors: dict) -> None:
    if errors:
        raise ValidationError(errors)


def _create(*, contact_kwargs: dict | None, contact=None, location=None, **order_kwargs):
    """The contact (matched or new), the address and the order in one transaction."""
    with transaction.atomic():
        if contact is None:
            contact = contact_for_request(**contact_kwargs, location=location)
        if location is not None and location.pk is None:
            location.save()
        return services.work_order_create(contact=contact, location=location, **order_kwargs)


# -- the sources --------------------------------------------------------------------------------


def order_from_web_form(
    *,
    organisation,
    name: str,
    phone: str = "",
    email: str = "",
    title: str,
    description: str = "",
    address: str = "",
    postcode: str = "",
    city: str = "",
    preferred_from: datetime.date | None = None,
    preferred_to: datetime.date | None = None,
    language: str = "",
) -> WorkOrder:
    """A request from the public form on the company's site: a draft order (source "web_form")
    on the matched or new contact, at the geocoded address, with the preferred days as its
    visit window."""
    errors: dict[str, list[str]] = {}
    if not " ".join((name or "").split()):
        errors["name"] = [_("Enter your name.")]
    _e164, _email, contact_errors = _clean_phone_email(organisation, phone, email)
    errors.update(contact_errors)
    title = _check_title(title, errors)
    location = _location(organisation, address=address, postcode=postcode, city=city, errors=errors)
    window_start, window_end = _day_window(organisation, preferred_from, preferred_to, errors)
    _raise(errors)
    return _create(
        contact_kwargs={
            "organisation": organisation,
            "name": name,
            "phone": phone,
            "email": email,
            "language": language,
        },
        location=location,
        organisation=organisation,
        source=Source.WEB_FORM,
        title=title,
        description=(description or "").strip(),
        window_start=window_start,
        window_end=window_end,
    )


def order_from_staff(
    *,
    organisation,
    actor,
    source: str = Source.PHONE,
    title: str,
    description: str = "",
    contact: Contact | None = None,
    name: str = "",
    phone: str = "",
    email: str = "",
    address: str = "",
    postcode: str = "",
    city: str = "",
    type=None,
    window_start: datetime.datetime | None = None,
    window_end: datetime.datetime | None = None,
    unit=None,
) -> WorkOrder:
    """An order entered by the call centre (a phone call, source "phone") or a manager (source
    "manual"): on `contact` (an existing customer) or on the customer with this phone/e-mail
    (matched or new). Without an address the customer's own address is used."""
    errors: dict[str, list[str]] = {}
    if source not in (Source.PHONE, Source.MANUAL):
        errors["source"] = [_("Choose a phone call or an order entered by staff.")]
    if contact is not None:
        if contact.organisation_id != organisation.pk:
            errors["contact"] = [_("Choose a customer of the organisation.")]
    else:
        if not " ".join((name or "").split()):
            errors["name"] = [_("Enter the customer's name.")]
        _e164, _email, contact_errors = _clean_phone_email(organisation, phone, email)
        errors.update(contact_errors)
    title = _check_title(title, errors)
    location = _location(organisation, address=address, postcode=postcode, city=city, errors=errors)
    if type is not None and type.organisation_id != organisation.pk:
        errors["type"] = [_("Choose work of the organisation.")]
    _raise(errors)
    if location is None and contact is not None:
        location = contact.location
    return _create(
        contact=contact,
        contact_kwargs={
            "organisation": organisation,
            "name": name,
            "phone": phone,
            "email": email,
            "unit": unit,
            "actor": actor,
        },
        location=location,
        organisation=organisation,
        source=source,
        title=title,
        description=(description or "").strip(),
        type=type,
        window_start=window_start,
        window_end=window_end,
        unit=unit,
        actor=actor,
    )


def _title_from(message, contact) -> str:
    """The e-mail's subject, else the message's first line, else "Request from <name>"."""
    subject = " ".join((getattr(message, "subject", "") or "").split())
    if subject:
        return subject[:200]
    for line in (message.body or "").splitlines():
        line = " ".join(line.split())
        if line:
            if len(line) > TITLE_FROM_TEXT:
                line = line[: TITLE_FROM_TEXT - 1].rstrip() + "…"
            return line
    return _("Request from %(name)s") % {"name": contact}


def _source_for(medium: str) -> str:
    return Source.EMAIL if medium == "email" else Source.MESSAGE


def order_from_message(message, *, actor=None, unit=None) -> WorkOrder:
    """A draft order on the message's contact (source "email" for the e-mail channel, "message"
    otherwise), titled by the subject or the first line, the text as its description, at the
    contact's address. `source_ref` is the message's id: the same message twice gives the same
    order (also when two workers race: the unique constraint decides, the loser reads)."""
    contact = message.contact
    if contact is None:
        raise ValidationError({"contact": _("The message has no contact.")})
    source = _source_for(message.channel)
    ref = str(message.pk)
    kwargs = {
        "organisation": contact.organisation,
        "contact": contact,
        "source": source,
        "source_ref": ref,
        "title": _title_from(message, contact),
        "description": (message.body or "").strip(),
        "location": contact.location,
        "unit": unit,
        "actor": actor,
    }
    try:
        with transaction.atomic():
            return services.work_order_create(**kwargs)
    except IntegrityError:
        existing = WorkOrder.objects.filter(
            organisation_id=contact.organisation_id, source=source, source_ref=ref
        ).first()
        if existing is None:
            raise
        return existing


def order_from_conversation(conversation, actor, *, unit=None) -> WorkOrder:
    """The inbox's "Create work order" button: an order from the conversation's latest message
    of the contact (the same order when one was already made from that message), or a bare
    draft on the contact when they haven't written yet."""
    from slotwise.messaging.models import Direction, Message, MessageKind

    message = (
        Message.objects.filter(conversation=conversation, direction=Direction.IN)
        .exclude(kind=MessageKind.CALL)
        .select_related("contact__organisation", "contact__location")
        .order_by("-created_at", "-pk")
        .first()
    )
    if message is not None and message.contact_id == conversation.contact_id:
        return order_from_message(message, actor=actor, unit=unit)
    contact = conversation.contact
    return services.work_order_create(
        organisation=contact.organisation,
        contact=contact,
        source=_source_for(conversation.channel.medium),
        title=_("Request from %(name)s") % {"name": contact},
        location=contact.location,
        unit=unit,
        actor=actor,
    )


# -- the messaging hook -------------------------------------------------------------------------


def intake_enabled(config) -> bool:
    return bool(config is not None and (config.settings or {}).get("work_order_intake") is True)


def has_open_order(contact) -> bool:
    return WorkOrder.objects.filter(contact=contact, status__in=OPEN_STATUSES).exists()


def on_inbound_message(message) -> None:
    """The messaging inbound hook (runs inside the pump's transaction): a message from a contact
    on a channel with work-order intake switched on becomes a draft order when the contact has
    no open order yet; otherwise it just stays in the inbox. Any error is logged and rolled back
    to a savepoint, so a problem here never loses the message or the rest of the batch."""
    from slotwise.messaging.models import Direction, MessageKind

    if message.direction != Direction.IN or message.kind in (MessageKind.CALL, MessageKind.NOTE):
        return
    if message.contact_id is None or not intake_enabled(message.channel_config):
        return
    try:
        with transaction.atomic():
            if has_open_order(message.contact):
                return
            order = order_from_message(message)
            logger.info("order #%s made from message %s", order.number, message.pk)
    except Exception:
        logger.exception("work-order intake failed on message %s", message.pk)
