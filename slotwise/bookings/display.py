"""How a booking is described to the customer (pages and messages alike)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from slotwise.scheduling.models import AppointmentMode


def org_zone(organisation) -> ZoneInfo:
    return ZoneInfo(organisation.time_zone)


def local(dt, organisation):
    return timezone.localtime(dt, org_zone(organisation))


def place_text(booking, *, with_address: bool = True) -> str:
    """Where the appointment happens, in the active language (the customer's address only with
    `with_address`)."""
    mode = booking.type.mode
    if mode == AppointmentMode.PHONE:
        return _("By phone: we call you")
    if mode == AppointmentMode.VIDEO:
        return _("By video: you get the link before the appointment")
    if mode == AppointmentMode.CUSTOMER_ADDRESS:
        where = str(booking.location) if booking.location_id and with_address else ""
        return (
            _("At your address: %(address)s") % {"address": where}
            if where
            else _("At your address")
        )
    unit = booking.unit
    return _("At our branch: %(branch)s") % {"branch": unit.name} if unit else _("At our branch")


def price_text(amount, currency: str) -> str:
    if not amount:
        return pgettext("price", "Free")
    return f"{amount:.2f} {currency}"
