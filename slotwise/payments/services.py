"""Every write about money (ARCHITECTURE: services for writes, keyword-only, in a transaction,
audited).

The rules that keep money right:

- **Facts, not transitions.** A payment's status is derived from the facts providers reported
  (`state.py`); applying a callback joins its facts into the stored ones under a row lock. The same
  event ten times, or events out of order, can't move a payment twice or wrongly.
- **Callbacks are stored first, applied by the pump.** Each authentic event is inserted into
  `PaymentEvent` as pending, `(provider, event_id)` unique, and the provider is answered
  (`callback_store`): a replay finds its id taken and changes nothing. The payments pump
  (`payment_events_apply_pending`, in the worker) applies pending events under the payments' row
  locks; a crash before its commit leaves them pending, to be applied again. Events confirmed by
  fetching them from the provider (`confirm_by_retrieve`) are applied in the request.
- **Idempotency keys at the provider.** `payment_start` creates the remote payment with the
  payment's own `idempotency_key`; if the process dies after the provider answered but before we
  saved, `payment_reconcile` asks again with the same key (the provider returns the same
  payment, it never charges twice) or fetches its state by reference — nothing is lost.
- **Refunds** are written as a pending `Refund` under the payment's lock (so two clicks can't
  refund more than was paid) and executed by the worker with the refund's own idempotency key.
- **What a payment pays for** follows in the same transaction: a paid booking prepayment confirms
  the booking (or, if its hold lapsed and the time was taken, the money is refunded at once), a
  paid invoice or webshop order is marked paid.
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from slotwise.core.errors import ValidationError
from slotwise.core.money import Money
from slotwise.customers.services import timeline_add

from . import state as st
from .models import (
    SETTLED_STATUSES,
    Holder,
    Payment,
    PaymentEvent,
    PaymentStatus,
    ProviderConfig,
    Purpose,
    Refund,
    RefundStatus,
    StatusChange,
)
from .providers import providers
from .providers.base import (
    CallbackRejected,
    NextAction,
    PaymentProvider,
    PaymentRequest,
    ProviderError,
    ProviderEvent,
    ProviderState,
    RefundRequest,
)

logger = logging.getLogger("slotwise.payments")

# Manual methods (S2.8) and who holds the money until it reaches the company.
MANUAL_METHODS: dict[str, str] = {
    "cash": Holder.STAFF,
    "check": Holder.STAFF,
    "zelle": Holder.COMPANY,
    "cash_app": Holder.COMPANY,
    "venmo": Holder.COMPANY,
    "paypal": Holder.COMPANY,
    "card_terminal": Holder.COMPANY,
    "online_terminal": Holder.COMPANY,
}


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


# --- providers --------------------------------------------------------------------------------


def provider_for(*, organisation, kind: str) -> PaymentProvider:
    """The provider `kind` as configured for the organisation. `manual` needs no configuration;
    every other provider must be enabled in a ProviderConfig."""
    if kind not in providers:
        raise ValidationError({"provider": _("Unknown payment provider.")})
    config = (
        ProviderConfig.objects.filter(organisation=organisation, provider=kind, enabled=True)
        .order_by("pk")  # (the model's ordering would join the organisation)
        .values_list("settings", flat=True)
        .first()
    )
    if config is None and kind != "manual":
        raise ValidationError(
            {"provider": _("This payment method is not enabled for the organisation.")}
        )
    return providers.create(kind, settings=config or {}, organisation_id=organisation.pk)


def _provider_of(payment: Payment) -> PaymentProvider:
    config = (
        ProviderConfig.objects.filter(
            organisation_id=payment.organisation_id, provider=payment.provider
        )
        .values_list("settings", flat=True)
        .first()
    )
    return providers.create(
        payment.provider, settings=config or {}, organisation_id=payment.organisation_id
    )


# --- creating and starting payments -----------------------------------------------------------


def payment_create(
    *,
    organisation,
    provider: str,
    amount: Money,
    purpose: str = Purpose.OTHER,
    contact=None,
    booking=None,
    invoice=None,
    order=None,
    work_order=None,
    payer_phone: str = "",
    return_url: str = "",
    expires_at: datetime.datetime | None = None,
    actor=None,
) -> Payment:
    """A payment to collect `amount` through `provider`, not yet sent to the provider (status
    created). Call it inside the transaction that creates what it pays for; call
    `payment_start` after commit."""
    errors: dict[str, str] = {}
    if not isinstance(amount, Money):
        raise ValidationError({"amount": _("Enter an amount.")})
    if amount.amount <= 0:
        errors["amount"] = _("The amount must be more than zero.")
    if purpose not in Purpose.values:
        errors["purpose"] = _("Unknown purpose.")
    if errors:
        raise ValidationError(errors)
    impl = provider_for(organisation=organisation, kind=provider)
    if impl.manual:
        raise ValidationError(
            {"provider": _("Manual payments are recorded, not started: use the manual form.")}
        )
    if not impl.accepts(amount.currency):
        raise ValidationError(
            {
                "provider": _("This payment method does not accept %(currency)s.")
                % {"currency": amount.currency}
            }
        )
    with transaction.atomic():
        payment = Payment.objects.create(
            organisation=organisation,
            provider=provider,
            purpose=purpose,
            amount=amount.amount,
            currency=amount.currency,
            contact=contact,
            booking=booking,
            invoice=invoice,
            order=order,
            work_order=work_order,
            payer_phone=payer_phone,
            return_url=return_url[:500],
            expires_at=expires_at,
            created_by=_user(actor),
        )
        if contact is not None:
            timeline_add(
                contact=contact,
                kind="payment.created",
                summary=_("Payment of %(amount)s requested") % {"amount": amount},
                data={"payment": str(payment.public_id)},
                actor=actor,
            )
    return payment


def _request_for(payment: Payment, *, flow: str = "", callback_url: str = "") -> PaymentRequest:
    contact = payment.contact
    return PaymentRequest(
        payment_id=str(payment.public_id),
        amount=payment.money,
        description=_describe(payment),
        idempotency_key=str(payment.idempotency_key),
        return_url=payment.return_url,
        callback_url=callback_url or callback_url_for(payment),
        payer_phone=payment.payer_phone or (contact.phone if contact else ""),
        payer_email=contact.email if contact else "",
        language=(contact.language if contact else "en"),
        flow=flow,
    )


def _describe(payment: Payment) -> str:
    if payment.booking_id:
        return _("Booking %(type)s") % {"type": payment.booking.type.name}
    if payment.invoice_id:
        return _("Invoice %(number)s") % {"number": payment.invoice.number}
    if payment.order_id:
        return _("Webshop order")
    return payment.get_purpose_display()


def callback_url_for(payment: Payment) -> str:
    from django.conf import settings
    from django.urls import reverse

    path = reverse(
        "payments:callback",
        kwargs={"provider": payment.provider, "org_slug": payment.organisation.slug},
    )
    return settings.SITE_URL.rstrip("/") + path


def payment_start(*, payment: Payment, flow: str = "", callback_url: str = "") -> Payment:
    """Create the payment at the provider (outside any transaction: the provider call may take
    seconds) and store its reference, next action and first facts. Safe to call again: the
    provider sees the same idempotency key."""
    if payment.status not in (PaymentStatus.CREATED, PaymentStatus.PENDING):
        return payment
    impl = _provider_of(payment)
    try:
        result = impl.prepare(_request_for(payment, flow=flow, callback_url=callback_url))
    except ProviderError as exc:
        if exc.permanent:
            return _apply(
                payment_id=payment.pk,
                state=ProviderState(
                    reference=payment.provider_reference, failed=True, failure_reason=str(exc)[:255]
                ),
            )[0]
        raise
    return _apply(payment_id=payment.pk, state=result)[0]


def payment_reconcile(*, payment: Payment) -> Payment:
    """Bring an open payment up to date with the provider: ask again with the same idempotency
    key when we never stored a reference (a worker died after the provider answered), then fetch
    its state. Used by the reconciliation task and as the backup for lost callbacks."""
    if payment.provider == "manual":
        return payment
    impl = _provider_of(payment)
    if not payment.provider_reference:
        # The same key gives back the same payment, but as the provider first answered (YooKassa
        # and Stripe replay that answer): store its reference, then fetch what it is now.
        payment = _apply(payment_id=payment.pk, state=impl.prepare(_request_for(payment)))[0]
        if not payment.provider_reference:
            return payment
    result = impl.retrieve(payment.provider_reference)
    return _apply(payment_id=payment.pk, state=result)[0]


def payment_cancel(*, payment: Payment, reason: str = "", actor=None) -> Payment:
    """Give up on an open payment (its hold lapsed, the customer went away). If the provider
    already captured it, its facts win and the payment is paid after all."""
    if payment.status not in (PaymentStatus.CREATED, PaymentStatus.PENDING):
        return payment
    result = None
    if payment.provider_reference and payment.provider != "manual":
        try:
            result = _provider_of(payment).cancel(payment.provider_reference)
        except ProviderError:
            result = None
    state = ProviderState(
        reference=payment.provider_reference, cancelled=True, failure_reason=reason[:255]
    )
    if result is not None:
        _apply(payment_id=payment.pk, state=result)
    return _apply(payment_id=payment.pk, state=state, actor=actor)[0]


# --- manual payments (S2.8) -------------------------------------------------------------------


def manual_payment_record(
    *,
    organisation,
    method: str,
    amount: Money,
    tip: Money | None = None,
    purpose: str = Purpose.ON_SITE,
    received_by=None,
    contact=None,
    booking=None,
    invoice=None,
    order=None,
    work_order=None,
    actor=None,
) -> Payment:
    """Record money taken outside any system (cash, a check, Zelle …): paid at once, with who
    holds it — the staff member for cash and checks until they hand it over, else the company."""
    errors: dict[str, str] = {}
    if method not in MANUAL_METHODS:
        errors["method"] = _("Choose how it was paid.")
    if not isinstance(amount, Money) or amount.amount <= 0:
        errors["amount"] = _("The amount must be more than zero.")
    if tip is not None and isinstance(amount, Money):
        if tip.currency != amount.currency:
            errors["tip"] = _("The tip must be in the same currency.")
        elif tip.amount < 0:
            errors["tip"] = _("A tip can't be negative.")
    holder = MANUAL_METHODS.get(method, Holder.COMPANY)
    if holder == Holder.STAFF and received_by is None:
        errors["received_by"] = _("Say who received the money.")
    if errors:
        raise ValidationError(errors)
    total = amount + tip if tip is not None else amount
    with transaction.atomic():
        payment = Payment.objects.create(
            organisation=organisation,
            provider="manual",
            method=method,
            purpose=purpose,
            amount=amount.amount,
            currency=amount.currency,
            tip_amount=tip.amount if tip is not None else Decimal("0"),
            holder=holder,
            received_by=received_by,
            contact=contact,
            booking=booking,
            invoice=invoice,
            order=order,
            work_order=work_order,
            created_by=_user(actor),
            provider_reference=f"manual-{uuid.uuid4()}",
        )
        _apply(
            payment_id=payment.pk,
            state=ProviderState(reference=payment.provider_reference, paid=total),
            actor=actor,
        )
        payment.refresh_from_db()
    return payment


def manual_payment_hand_over(*, payments: list[Payment], actor=None) -> int:
    """Mark cash and checks held by staff as handed over to the company."""
    ids = [p.pk for p in payments if p.holder == Holder.STAFF and p.handed_over_at is None]
    with transaction.atomic():
        return Payment.objects.filter(pk__in=ids, handed_over_at__isnull=True).update(
            handed_over_at=timezone.now()
        )


# --- applying facts ---------------------------------------------------------------------------


def _facts(payment: Payment) -> st.Facts:
    return st.Facts(
        pending=payment.reported_pending,
        paid=payment.paid_amount,
        refunded=payment.refunded_amount,
        failed=payment.reported_failed,
        cancelled=payment.reported_cancelled,
    )


def _apply(
    *,
    payment_id: int,
    state: ProviderState,
    event: PaymentEvent | None = None,
    actor=None,
    locked: Payment | None = None,
    store_event=None,
) -> tuple[Payment, bool]:
    """Join the provider's facts into the payment under its row lock; write a StatusChange, the
    timeline and the consequences only if the derived status changed. Returns (payment, changed).
    `locked`: the payment, already locked by the caller in the current transaction.
    `store_event(changed)`: writes the event that reported the facts, with its outcome, once it
    is known and before anything else is written (a duplicate fails there at once)."""
    # No savepoint of its own: an error here rolls back the caller's transaction as a whole.
    with transaction.atomic(savepoint=False):
        if locked is not None and locked.pk == payment_id:
            payment = locked
        else:
            payment = _lock_payment(Payment.objects.filter(pk=payment_id))
            if payment is None:
                raise Payment.DoesNotExist(payment_id)
        currency = payment.currency
        for amount in (state.paid, state.refunded, state.fee):
            if amount is not None and amount.currency != currency:
                raise CallbackRejected("currency does not match the payment")
        refunded = state.refunded.amount if state.refunded is not None else Decimal("0")
        if state.refunds:
            refunded = max(refunded, _sync_refunds(payment, state.refunds))
        incoming = st.Facts(
            pending=state.pending,
            paid=state.paid.amount if state.paid is not None else Decimal("0"),
            refunded=refunded,
            failed=state.failed,
            cancelled=state.cancelled,
        )
        before = _facts(payment)
        after = before.join(incoming)
        old_status = payment.status
        new_status = st.status_of(after)
        if store_event is not None:
            event = store_event(new_status != old_status)
        fields: list[str] = []
        if after != before:
            payment.reported_pending = after.pending
            payment.paid_amount = after.paid
            # Stored refunds never exceed what was captured; the surplus waits for the capture.
            payment.refunded_amount = after.refunded
            payment.reported_failed = after.failed
            payment.reported_cancelled = after.cancelled
            fields += [
                "reported_pending",
                "paid_amount",
                "refunded_amount",
                "reported_failed",
                "reported_cancelled",
            ]
        if state.reference and not payment.provider_reference:
            payment.provider_reference = state.reference[:120]
            fields.append("provider_reference")
        if state.next_action is not None and state.next_action.as_dict() != payment.next_action:
            payment.next_action = state.next_action.as_dict()
            fields.append("next_action")
        if state.fee is not None and payment.fee_amount != state.fee.amount:
            payment.fee_amount = state.fee.amount
            fields.append("fee_amount")
        if (
            state.failure_reason
            and not payment.failure_reason
            and new_status
            in (
                PaymentStatus.FAILED,
                PaymentStatus.CANCELLED,
            )
        ):
            payment.failure_reason = state.failure_reason[:255]
            fields.append("failure_reason")
        changed = new_status != old_status
        if changed:
            payment.status = new_status
            fields.append("status")
            if new_status == PaymentStatus.PAID and payment.paid_at is None:
                payment.paid_at = timezone.now()
                fields.append("paid_at")
        if fields:
            # The DB constraint keeps refunded ≤ paid once paid; before a capture it holds any
            # refund seen early, which the status ignores until the capture arrives.
            if payment.paid_amount and payment.refunded_amount > payment.paid_amount:
                payment.refunded_amount = payment.paid_amount
            payment._change_reason = f"event {event.event_id}" if event else "provider state"
            payment.save(update_fields=[*fields, "updated_at"])
        if changed:
            StatusChange.objects.create(
                payment=payment, old_status=old_status, new_status=new_status, event=event
            )
            if payment.contact_id:
                timeline_add(
                    contact=payment.contact,
                    kind=f"payment.{new_status}",
                    summary=_("Payment of %(amount)s: %(status)s")
                    % {"amount": payment.money, "status": payment.get_status_display()},
                    data={"payment": str(payment.public_id)},
                    actor=actor,
                )
            _after_status_change(payment=payment, old=old_status, new=new_status, actor=actor)
        elif after != before and payment.invoice_id:
            # A second partial refund keeps the status but changes what the invoice got.
            _invoice_payment_changed(payment=payment)
    return payment, changed


def _lock_payment(queryset, *, organisation=None) -> Payment | None:
    """The payment of `queryset` locked for update, with what the timeline needs (only the
    payment's row is locked). Pass the `organisation` when the caller has it: it is not read
    again (a callback's hot path)."""
    related = "contact" if organisation is not None else "contact__organisation"
    rows = list(queryset.select_for_update(of=("self",)).select_related(related).order_by()[:1])
    payment = rows[0] if rows else None
    if payment is not None and organisation is not None:
        if payment.organisation_id == organisation.pk:
            payment.organisation = organisation
        contact = payment.contact
        if contact is not None and contact.organisation_id == organisation.pk:
            contact.organisation = organisation
    return payment


def _sync_refunds(payment: Payment, refunds) -> Decimal:
    """Record refunds the provider reports (by its reference, once each); the refunded total.
    The payment's refunds are read once (a payment has few) and matched here."""
    known = list(Refund.objects.filter(payment=payment).order_by("pk"))
    for reference, money, status in refunds:
        refund = next((r for r in known if r.provider_reference == reference), None)
        if refund is None:
            try:
                refund_uuid = uuid.UUID(str(reference))
            except ValueError:
                refund_uuid = None
            if refund_uuid:
                refund = next((r for r in known if r.idempotency_key == refund_uuid), None)
        if refund is None:
            # Created with the reported status at once (one write and one history row).
            done = status in (RefundStatus.SUCCEEDED, RefundStatus.FAILED)
            refund = Refund.objects.create(
                organisation_id=payment.organisation_id,
                payment=payment,
                amount=money.amount,
                reason=_("Refunded at the provider"),
                provider_reference=reference[:120],
                status=status if status in RefundStatus.values else RefundStatus.PENDING,
                completed_at=timezone.now() if done else None,
            )
            known.append(refund)
        if refund.status != status and refund.status != RefundStatus.SUCCEEDED:
            refund.status = status
            refund.provider_reference = refund.provider_reference or reference[:120]
            if status == RefundStatus.SUCCEEDED:
                refund.completed_at = timezone.now()
            refund.save(
                update_fields=["status", "provider_reference", "completed_at", "updated_at"]
            )
    return sum(
        (r.amount for r in known if r.status == RefundStatus.SUCCEEDED),
        Decimal("0"),
    )


# --- what a payment pays for ------------------------------------------------------------------

#: Extra consequences per linked object: callables (payment, old, new, actor) registered by other
#: apps (the work-orders issue registers its own); booking, invoice and order are handled here.
STATUS_HOOKS: list[Any] = []


def _after_status_change(*, payment: Payment, old: str, new: str, actor=None) -> None:
    if payment.booking_id and payment.purpose in (Purpose.FULL, Purpose.DEPOSIT):
        _booking_payment_changed(payment=payment, old=old, new=new, actor=actor)
    if payment.invoice_id:
        _invoice_payment_changed(payment=payment)
    if payment.order_id:
        _order_payment_changed(payment=payment, new=new)
    for hook in STATUS_HOOKS:
        hook(payment=payment, old=old, new=new, actor=actor)


def _booking_payment_changed(*, payment: Payment, old: str, new: str, actor=None) -> None:
    """Paid → the held booking is confirmed. If its hold lapsed, it is revived when its time is
    still free, else the money goes back at once (documented rule, see `booking.py`)."""
    from .booking import on_prepayment_paid

    if new != PaymentStatus.PAID or old in SETTLED_STATUSES:
        return
    on_prepayment_paid(payment=payment, actor=actor)


def _invoice_payment_changed(*, payment: Payment) -> None:
    from .invoices import invoice_recompute_paid

    invoice_recompute_paid(invoice=payment.invoice)


def _order_payment_changed(*, payment: Payment, new: str) -> None:
    from .models import ShopOrderStatus

    order = payment.order
    if new == PaymentStatus.PAID and order.status == ShopOrderStatus.AWAITING_PAYMENT:
        order.status = ShopOrderStatus.PAID
        order.save(update_fields=["status", "updated_at"])


# --- callbacks --------------------------------------------------------------------------------
#
# Stored first, applied by the pump: a signed provider's callback is authenticated, stored as a
# *pending* PaymentEvent (with the event as the provider reported it, `parsed`) and answered at
# once (Stripe's advice: "return a 2xx quickly before any complex logic"); the payments pump
# (`payment_events_apply_pending`, run by the worker) applies it shortly after. An event that must
# be confirmed by fetching it from the provider (`confirm_by_retrieve`: Swish, YooKassa) keeps the
# synchronous path: its answer (200, or 409 so that the provider sends it again) depends on what
# the provider says now, which only the request can tell it.

#: (organisation id, provider) → (monotonic expiry, the enabled config's settings or None), and
#: organisation slug → (monotonic expiry, id): each process remembers them for
#: `PAYMENTS_CALLBACK_CACHE_SECONDS` (default 5), sparing every callback two queries. Saving or
#: deleting a ProviderConfig or an Organisation clears them in this process; other processes see a
#: disabled provider, new settings or a renamed organisation within those seconds.
_PROVIDER_SETTINGS: dict[tuple[int, str], tuple[float, dict | None]] = {}
_ORG_IDS: dict[str, tuple[float, int]] = {}
_CACHE_MAX = 10_000


def _cache_seconds() -> float:
    from .conf import setting

    return setting("PAYMENTS_CALLBACK_CACHE_SECONDS", 5.0)


def _forget_cached(**kwargs) -> None:
    _PROVIDER_SETTINGS.clear()
    _ORG_IDS.clear()


def _connect_cache_signals() -> None:
    from django.db.models.signals import post_delete, post_save

    from slotwise.org.models import Organisation

    for model in (ProviderConfig, Organisation):
        uid = f"payments.callback_cache.{model.__name__}"
        post_save.connect(_forget_cached, sender=model, dispatch_uid=uid)
        post_delete.connect(_forget_cached, sender=model, dispatch_uid=uid + ".delete")


_connect_cache_signals()


def organisation_id_for_slug(slug: str) -> int | None:
    """The id of the organisation with this slug (cached, see `_ORG_IDS`)."""
    from slotwise.org.models import Organisation

    now = time.monotonic()
    hit = _ORG_IDS.get(slug)
    if hit is not None and hit[0] > now:
        return hit[1]
    org_id = Organisation.objects.filter(slug=slug).values_list("pk", flat=True).first()
    seconds = _cache_seconds()
    if org_id is not None and seconds > 0:
        if len(_ORG_IDS) >= _CACHE_MAX:
            _ORG_IDS.clear()
        _ORG_IDS[slug] = (now + seconds, org_id)
    return org_id


def _callback_provider(*, organisation_id: int, kind: str) -> PaymentProvider | None:
    """The provider `kind` as enabled for the organisation (as `provider_for`, its settings
    cached, see `_PROVIDER_SETTINGS`); None when it is unknown or not enabled."""
    if kind not in providers:
        return None
    now = time.monotonic()
    key = (organisation_id, kind)
    hit = _PROVIDER_SETTINGS.get(key)
    if hit is not None and hit[0] > now:
        config = hit[1]
    else:
        config = (
            ProviderConfig.objects.filter(
                organisation_id=organisation_id, provider=kind, enabled=True
            )
            .order_by("pk")
            .values_list("settings", flat=True)
            .first()
        )
        seconds = _cache_seconds()
        if seconds > 0:
            if len(_PROVIDER_SETTINGS) >= _CACHE_MAX:
                _PROVIDER_SETTINGS.clear()
            _PROVIDER_SETTINGS[key] = (now + seconds, config)
    if config is None and kind != "manual":
        return None
    return providers.create(kind, settings=dict(config or {}), organisation_id=organisation_id)


def _money_json(money: Money | None) -> list[str] | None:
    return None if money is None else [str(money.amount), money.currency]


def _money_of(value) -> Money | None:
    return None if value is None else Money(Decimal(value[0]), value[1])


def event_to_json(event: ProviderEvent) -> dict[str, Any]:
    """What an authenticated event reported, as stored in `PaymentEvent.parsed` (the state's
    `raw` is not kept: the raw body is)."""
    state = event.state
    return {
        "event_id": event.event_id,
        "payment_id": event.payment_id,
        "state": {
            "reference": state.reference,
            "pending": state.pending,
            "paid": _money_json(state.paid),
            "refunded": _money_json(state.refunded),
            "failed": state.failed,
            "cancelled": state.cancelled,
            "failure_reason": state.failure_reason,
            "fee": _money_json(state.fee),
            "refunds": [
                [reference, str(money.amount), money.currency, status]
                for reference, money, status in state.refunds
            ],
            "next_action": state.next_action.as_dict() if state.next_action else None,
        },
    }


def event_from_json(data: dict[str, Any]) -> ProviderEvent:
    """The `ProviderEvent` stored by `event_to_json`."""
    state = data["state"]
    action = state.get("next_action")
    return ProviderEvent(
        event_id=data["event_id"],
        payment_id=data.get("payment_id", ""),
        state=ProviderState(
            reference=state.get("reference", ""),
            pending=bool(state.get("pending")),
            paid=_money_of(state.get("paid")),
            refunded=_money_of(state.get("refunded")),
            failed=bool(state.get("failed")),
            cancelled=bool(state.get("cancelled")),
            failure_reason=state.get("failure_reason", ""),
            fee=_money_of(state.get("fee")),
            refunds=tuple(
                (reference, Money(Decimal(amount), currency), status)
                for reference, amount, currency, status in state.get("refunds", ())
            ),
            next_action=NextAction(**action) if action else None,
        ),
    )


def callback_store(
    *, provider: str, organisation_id: int, body: bytes, headers: dict[str, str], remote_addr: str
) -> tuple[int, str, str]:
    """Authenticate one inbound callback and store its events as pending, to be applied by the
    payments pump (`payment_events_apply_pending`). Returns the HTTP answer (status, content type,
    body): the provider's own answer to an accepted callback, also for a duplicate (its event id
    is stored already and nothing is written). A forged or stale callback is stored as rejected
    (under an id of its own, so it can't block the real event) and answered with 4xx. Events that
    must be confirmed at the provider (`confirm_by_retrieve`) are applied here and now."""
    answer, _stored = _store(
        provider=provider,
        organisation_id=organisation_id,
        body=body,
        headers=headers,
        remote_addr=remote_addr,
    )
    return answer


def callback_receive(
    *, provider: str, organisation, body: bytes, headers: dict[str, str], remote_addr: str
) -> tuple[int, str, str]:
    """Authenticate, store and apply one inbound callback at once, in this process (the test
    provider's checkout page and other in-process callers; the HTTP callback URL only stores,
    `callback_store`). Returns the HTTP answer as `callback_store`."""
    answer, stored = _store(
        provider=provider,
        organisation_id=organisation.pk,
        body=body,
        headers=headers,
        remote_addr=remote_addr,
    )
    if stored:
        # A pump that claimed one of them at the same moment applies it (SKIP LOCKED).
        _apply_pending(limit=len(stored), provider=provider, event_ids=stored)
    return answer


def _store(
    *, provider: str, organisation_id: int, body: bytes, headers: dict[str, str], remote_addr: str
) -> tuple[tuple[int, str, str], list[str]]:
    impl = _callback_provider(organisation_id=organisation_id, kind=provider)
    if impl is None:
        return (404, "application/json", '{"error": "unknown provider"}'), []
    raw = body.decode("utf-8", errors="replace")
    kept_headers = {
        k: v for k, v in headers.items() if k.lower() not in ("cookie", "authorization")
    }
    stored: list[str] = []
    try:
        events = impl.parse_callback(body=body, headers=headers, remote_addr=remote_addr)
        later = [e for e in events if not e.confirm_by_retrieve]
        if later:
            stored = _insert_pending(
                organisation_id=organisation_id,
                provider=provider,
                events=later,
                body=raw[:100_000],
                headers=kept_headers,
            )
        now = [e for e in events if e.confirm_by_retrieve]
        if now:
            from slotwise.org.models import Organisation

            organisation = Organisation.objects.get(pk=organisation_id)
            for event in now:
                _receive_event(
                    impl=impl,
                    provider=provider,
                    organisation=organisation,
                    event=event,
                    raw=raw,
                    headers=kept_headers,
                )
    except CallbackRejected as exc:
        PaymentEvent.objects.create(
            organisation_id=organisation_id,
            provider=provider,
            event_id=f"rejected:{uuid.uuid4()}",
            body=raw[:100_000],
            headers=kept_headers,
            outcome=PaymentEvent.Outcome.REJECTED,
            detail=str(exc)[:255],
        )
        return (exc.status, "application/json", '{"error": "rejected"}'), []
    return impl.callback_response(events), stored


def _insert_pending(
    *, organisation_id: int, provider: str, events: list[ProviderEvent], body: str, headers: dict
) -> list[str]:
    """`INSERT … ON CONFLICT DO NOTHING` of the events as pending, in one statement: a duplicate
    finds its `(provider, event_id)` taken and changes nothing. Written as SQL because the ORM's
    `bulk_create(ignore_conflicts=True)` cost the callback a third of its CPU to build it."""
    import json

    from django.db import connection

    ops = connection.ops
    meta = PaymentEvent._meta
    names = (
        "created_at",
        "updated_at",
        "organisation",
        "provider",
        "event_id",
        "body",
        "headers",
        "outcome",
        "detail",
        "parsed",
    )
    columns = ", ".join(ops.quote_name(meta.get_field(name).column) for name in names)
    now = ops.adapt_datetimefield_value(timezone.now())
    headers_json = json.dumps(headers)
    ids = [event.event_id[:200] for event in events]
    params: list[Any] = []
    for event_id, event in zip(ids, events, strict=True):
        params += [now, now, organisation_id, provider, event_id, body, headers_json]
        params += [PaymentEvent.Outcome.PENDING.value, "", json.dumps(event_to_json(event))]
    row = "(" + ", ".join(["%s"] * len(names)) + ")"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ops.quote_name(meta.db_table)} ({columns}) VALUES "
            + ", ".join([row] * len(events))
            + " ON CONFLICT DO NOTHING",
            params,
        )
    return ids


