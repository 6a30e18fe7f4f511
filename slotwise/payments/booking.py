"""Paying for bookings (S0.7, S0.8): prepayments and deposits, holds, refunds on cancellation
and the no-show fee. The rules, in one place (the managers' manual describes them):

- **What is due.** An appointment type's `prepayment` rule: "full" is the type's price plus the
  prices of the services combined with it in the visit; "deposit" is the type's
  `deposit_amount`; nothing is due when the rule is "none" or the amount is zero.
- **Hold while paying.** A booking with something due, made on the public page or in the portal,
  is created as a *hold* for the organisation's `hold_minutes`, and the customer pays (provider
  choice → `checkout.checkout_start` with `expires_at` = the hold's expiry → the pay page → back
  to the confirmation). The booker's screen holds it the same way and sends the customer a
  payment link by SMS or e-mail through the outbox.
- **Paid → confirmed** (`on_prepayment_paid`, called when a prepayment becomes paid).
- **The hold lapses** → the booking is cancelled by the expiry job, its time is offered again, and
  the open payment is cancelled at the provider (`booking_payments_lapse`).
- **A payment arriving after the hold lapsed** (the customer approved just as it expired, or the
  provider captured despite our cancel): the booking is revived and confirmed if its time is
  still free (`bookings.services.booking_revive_paid_hold`), else the money is refunded in full
  at once, automatically. A second payment for a booking already paid is refunded too.
- **Cancellation.** Cancelled by the customer in time (before the type's cancel window): every
  prepayment is refunded in full. After the window a prepaid booking may still be cancelled by
  the customer until it starts; the prepayment is kept if the type says
  `late_cancel_keeps_deposit`, else refunded. Cancelled by staff: always refunded. Open (unpaid)
  payments of a cancelled booking are cancelled at the provider.
- **No-show.** Marked no-show with a `no_show_fee` > 0: the fee is kept from what the customer
  prepaid (nothing of it is refunded; the timeline records "no-show fee kept from the
  prepayment" with the amount and the payment), and whatever the prepayment does not cover is
  requested as a new `no_show_fee` payment whose link goes to the customer by SMS/e-mail.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from slotwise.core.errors import Conflict, ValidationError
from slotwise.core.money import Money
from slotwise.customers.services import timeline_add

from .models import (
    OPEN_STATUSES,
    Payment,
    PaymentStatus,
    Purpose,
    Refund,
    RefundStatus,
)

log = logging.getLogger(__name__)

PREPAY_PURPOSES = (Purpose.FULL, Purpose.DEPOSIT)
PAID_STATUSES = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)
DEFAULT_HOLD_MINUTES = 15


# --- what is due ------------------------------------------------------------------------------


def type_payment_due(type_, services=()) -> Money | None:
    """What booking `type_` (with the combined `services`) costs up front, or None."""
    from slotwise.scheduling.models import Prepayment

    if type_.prepayment == Prepayment.FULL:
        amount = Decimal(type_.price or 0)
        for extra in services:
            if extra.pk != type_.pk and extra.currency == type_.currency:
                amount += Decimal(extra.price or 0)
    elif type_.prepayment == Prepayment.DEPOSIT:
        amount = Decimal(type_.deposit_amount or 0)
    else:
        return None
    if amount <= 0:
        return None
    return Money(amount, type_.currency)


def booking_payment_due(booking) -> Money | None:
    """The prepayment the booking's rule asks for (full: the type's price plus the combined
    services; deposit: the type's deposit), or None."""
    return type_payment_due(booking.type, list(booking.services.all()))


def prepayment_purpose(type_) -> str:
    from slotwise.scheduling.models import Prepayment

    return Purpose.FULL if type_.prepayment == Prepayment.FULL else Purpose.DEPOSIT


def online_providers(organisation, currency: str) -> list[tuple[str, str]]:
    from .selectors import enabled_providers

    return enabled_providers(organisation=organisation, currency=currency)


def hold_minutes_for(organisation) -> int:
    from slotwise.scheduling.models import SchedulingPolicy

    minutes = (
        SchedulingPolicy.objects.filter(organisation=organisation)
        .values_list("hold_minutes", flat=True)
        .first()
    )
    return minutes or DEFAULT_HOLD_MINUTES


