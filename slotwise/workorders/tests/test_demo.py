"""The demo's work orders (FixRight): a catalogue, pay rules, work types and orders in every
stage for today and tomorrow, made through the services — and a second `demo_data` run adds
nothing."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from slotwise.bookings.models import Booking
from slotwise.org.models import Organisation, Staff
from slotwise.payments.models import Holder, Payment
from slotwise.workorders import selectors
from slotwise.workorders.demo import CATALOGUE, workorders_demo
from slotwise.workorders.models import (
    CatalogueItem,
    Earning,
    ExtrasRequest,
    PayRule,
    Status,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderPhoto,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _counts() -> tuple[int, ...]:
    return (
        WorkOrder.objects.count(),
        WorkOrderEvent.objects.count(),
        CatalogueItem.objects.count(),
        PayRule.objects.count(),
        Earning.objects.count(),
        Booking.objects.count(),
        Payment.objects.count(),
        WorkOrderPhoto.objects.count(),
    )


def test_demo_work_orders_in_every_stage_and_idempotent():
    call_command("demo_data", stdout=io.StringIO())
    org = Organisation.objects.get(slug="fixright")
    orders = {o.status: o for o in WorkOrder.objects.filter(organisation=org)}
    assert set(orders) == {
        Status.DRAFT,
        Status.ASSIGNED,
        Status.ACCEPTED,
        Status.IN_PROGRESS,
        Status.PAUSED,
        Status.NEEDS_CONFIRMATION,
        Status.COMPLETED,
        Status.CLOSED,
    }
    assert not WorkOrder.objects.exclude(organisation=org).exists()
    assert CatalogueItem.objects.filter(organisation=org, active=True).count() == len(CATALOGUE)
    assert PayRule.objects.filter(organisation=org).count() == 3

    tech = Staff.objects.get(user__username="la-tech")
    closed = orders[Status.CLOSED]
    assert closed.technician_id == tech.pk
    earning = Earning.objects.get(order=closed)
    assert earning.labour > 0 and earning.tips > 0 and earning.total > earning.tips
    cash = closed.completion.payment
    assert cash.holder == Holder.STAFF and cash.received_by_id == tech.pk
    assert cash.amount == closed.total

    completed = orders[Status.COMPLETED]
    assert completed.completion.payment.holder == Holder.COMPANY
    assert completed.photos.count() == 2
    waiting = orders[Status.NEEDS_CONFIRMATION]
    request = ExtrasRequest.objects.get(order=waiting, state="pending")
    assert request.proposed_total > request.previous_total == waiting.total

    zone = ZoneInfo(org.time_zone)
    today = timezone.now().astimezone(zone).date()
    for status in (Status.CLOSED, Status.COMPLETED, Status.IN_PROGRESS, Status.PAUSED):
        assert orders[status].scheduled_start.astimezone(zone).date() == today, status
        assert orders[status].booking is not None
    for status in (Status.ASSIGNED, Status.ACCEPTED):
        assert orders[status].scheduled_start.astimezone(zone).date() == today + dt.timedelta(
            days=1
        )
    drafts = WorkOrder.objects.filter(organisation=org, status=Status.DRAFT).order_by("number")
    assert [d.source for d in drafts] == ["web_form", "phone"]
    assert drafts[1].duplicate_of_id == drafts[0].pk
    assert drafts[0].window_start is not None

    # each technician sees their own, the dispatcher the whole unit
    manager = Staff.objects.get(user__username="la-manager").user
    assert selectors.orders_for(manager).count() == WorkOrder.objects.count()
    mine = set(selectors.orders_for(tech.user).values_list("technician_id", flat=True))
    assert mine == {tech.pk}

    counts = _counts()
    call_command("demo_data", stdout=io.StringIO())
    assert _counts() == counts
    assert workorders_demo(org) == 0
    assert _counts() == counts