# --- the payments pump: applying stored events ------------------------------------------------


def payment_events_apply_pending(*, limit: int = 100) -> int:
    """Apply up to `limit` pending callback events, oldest first; returns how many were done
    (applied, no change, unknown payment, rejected or failed).

    The events are claimed with SKIP LOCKED (several workers share the work) in ONE transaction;
    their payments are found together and locked together in id order (two pumps never wait for
    each other in a circle). Each event is applied in a savepoint of its own through `_apply`, so
    one bad event is marked *failed* (with the error as its detail, and not tried again) without
    holding back the others. Double transitions stay impossible: each event joins its facts into
    its payment's under the payment's row lock, and a status change is written only when the
    derived status changes.

    The batch commits without waiting for the WAL flush (`synchronous_commit = off`, PostgreSQL):
    the events themselves were stored durably by the callback, and a crash can only lose a batch's
    effects together with its outcomes — the events are then applied again, which changes nothing
    twice (facts join)."""
    return _apply_pending(limit=limit)


def _apply_pending(*, limit: int, provider: str = "", event_ids: list[str] | None = None) -> int:
    try:
        return _apply_batch(limit=limit, provider=provider, event_ids=event_ids)
    except _BatchFailed as failed:
        logger.warning("payment events batch failed, applying its events one by one", exc_info=True)
        ids = failed.ids
    done = 0
    for pk in ids:
        try:
            done += _apply_batch(limit=1, pks=[pk])
        except Exception as exc:
            logger.exception("payment event %s failed", pk)
            done += PaymentEvent.objects.filter(pk=pk, outcome=PaymentEvent.Outcome.PENDING).update(
                outcome=PaymentEvent.Outcome.FAILED,
                detail=str(exc)[:255],
                updated_at=timezone.now(),
            )
    return done


