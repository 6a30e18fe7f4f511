"""Reads of bookings, already narrowed to what the user may see (ARCHITECTURE rule 7).

Who sees which bookings:

- a superuser: all;
- an organisation admin: every booking of their organisation;
- a staff member with a managing or booking role (manager, head of department, call centre,
  representative, project manager — `org.roles.BOOKING_ROLES`): the bookings made in their unit
  and the units below it (`Booking.unit` is the staff member's unit when the booking was made),
  never a sibling unit's, plus their own agenda and the bookings they made themselves (a call
  centre books with staff of any unit);
- any other staff member (technician, measurer, foreman, estimator — agenda only): the bookings in
  their own agenda (`Booking.staff` is them);
- a customer: the bookings of their own contact (`contact.user == user`);
- anybody else: nothing.
"""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from slotwise.org.roles import BOOKING_ROLES, Role
from slotwise.org.selectors import staff_of

from .models import ACTIVE_STATUSES, Booking


def _base() -> QuerySet[Booking]:
    return Booking.objects.select_related(
        "type", "staff__user", "contact", "unit", "location", "organisation"
    )


def bookings_for(user) -> QuerySet[Booking]:
    """The bookings `user` may see (see the module docstring for the rules)."""
    qs = _base()
    if getattr(user, "is_superuser", False):
        return qs
    staff = staff_of(user)
    if staff is None:
        if not getattr(user, "is_authenticated", False):
            return qs.none()
        return qs.filter(contact__user=user)
    qs = qs.filter(organisation_id=staff.organisation_id)
    if staff.has_role(Role.ORG_ADMIN):
        return qs
    if staff.has_role(*BOOKING_ROLES):
        return qs.filter(
            Q(unit__path__startswith=staff.unit.path) | Q(staff=staff) | Q(created_by=user)
        )
    return qs.filter(staff=staff)


def booking_by_public_id(user, public_id) -> Booking | None:
    """One booking by its public id if `user` may see it, else None (the caller answers 404)."""
    try:
        value = public_id if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id))
    except (TypeError, ValueError, AttributeError):
        return None
    return bookings_for(user).filter(public_id=value).first()


def bookings_of_contact(contact, *, active_only: bool = False) -> QuerySet[Booking]:
    """A contact's bookings, newest first (for "My bookings" and the contact page)."""
    qs = _base().filter(contact=contact).prefetch_related("services").order_by("-start")
    if active_only:
        qs = qs.filter(status__in=ACTIVE_STATUSES)
    return qs