def prepayment_hold_minutes(type_, services=()) -> int | None:
    """How long a new booking of `type_` is held while the customer pays (None: nothing is due,
    book it confirmed). Raises ValidationError when the type needs a prepayment but the
    organisation has no online payment method for its currency."""
    due = type_payment_due(type_, services)
    if due is None:
        return None
    if not online_providers(type_.organisation, due.currency):
        raise ValidationError(
            _(
                "This service is paid when booking, but online payment is not available at the "
                "moment. Please contact us to book."
            )
        )
    return hold_minutes_for(type_.organisation)


def net_paid(payments) -> Money | None:
    total = None
    for p in payments:
        net = Money(max(p.paid_amount - p.refunded_amount, Decimal(0)), p.currency)
        total = net if total is None else total + net
    return total


def prepayments_of(booking):
    return Payment.objects.filter(booking=booking, purpose__in=PREPAY_PURPOSES)


def paid_prepayments(booking) -> list[Payment]:
    return list(prepayments_of(booking).filter(status__in=PAID_STATUSES).order_by("created_at"))


def has_paid_prepayment(booking) -> bool:
    return prepayments_of(booking).filter(status__in=PAID_STATUSES).exists()


def _lapsed(booking, now) -> bool:
    return booking.hold_expires_at is not None and booking.hold_expires_at <= now


@dataclass(frozen=True)
class Due:
    """What a customer can pay for a booking right now."""

    amount: Money
    purpose: str
    expires_at: datetime.datetime | None = None


def no_show_fee_due(booking) -> Money | None:
    """The part of the no-show fee that the prepayment does not cover and no fee payment has
    paid yet."""
    fee = Decimal(booking.type.no_show_fee or 0)
    if booking.status != "no_show" or fee <= 0:
        return None
    currency = booking.type.currency
    covered = net_paid(paid_prepayments(booking))
    remaining = fee - min(fee, covered.amount if covered else Decimal(0))
    fees = Payment.objects.filter(
        booking=booking, purpose=Purpose.NO_SHOW_FEE, status__in=PAID_STATUSES
    )
    paid = net_paid(fees)
    remaining -= paid.amount if paid else Decimal(0)
    return Money(remaining, currency) if remaining > 0 else None


def amount_due(booking, *, now=None) -> Due | None:
    """What the customer can pay now: the prepayment of a live hold, or an unpaid no-show fee."""
    from slotwise.bookings.models import BookingStatus

    now = now or timezone.now()
    if booking.status == BookingStatus.HELD and not _lapsed(booking, now):
        due = booking_payment_due(booking)
        if due is not None and not has_paid_prepayment(booking):
            return Due(due, prepayment_purpose(booking.type), booking.hold_expires_at)
    if booking.status == BookingStatus.NO_SHOW:
        fee = no_show_fee_due(booking)
        if fee is not None:
            return Due(fee, Purpose.NO_SHOW_FEE)
    return None


# --- paying -----------------------------------------------------------------------------------


def pay_path(booking) -> str:
    """Where the customer pays what is due for the booking (addressed by its unguessable id)."""
    return reverse("bookings:pay", args=[booking.public_id])


def pay_url(booking) -> str:
    return settings.SITE_URL.rstrip("/") + pay_path(booking)


def booking_checkout(
    *,
    booking,
    provider: str,
    return_url: str,
    payer_phone: str = "",
    actor=None,
    now=None,
) -> Payment:
    """Start paying what is due for the booking with `provider` (outside a transaction: the
    provider is called). A payment already under way with the same provider and phone number is
    reused (a double click starts nothing twice); other open payments of the booking for the same
    purpose are cancelled first, so at most one can be paid."""
    from . import services
    from .checkout import checkout_start, payment_start_for_payer

    due = amount_due(booking, now=now)
    if due is None:
        raise ValidationError({"provider": _("Nothing is waiting to be paid for this booking.")})
    open_payments = Payment.objects.filter(
        booking=booking, purpose=due.purpose, status__in=OPEN_STATUSES
    ).order_by("-created_at")
    for payment in open_payments:
        same = (
            payment.provider == provider
            and payment.payer_phone == payer_phone
            and payment.money == due.amount
        )
        if same and payment.status == PaymentStatus.PENDING and payment.provider_reference:
            return payment
        if same and payment.status == PaymentStatus.CREATED and not payment.provider_reference:
            if payment.return_url != return_url[:500]:
                Payment.objects.filter(pk=payment.pk).update(return_url=return_url[:500])
                payment.return_url = return_url[:500]
            return payment_start_for_payer(payment)
        services.payment_cancel(payment=payment, reason="replaced", actor=actor)
    return checkout_start(
        organisation=booking.organisation,
        provider=provider,
        amount=due.amount,
        purpose=due.purpose,
        return_url=return_url,
        contact=booking.contact,
        booking=booking,
        payer_phone=payer_phone,
        expires_at=due.expires_at,
        actor=actor,
    )