class _BatchFailed(Exception):
    def __init__(self, ids: list[int]) -> None:
        super().__init__(f"batch of {len(ids)} payment events failed")
        self.ids = ids


def _apply_batch(
    *,
    limit: int,
    provider: str = "",
    event_ids: list[str] | None = None,
    pks: list[int] | None = None,
) -> int:
    from django.db import connection
    from django.db.models import Q

    claimed: list[int] = []
    if event_ids is None and pks is None:
        # An idle pump asks with one indexed read (the partial index of pending events) instead
        # of opening a write transaction five times a second (SQLite's are immediate).
        if not PaymentEvent.objects.filter(outcome=PaymentEvent.Outcome.PENDING).exists():
            return 0
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            qs = PaymentEvent.objects.filter(outcome=PaymentEvent.Outcome.PENDING).order_by("id")
            if event_ids is not None:
                qs = qs.filter(provider=provider, event_id__in=event_ids)
            if pks is not None:
                qs = qs.filter(pk__in=pks)
            if connection.features.has_select_for_update_skip_locked:
                qs = qs.select_for_update(skip_locked=True)
            rows = list(qs.only("id", "organisation_id", "provider", "event_id", "parsed")[:limit])
            if not rows:
                return 0
            claimed = [row.pk for row in rows]
            events: dict[int, ProviderEvent | Exception] = {}
            for row in rows:
                try:
                    events[row.pk] = event_from_json(row.parsed)
                except Exception as exc:  # not a stored event we can read
                    events[row.pk] = exc
            by_id, by_reference = _keys(rows, events)
            lookup = Q(pk__in=[])
            if by_id:
                lookup |= Q(public_id__in={key[2] for key in by_id.values()})
            if by_reference:
                lookup |= Q(provider_reference__in={key[2] for key in by_reference.values()})
            payments: dict[tuple, Payment] = {}
            if by_id or by_reference:
                # One statement finds and locks them all, in id order.
                found = (
                    Payment.objects.filter(lookup)
                    .filter(
                        organisation_id__in={row.organisation_id for row in rows},
                        provider__in={row.provider for row in rows},
                    )
                    .select_for_update(of=("self",))
                    .select_related("organisation", "contact")
                    .order_by("pk")
                )
                for payment in found:
                    org, kind = payment.organisation_id, payment.provider
                    contact = payment.contact
                    if contact is not None and contact.organisation_id == org:
                        contact.organisation = payment.organisation  # for the timeline
                    payments[(org, kind, payment.public_id)] = payment
                    if payment.provider_reference:
                        payments.setdefault((org, kind, payment.provider_reference), payment)
            stale: set[int] = set()  # payments whose objects an error left out of date
            now = timezone.now()
            for row in rows:
                _apply_stored(row, events[row.pk], by_id, by_reference, payments, stale, now)
                row.updated_at = now
            _save_outcomes(rows)
            return len(rows)
    except Exception as exc:
        if claimed:
            raise _BatchFailed(claimed) from exc
        raise


