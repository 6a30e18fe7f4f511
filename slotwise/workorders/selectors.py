"""Reads of work orders, already scoped to what the user may see (`rules.py`)."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, QuerySet

from slotwise.org.roles import BOOKING_ROLES, Role
from slotwise.org.selectors import staff_of

from .models import WorkOrder, WorkOrderComment, WorkOrderLine


def _base() -> QuerySet[WorkOrder]:
    return WorkOrder.objects.select_related(
        "organisation", "contact", "location", "type", "technician__user", "unit"
    )


def orders_for(user) -> QuerySet[WorkOrder]:
    """Office staff: their organisation's orders in their unit and below (org admins: all).
    Technicians: the orders assigned to them. Anyone else: none."""
    qs = _base()
    if user.is_superuser:
        return qs
    staff = staff_of(user)
    if staff is None:
        return qs.none()
    qs = qs.filter(organisation=staff.organisation_id)
    own = Q(technician=staff)
    if staff.has_role(Role.ORG_ADMIN):
        return qs
    if staff.has_role(*BOOKING_ROLES):
        return qs.filter(Q(unit__path__startswith=staff.unit.path) | own)
    return qs.filter(own)


def order_for(user, public_id) -> WorkOrder | None:
    try:
        return orders_for(user).filter(public_id=public_id).first()
    except (ValueError, TypeError, ValidationError):  # not a UUID
        return None


def order_card(order: WorkOrder) -> WorkOrder:
    """The order with everything its card shows, in a constant number of queries."""
    return (
        _base()
        .select_related("booking", "completion", "duplicate_of")
        .prefetch_related(
            Prefetch("lines", queryset=WorkOrderLine.objects.select_related("item")),
            Prefetch("comments", queryset=WorkOrderComment.objects.select_related("author")),
            "photos",
            "events__actor",
            "extras_requests",
        )
        .get(pk=order.pk)
    )


def technician_orders(
    staff, *, start: datetime.datetime, end: datetime.datetime
) -> QuerySet[WorkOrder]:
    """A technician's orders scheduled in [start, end), in time order: one query."""
    return (
        WorkOrder.objects.filter(
            technician=staff, scheduled_start__gte=start, scheduled_start__lt=end
        )
        .exclude(status="cancelled")
        .select_related("contact", "location")
        .order_by("scheduled_start", "pk")
    )