def payment_link_send(*, booking, channel: str = "", actor=None) -> str:
    """Queue the link to pay what is due for the booking to the customer (SMS or e-mail, through
    the outbox, in the caller's transaction). Returns the channel used ("" when the contact has
    neither a phone number nor an e-mail address)."""
    from django.template.loader import render_to_string
    from django.utils import translation

    from slotwise.bookings.notifications import local_when
    from slotwise.messaging.services import email_queue, sms_queue

    contact = booking.contact
    due = amount_due(booking)
    if due is None:
        raise ValidationError({"pay_link": _("Nothing is waiting to be paid for this booking.")})
    if channel not in ("sms", "email"):
        channel = "sms" if contact.phone else "email"
    if channel == "sms" and not contact.phone:
        raise ValidationError({"pay_link": _("The customer has no phone number.")})
    if channel == "email" and not contact.email:
        raise ValidationError({"pay_link": _("The customer has no e-mail address.")})
    language = contact.language or booking.organisation.default_language
    zone = timezone.get_default_timezone()
    try:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(booking.organisation.time_zone)
    except (ValueError, KeyError):  # pragma: no cover - a valid zone is enforced on save
        pass
    with translation.override(language), timezone.override(zone):
        context = {
            "booking": booking,
            "organisation": booking.organisation,
            "contact": contact,
            "amount": due.amount,
            "purpose": due.purpose,
            "when": local_when(booking),
            "expires": timezone.localtime(due.expires_at, zone) if due.expires_at else None,
            "url": pay_url(booking),
        }
        purpose = f"payment.link.{due.purpose}"
        if channel == "sms":
            sms_queue(
                to=contact.phone,
                body=render_to_string("bookings/messages/pay_link_sms.txt", context).strip(),
                purpose=purpose,
                organisation=booking.organisation,
            )
        else:
            subject = (
                _("Your no-show fee of %(amount)s")
                if due.purpose == Purpose.NO_SHOW_FEE
                else _("Pay %(amount)s to confirm your appointment")
            ) % {"amount": due.amount}
            email_queue(
                to=contact.email,
                subject=subject,
                body=render_to_string("bookings/messages/pay_link_email.txt", context),
                purpose=purpose,
                organisation=booking.organisation,
            )
    timeline_add(
        contact=contact,
        kind="payment.link_sent",
        summary=_("Payment link for %(amount)s sent (%(channel)s)")
        % {"amount": due.amount, "channel": channel},
        data={"booking": str(booking.public_id), "channel": channel, "purpose": due.purpose},
        actor=actor,
    )
    return channel


# --- consequences of payments -----------------------------------------------------------------


def _refund_all(payment: Payment, reason: str, actor=None) -> Refund | None:
    """Refund what is left of a captured payment (automatic); None when nothing is left."""
    from .services import refund_create

    payment.refresh_from_db()
    if payment.status not in PAID_STATUSES:
        return None
    committed = sum(
        (r.amount for r in payment.refunds.exclude(status=RefundStatus.FAILED)), Decimal("0")
    )
    left = payment.paid_amount - max(committed, payment.refunded_amount)
    if left <= 0:
        return None
    try:
        return refund_create(
            payment=payment,
            amount=Money(left, payment.currency),
            reason=reason,
            actor=actor,
            automatic=True,
        )
    except ValidationError:
        return None  # refunded meanwhile by someone else (checked again under the lock)