def _save_outcomes(rows: list[PaymentEvent]) -> None:
    """The claimed events' outcomes, one prepared UPDATE per event sent together (executemany:
    pipelined by psycopg) — a fraction of what `bulk_update`'s CASE expressions cost to build."""
    from django.db import connection

    ops = connection.ops
    table = ops.quote_name(PaymentEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET outcome = %s, payment_id = %s, detail = %s, updated_at = %s"
            " WHERE id = %s",
            [
                (
                    r.outcome,
                    r.payment_id,
                    r.detail,
                    ops.adapt_datetimefield_value(r.updated_at),
                    r.pk,
                )
                for r in rows
            ],
        )


def _keys(rows, events) -> tuple[dict[int, tuple], dict[int, tuple]]:
    """How each event finds its payment: our public id when the provider echoes it, else the
    provider's reference (an event with neither finds none)."""
    by_id: dict[int, tuple] = {}
    by_reference: dict[int, tuple] = {}
    for row in rows:
        event = events[row.pk]
        if isinstance(event, Exception):
            continue
        if event.payment_id:
            try:
                by_id[row.pk] = (
                    row.organisation_id,
                    row.provider,
                    uuid.UUID(event.payment_id),
                )
            except ValueError:
                pass
        elif event.state.reference:
            by_reference[row.pk] = (row.organisation_id, row.provider, event.state.reference)
    return by_id, by_reference


