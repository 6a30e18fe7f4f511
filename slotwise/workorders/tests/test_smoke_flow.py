"""The whole life of one order through the services (the detailed cases live in the other
modules)."""

from decimal import Decimal

import pytest

from slotwise.bookings.models import BookingStatus
from slotwise.core.errors import ValidationError
from slotwise.workorders import services
from slotwise.workorders.models import Earning, PayRule, Source, Status, WorkOrderEvent
from slotwise.workorders.photos import photo_add

from .fixtures import World, local, next_day, photo_upload

pytestmark = pytest.mark.django_db


def test_order_from_intake_to_closed():
    w = World()
    PayRule.objects.create(
        organisation=w.org,
        technician=w.tech,
        labour_share_percent=Decimal("40"),
        mileage_rate=Decimal("0.5"),
    )
    order = services.work_order_create(
        organisation=w.org,
        contact=w.contact,
        source=Source.PHONE,
        title="Leaking sink",
        type=w.type,
        location=w.location,
        lines=[
            services.LineInput(kind="labour", name="Labour", quantity="1.5", unit_price="80.00")
        ],
        actor=w.manager.user,
    )
    assert order.status == Status.DRAFT and order.total == Decimal("120.00")
    start = local(next_day(), 10)
    order = services.work_order_assign(
        order=order, technician=w.tech, start=start, actor=w.manager.user
    )
    assert order.status == Status.ASSIGNED and order.booking.staff_id == w.tech.pk
    with pytest.raises(ValidationError) as err:
        services.work_order_act(order=order, action="pause", actor=w.tech.user)
    assert "status" in err.value.message_dict
    services.work_order_act(order=order, action="accept", actor=w.tech.user)
    order = services.work_order_act(order=order, action="start", actor=w.tech.user)
    assert order.status == Status.IN_PROGRESS
    order = services.extras_submit(
        order=order,
        lines=[services.LineInput(kind="goods", name="Valve", quantity="2", unit_price="12.50")],
        actor=w.tech.user,
    )
    assert order.status == Status.NEEDS_CONFIRMATION and order.proposed_total == Decimal("145.00")
    assert order.total == Decimal("120.00")
    with pytest.raises(ValidationError):
        services.work_order_complete(
            order=order, data=services.CompletionInput(), actor=w.tech.user
        )
    order = services.extras_decide(order=order, approve=True, actor=w.manager.user)
    assert order.status == Status.IN_PROGRESS and order.total == Decimal("145.00")
    data = services.CompletionInput(
        work_cost="120.00",
        extras_cost="25.00",
        travel_cost="0",
        toll_miles="12.0",
        tips="10",
        payment_method="cash",
        payment_amount="145.00",
        answers={"finished": "yes", "client_checked": "yes", "rating": "5"},
    )
    with pytest.raises(ValidationError) as err:
        services.work_order_complete(order=order, data=data, actor=w.tech.user)
    assert "photos" in err.value.message_dict
    photo_add(order=order, upload=photo_upload(), actor=w.tech.user)
    order = services.work_order_complete(order=order, data=data, actor=w.tech.user)
    assert order.status == Status.COMPLETED
    payment = order.completion.payment
    assert payment.amount == Decimal("145.00") and payment.tip_amount == Decimal("10.00")
    assert payment.received_by_id == w.tech.pk and payment.work_order_id == order.pk
    order = services.work_order_confirm(order=order, actor=w.manager.user)
    assert order.status == Status.CLOSED
    order.booking.refresh_from_db()
    assert order.booking.status == BookingStatus.DONE
    earning = Earning.objects.get(order=order)
    assert earning.labour == Decimal("48.00") and earning.mileage == Decimal("6.00")
    assert earning.tips == Decimal("10.00") and earning.total == Decimal("64.00")
    kinds = list(WorkOrderEvent.objects.filter(order=order).values_list("kind", flat=True))
    assert kinds == [
        "created",
        "assigned",
        "accepted",
        "started",
        "extras_submitted",
        "extras_approved",
        "completed",
        "updated",  # the cash payment is paid (payment_hooks)
        "confirmed",
    ]