def on_prepayment_paid(*, payment: Payment, actor=None) -> None:
    """A booking's prepayment became paid (inside the transaction that applied it). The booking
    is confirmed, or revived if its hold lapsed and its time is still free; else the money goes
    back at once. A payment for a booking another payment already paid goes back too."""
    from slotwise.bookings.services import booking_revive_paid_hold

    booking = payment.booking
    twice = (
        prepayments_of(booking)
        .filter(status__in=PAID_STATUSES)
        .exclude(pk=payment.pk)
        .filter(paid_at__lte=payment.paid_at or timezone.now())
        .exists()
    )
    if twice:
        _refund_all(payment, _("The booking was already paid."))
        return
    try:
        with transaction.atomic():
            booking_revive_paid_hold(booking=booking, actor=actor)
    except (Conflict, ValidationError):
        _refund_all(payment, _("The time was no longer free when the payment arrived."))


def booking_payments_lapse(*, now=None) -> int:
    """Cancel at the provider each open prepayment whose booking no longer waits for it (its hold
    lapsed, it was cancelled, or it was confirmed otherwise). Run after the hold-expiry job; a
    provider that still captures such a payment is handled by `on_prepayment_paid`."""
    from slotwise.bookings.models import BookingStatus

    from .services import payment_cancel

    now = now or timezone.now()
    stale = Payment.objects.filter(
        status__in=OPEN_STATUSES, purpose__in=PREPAY_PURPOSES, booking__isnull=False
    ).filter(
        ~Q(booking__status=BookingStatus.HELD)
        | Q(booking__hold_expires_at__lte=now)
        | Q(expires_at__lte=now)
    )
    count = 0
    for payment in stale.select_related("booking"):
        try:
            payment_cancel(payment=payment, reason=_("The hold expired."))
            count += 1
        except Exception:  # noqa: BLE001 - one provider's trouble must not stop the others
            log.exception("could not cancel payment %s", payment.public_id)
    return count


def _cancel_open_after_commit(booking) -> None:
    ids = list(
        Payment.objects.filter(
            booking=booking, purpose__in=PREPAY_PURPOSES, status__in=OPEN_STATUSES
        ).values_list("pk", flat=True)
    )
    if not ids:
        return

    def cancel() -> None:
        from .services import payment_cancel

        for payment in Payment.objects.filter(pk__in=ids):
            try:
                payment_cancel(payment=payment, reason=_("The booking was cancelled."))
            except Exception:  # noqa: BLE001 - the expiry job sweeps what is left
                log.exception("could not cancel payment %s", payment.public_id)

    transaction.on_commit(cancel)


def late_cancel_allowed(booking, *, now=None) -> bool:
    """May the customer cancel this booking after its cancel window? Only a prepaid booking, and
    only before it starts: the window then decides whether the prepayment comes back."""
    now = now or timezone.now()
    return booking.start > now and has_paid_prepayment(booking)


def booking_cancelled(*, booking, by_customer: bool, late: bool, actor=None) -> list[Refund]:
    """Money after a cancellation (inside the cancelling transaction): refund every prepayment,
    except when the customer cancelled after the window and the type keeps it."""
    _cancel_open_after_commit(booking)
    payments = paid_prepayments(booking)
    if not payments:
        return []
    if by_customer and late and booking.type.late_cancel_keeps_deposit:
        kept = net_paid(payments)
        timeline_add(
            contact=booking.contact,
            kind="payment.kept",
            summary=_(
                "Cancelled after the cancellation window: the prepayment of %(amount)s is kept"
            )
            % {"amount": kept},
            data={
                "booking": str(booking.public_id),
                "amount": str(kept.amount),
                "currency": kept.currency,
                "payments": [str(p.public_id) for p in payments],
            },
            actor=actor,
        )
        return []
    reason = (_("Cancelled by the customer.") if by_customer else _("Cancelled by %(who)s.")) % {
        "who": booking.organisation.name
    }
    refunds = [_refund_all(p, reason, actor=actor) for p in payments]
    return [r for r in refunds if r is not None]