def _apply_stored(row, event, by_id, by_reference, payments, stale, now) -> None:
    """Apply one claimed event in a savepoint and set its outcome on `row` (saved by the
    caller)."""
    Outcome = PaymentEvent.Outcome
    row.detail = ""
    row.payment = None
    if isinstance(event, Exception):
        row.outcome, row.detail = Outcome.FAILED, f"unreadable event: {event}"[:255]
        return
    key = by_id.get(row.pk) or by_reference.get(row.pk)
    payment = payments.get(key) if key else None
    row.payment = payment
    if payment is None:
        row.outcome = Outcome.UNKNOWN_PAYMENT
        return
    if payment.pk in stale:
        # An earlier event's error was rolled back: read the payment again (still locked).
        payment.refresh_from_db()
        stale.discard(payment.pk)
    try:
        with transaction.atomic():
            _payment, changed = _apply(
                payment_id=payment.pk, state=event.state, locked=payment, event=row
            )
        row.outcome = Outcome.APPLIED if changed else Outcome.NO_CHANGE
    except CallbackRejected as exc:
        stale.add(payment.pk)
        row.outcome, row.detail = Outcome.REJECTED, str(exc)[:255]
    except Exception as exc:
        logger.exception("payment event %s (%s) failed", row.pk, row.event_id)
        stale.add(payment.pk)
        row.outcome, row.detail = Outcome.FAILED, str(exc)[:255]


