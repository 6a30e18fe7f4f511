"""Payments of an order land on its event list and the customer's timeline."""

from decimal import Decimal

import pytest

from slotwise.customers.models import TimelineEntry
from slotwise.workorders import services
from slotwise.workorders.models import Source, WorkOrderEvent
from slotwise.workorders.photos import photo_add

from .fixtures import World, local, next_day, photo_upload

pytestmark = pytest.mark.django_db


def _on_site(w):
    order = services.work_order_create(
        organisation=w.org,
        contact=w.contact,
        source=Source.PHONE,
        title="Broken heater",
        type=w.type,
        location=w.location,
        lines=[services.LineInput(kind="labour", name="Labour", quantity="1", unit_price="90")],
    )
    order = services.work_order_assign(order=order, technician=w.tech, start=local(next_day(), 9))
    order = services.work_order_act(order=order, action="start", actor=w.tech.user)
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    return order


def test_cash_payment_is_on_the_order_and_timeline():
    w = World()
    order = _on_site(w)
    services.work_order_complete(
        order=order,
        data=services.CompletionInput(
            work_cost="90",
            extras_cost="0",
            travel_cost="0",
            toll_miles="0",
            tips="5",
            payment_method="check",
            payment_amount="90",
            answers={"finished": "yes", "client_checked": "no", "rating": "4"},
        ),
        actor=w.tech.user,
    )
    event = WorkOrderEvent.objects.get(order=order, data__payment_status="paid")
    assert event.data["amount"] == "95.00" and event.data["method"] == "check"
    assert event.from_status == event.to_status
    entry = TimelineEntry.objects.get(contact=w.contact, kind="workorder.payment")
    assert "95.00" in entry.summary


def test_payments_without_an_order_are_ignored():
    from slotwise.core.money import Money
    from slotwise.payments.onsite import onsite_payment_record

    w = World()
    onsite_payment_record(
        organisation=w.org, method="zelle", amount=Money(Decimal("10"), "USD"), contact=w.contact
    )
    assert not TimelineEntry.objects.filter(kind="workorder.payment").exists()