def no_show_fee_charge(*, booking, actor=None) -> Payment | None:
    """The no-show fee (inside the transaction that marks the booking no-show). What the customer
    prepaid covers it first (recorded on the timeline); the rest becomes a `no_show_fee` payment
    with its link sent to the customer. Returns that payment, or None."""
    from .services import payment_create

    fee = Decimal(booking.type.no_show_fee or 0)
    if fee <= 0:
        return None
    currency = booking.type.currency
    prepaid = paid_prepayments(booking)
    covered = net_paid(prepaid)
    kept = min(fee, covered.amount) if covered else Decimal(0)
    if kept > 0:
        timeline_add(
            contact=booking.contact,
            kind="payment.no_show_fee_kept",
            summary=_("No-show fee of %(fee)s kept from the prepayment")
            % {"fee": Money(kept, currency)},
            data={
                "booking": str(booking.public_id),
                "fee": str(fee),
                "kept": str(kept),
                "currency": currency,
                "from_payments": [str(p.public_id) for p in prepaid],
            },
            actor=actor,
        )
    remaining = fee - kept
    if remaining <= 0:
        return None
    amount = Money(remaining, currency)
    providers = online_providers(booking.organisation, currency)
    if not providers:
        timeline_add(
            contact=booking.contact,
            kind="payment.no_show_fee_due",
            summary=_("No-show fee of %(fee)s due (no online payment method)") % {"fee": amount},
            data={"booking": str(booking.public_id), "fee": str(remaining), "currency": currency},
            actor=actor,
        )
        return None
    payment = payment_create(
        organisation=booking.organisation,
        provider=providers[0][0],
        amount=amount,
        purpose=Purpose.NO_SHOW_FEE,
        contact=booking.contact,
        booking=booking,
        return_url=reverse("bookings:confirmation", args=[booking.public_id]),
        actor=actor,
    )
    if booking.contact.phone or booking.contact.email:
        payment_link_send(booking=booking, actor=actor)
    return payment


# --- what the pages show ----------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentState:
    """The payment side of a booking, as the customer's pages show it. state: "paid",
    "waiting", "expired", "refunded", "kept", "fee_due", "fee_paid" or "" (nothing to say)."""

    state: str
    label: str
    amount: Money | None = None
    pay_url: str = ""


def payment_state(booking, *, payments=None, now=None) -> PaymentState:
    """`payments`: the booking's payments when the caller loaded them for many bookings."""
    from slotwise.bookings.models import BookingStatus

    now = now or timezone.now()
    if payments is None:
        payments = list(Payment.objects.filter(booking=booking))
    prepaid = [p for p in payments if p.purpose in PREPAY_PURPOSES]
    paid = [p for p in prepaid if p.status in (*PAID_STATUSES, PaymentStatus.REFUNDED)]
    fees = [p for p in payments if p.purpose == Purpose.NO_SHOW_FEE]
    if booking.status == BookingStatus.NO_SHOW and fees:
        if any(p.status in PAID_STATUSES for p in fees):
            return PaymentState("fee_paid", _("No-show fee paid"), fees[0].money)
        open_fee = next((p for p in fees if p.status in OPEN_STATUSES), None)
        if open_fee is not None:
            return PaymentState(
                "fee_due", _("No-show fee to pay"), open_fee.money, pay_path(booking)
            )
    if paid:
        net = net_paid(paid)
        if all(p.status == PaymentStatus.REFUNDED for p in paid):
            return PaymentState("refunded", _("Refunded"), paid[0].money)
        if booking.status == BookingStatus.CANCELLED:
            refunding = any(r.status == RefundStatus.PENDING for p in paid for r in p.refunds.all())
            if refunding:
                return PaymentState("refunded", _("Refund on its way"), net)
            return PaymentState("kept", _("Prepayment kept (late cancellation)"), net)
        return PaymentState("paid", _("Paid"), net)
    due = booking_payment_due(booking) if prepaid or booking.type.prepayment != "none" else None
    if booking.status == BookingStatus.HELD and due is not None:
        if _lapsed(booking, now):
            return PaymentState("expired", _("Hold expired: not paid in time"), due)
        return PaymentState("waiting", _("Waiting for payment"), due, pay_path(booking))
    if (
        booking.status == BookingStatus.CANCELLED
        and due is not None
        and booking.hold_expires_at is not None
    ):
        return PaymentState("expired", _("Hold expired: not paid in time"), due)
    return PaymentState("", "")


def payment_states(bookings, *, now=None) -> dict[int, PaymentState]:
    """`payment_state` for many bookings in two queries."""
    by_booking: dict[int, list[Payment]] = {}
    ids = [b.pk for b in bookings]
    for payment in Payment.objects.filter(booking_id__in=ids).prefetch_related("refunds"):
        by_booking.setdefault(payment.booking_id, []).append(payment)
    return {b.pk: payment_state(b, payments=by_booking.get(b.pk, []), now=now) for b in bookings}