def _receive_event(
    *, impl: PaymentProvider, provider: str, organisation, event: ProviderEvent, raw, headers
) -> PaymentEvent | None:
    payment_qs = Payment.objects.filter(organisation=organisation, provider=provider)
    if event.payment_id:
        try:
            payment_qs = payment_qs.filter(public_id=uuid.UUID(event.payment_id))
        except ValueError:
            payment_qs = payment_qs.none()
    else:
        payment_qs = payment_qs.filter(provider_reference=event.state.reference)
    state = event.state
    payment_id = None
    if event.confirm_by_retrieve:
        payment_id = payment_qs.values_list("pk", flat=True).first()
    if payment_id is not None and event.confirm_by_retrieve:
        if PaymentEvent.objects.filter(provider=provider, event_id=event.event_id).exists():
            return None  # a replay: don't even ask the provider again
        state = impl.retrieve(event.state.reference)
        if not _confirms(claimed=event.state, fetched=state):
            # Not (yet) true at the provider: keep the event's id free for the genuine delivery
            # and answer 409, so that the provider sends it again.
            raise CallbackRejected("the provider's state does not confirm the event", status=409)
    try:
        with transaction.atomic():
            # One statement finds and locks the payment before the event is stored (a duplicate
            # delivered at the same time waits for the lock, then finds its event id taken).
            payment = _lock_payment(payment_qs, organisation=organisation)
            stored: list[PaymentEvent] = []

            def store(outcome: str) -> PaymentEvent:
                stored.append(
                    PaymentEvent.objects.create(
                        organisation=organisation,
                        provider=provider,
                        event_id=event.event_id[:200],
                        payment=payment,
                        body=raw[:100_000],
                        headers=headers,
                        outcome=outcome,
                    )
                )
                return stored[0]

            if payment is None:
                return store(PaymentEvent.Outcome.UNKNOWN_PAYMENT)
            # The event is stored with its outcome as soon as _apply knows it (one write).
            _apply(
                payment_id=payment.pk,
                state=state,
                locked=payment,
                store_event=lambda changed: store(
                    PaymentEvent.Outcome.APPLIED if changed else PaymentEvent.Outcome.NO_CHANGE
                ),
            )
            return stored[0]
    except IntegrityError:
        # The same event again (unique provider + event id): already applied, nothing to do.
        return None


