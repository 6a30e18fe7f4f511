"""A payment for a work order changed status (registered in payments' `STATUS_HOOKS`): a
payment link the client paid on the spot, or money refunded later, is written to the order's
event list and the customer's timeline, so the manager confirming the order sees it."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from slotwise.customers.services import timeline_add
from slotwise.payments.models import PaymentStatus

from .models import Event, WorkOrderEvent

#: status changes worth an entry on the order
NOTEWORTHY = {
    PaymentStatus.PAID: gettext_lazy("paid"),
    PaymentStatus.FAILED: gettext_lazy("failed"),
    PaymentStatus.CANCELLED: gettext_lazy("cancelled"),
    PaymentStatus.PARTIALLY_REFUNDED: gettext_lazy("partially refunded"),
    PaymentStatus.REFUNDED: gettext_lazy("refunded"),
}


def work_order_payment_changed(*, payment, old: str, new: str, actor=None) -> None:
    if not payment.work_order_id or old == new or new not in NOTEWORTHY:
        return
    order = payment.work_order
    now = timezone.now()
    data = {
        "payment": str(payment.public_id),
        "payment_status": new,
        "amount": str(payment.amount + payment.tip_amount),
        "method": payment.method or payment.provider,
    }
    # An event that doesn't change the order's status (from = to).
    WorkOrderEvent.objects.create(
        order=order,
        kind=Event.UPDATED,
        from_status=order.status,
        to_status=order.status,
        at=now,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        data=data,
    )
    timeline_add(
        contact=order.contact,
        kind="workorder.payment",
        summary=_("Order #%(number)s: payment of %(amount)s %(currency)s %(status)s")
        % {
            "number": order.number,
            "amount": payment.amount + payment.tip_amount,
            "currency": payment.currency,
            "status": NOTEWORTHY[new],
        },
        data={"work_order": str(order.public_id), **data},
        actor=actor,
        occurred_at=now,
    )


def register() -> None:
    from slotwise.payments.services import STATUS_HOOKS

    if work_order_payment_changed not in STATUS_HOOKS:
        STATUS_HOOKS.append(work_order_payment_changed)
