"""Messages to the customer when a booking changes (S4.13).

`booking_changed` is the one entry point; the booking services call it inside their transaction,
so the messages are written to the outbox together with the change (ARCHITECTURE rule 3) and a
rolled-back change sends nothing. The worker delivers them afterwards.

What goes out:
- an e-mail when the contact has an e-mail address;
- an SMS when the contact has a phone number and prefers SMS (or has no e-mail address);
- in the contact's language, with the time in the organisation's time zone, and (unless
  cancelled) the signed link to reschedule or cancel (`signing.manage_url`, absolute from
  `settings.SITE_URL`).
A hold (waiting for payment) gets no message until it is confirmed.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from .models import BookingStatus

EVENTS = ("created", "confirmed", "cancelled", "rescheduled")


def _subject(event: str, booking) -> str:
    subjects = {
        "created": _("Your appointment on %(when)s is booked"),
        "confirmed": _("Your appointment on %(when)s is confirmed"),
        "cancelled": _("Your appointment on %(when)s is cancelled"),
        "rescheduled": _("Your appointment has moved to %(when)s"),
    }
    return subjects[event] % {"when": local_when(booking)}


def local_when(booking) -> str:
    """The start as a localised date and time in the organisation's zone (active language)."""
    zone = ZoneInfo(booking.organisation.time_zone)
    start = timezone.localtime(booking.start, zone)
    return f"{formats.date_format(start, 'DATE_FORMAT')} {formats.time_format(start, 'H:i')}"


def message_context(booking, event: str) -> dict:
    from .display import place_text
    from .signing import manage_url

    zone = ZoneInfo(booking.organisation.time_zone)
    return {
        "booking": booking,
        "event": event,
        "contact": booking.contact,
        "organisation": booking.organisation,
        "when": local_when(booking),
        "end": timezone.localtime(booking.end, zone),
        "staff_first_name": booking.staff.user.first_name,
        "place": place_text(booking),
        "manage_url": manage_url(booking) if event != "cancelled" and booking.is_active else "",
    }


def booking_changed(*, booking, event: str) -> None:
    """Queue the customer's message(s) for `event` ("created", "confirmed", "cancelled",
    "rescheduled") in the caller's transaction, through the notifications API: an e-mail when
    the contact has an address (it carries the details and the link), and a short message on
    the contact's preferred channel (SMS, WhatsApp, Telegram …, with the fallback chain) unless
    they prefer e-mail."""
    from slotwise.messaging.notify import chain_for, notify

    if event not in EVENTS:
        raise ValueError(f"Unknown booking event {event!r}")
    if event == "created" and booking.status == BookingStatus.HELD:
        return  # a hold waiting for payment: the message goes out when it is confirmed
    contact = booking.contact
    purpose = f"booking.{event}"
    language = contact.language or booking.organisation.default_language
    zone = ZoneInfo(booking.organisation.time_zone)
    with translation.override(language), timezone.override(zone):
        context = message_context(booking, event)
        subject = _subject(event, booking)
    if contact.email:
        notify(
            contact=contact,
            template="bookings/messages/email",
            context=context,
            purpose=purpose,
            chain=["email"],
            subject=subject,
        )
    if contact.preferred_channel != "email" or not contact.email:
        short_chain = [medium for medium in chain_for(contact) if medium != "email"]
        notify(
            contact=contact,
            template="bookings/messages/sms",
            context=context,
            purpose=purpose,
            chain=short_chain,
        )