def _confirms(*, claimed: ProviderState, fetched: ProviderState) -> bool:
    """Whether the state fetched from the provider shows at least what a callback claimed."""

    def amount(money: Money | None) -> Decimal:
        return money.amount if money is not None else Decimal("0")

    if amount(fetched.paid) < amount(claimed.paid):
        return False
    if amount(fetched.refunded) < amount(claimed.refunded):
        return False
    if (claimed.failed or claimed.cancelled) and not (fetched.failed or fetched.cancelled):
        return False
    return True


# --- refunds ----------------------------------------------------------------------------------


def refund_create(
    *, payment: Payment, amount: Money, reason: str, actor=None, automatic: bool = False
) -> Refund:
    """A refund of all or part of a captured payment, written as pending under the payment's lock
    (so what is pending and done never exceeds what was paid) and executed by the worker."""
    errors: dict[str, str] = {}
    if not (reason or "").strip():
        errors["reason"] = _("Give a reason for the refund.")
    if not isinstance(amount, Money):
        errors["amount"] = _("Enter an amount.")
    elif amount.currency != payment.currency:
        errors["amount"] = _("The refund must be in the payment's currency.")
    elif amount.amount <= 0:
        errors["amount"] = _("The amount must be more than zero.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        if locked.status not in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED):
            raise ValidationError({"amount": _("Only a paid payment can be refunded.")})
        committed = sum(
            (r.amount for r in locked.refunds.exclude(status=RefundStatus.FAILED)),
            Decimal("0"),
        )
        available = locked.paid_amount - max(committed, locked.refunded_amount)
        if amount.amount > available:
            raise ValidationError(
                {
                    "amount": _("At most %(amount)s can still be refunded.")
                    % {"amount": Money(max(available, Decimal(0)), locked.currency)}
                }
            )
        refund = Refund.objects.create(
            organisation_id=locked.organisation_id,
            payment=locked,
            amount=amount.amount,
            reason=reason.strip()[:255],
            created_by=_user(actor),
        )
        if locked.contact_id:
            timeline_add(
                contact=locked.contact,
                kind="payment.refund_requested",
                summary=_("Refund of %(amount)s: %(reason)s")
                % {"amount": amount, "reason": refund.reason},
                data={"payment": str(locked.public_id), "automatic": automatic},
                actor=actor,
            )
        _enqueue_refund(refund.pk)
    return refund


def _enqueue_refund(refund_id: int) -> None:
    """The refund job is written with the refund (one transaction; see core.tasks)."""
    from slotwise.core.tasks import enqueue_with_transaction

    from .tasks import execute_refund

    enqueue_with_transaction(execute_refund, refund_id=refund_id)


def refund_execute(*, refund_id: int) -> Refund:
    """Send a pending refund to the provider with the refund's idempotency key (a retry after a
    crash asks for the same refund, never a second one) and record the answer."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    payment = refund.payment
    if payment.provider == "manual":
        outcome_ref, outcome_status, reason = f"manual-{refund.idempotency_key}", "succeeded", ""
    else:
        impl = _provider_of(payment)
        try:
            result = impl.refund(
                RefundRequest(
                    payment_reference=payment.provider_reference,
                    payment_id=str(payment.public_id),
                    refund_id=str(refund.idempotency_key),
                    amount=Money(refund.amount, payment.currency),
                    reason=refund.reason,
                    callback_url=callback_url_for(payment),
                )
            )
        except ProviderError as exc:
            if not exc.permanent:
                raise  # the task is retried with the same idempotency key
            result = None
            outcome_ref, outcome_status, reason = "", "failed", str(exc)[:255]
        if result is not None:
            outcome_ref, outcome_status, reason = (
                result.reference,
                result.status,
                result.failure_reason,
            )
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != RefundStatus.PENDING:
            return refund
        refund.provider_reference = outcome_ref[:120] or refund.provider_reference
        refund.failure_reason = reason[:255]
        if outcome_status in (RefundStatus.SUCCEEDED, RefundStatus.FAILED):
            refund.status = outcome_status
            refund.completed_at = timezone.now()
        refund.save(
            update_fields=[
                "provider_reference",
                "failure_reason",
                "status",
                "completed_at",
                "updated_at",
            ]
        )
        if refund.status == RefundStatus.SUCCEEDED:
            _apply(
                payment_id=payment.pk,
                state=ProviderState(
                    reference=payment.provider_reference,
                    refunds=(
                        (
                            refund.provider_reference or str(refund.idempotency_key),
                            Money(refund.amount, payment.currency),
                            RefundStatus.SUCCEEDED,
                        ),
                    ),
                ),
            )
    return refund
