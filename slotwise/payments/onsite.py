"""Payments taken on site (S2.8): what a technician records at the customer's door, or a payment
link the client pays online on the spot.

Two services, keyword-only, for the work-orders issue (and the staff page of `recon_views`):

- `onsite_payment_record(...)` — money taken with a manual method, with an optional tip: cash and
  checks stay with the staff member who took them until handed over to the company (the
  reconciliation report shows them as owed); Zelle, Cash App, Venmo, PayPal, a card terminal and an
  online terminal go to the company. The payment is paid at once (`services.manual_payment_record`).
- `payment_link_create(...)` — a Payment (purpose ``on_site``) not yet sent to any provider, and
  the URL of its page `/payments/link/<public id>/`, where the client picks one of the
  organisation's online providers and pays through the shared pay page (`payments:pay`). The link
  can be sent by SMS and/or e-mail through the outbox in the same transaction. Until the client
  chooses, the payment's next action is ``choose`` (the reconciliation job leaves it alone); it
  expires after `LINK_VALID` (the job then cancels it).

A link is single-use: once its payment failed, was cancelled or expired, the page says so and the
technician creates a new link (a retry through the old link could otherwise pay twice).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from slotwise.core.errors import ValidationError
from slotwise.core.money import Money

from . import services
from .checkout import payment_start_for_payer
from .models import Payment, PaymentStatus, Purpose
from .providers.manual.provider import METHOD_LABELS
from .selectors import enabled_providers

#: How long a payment link can be paid.
LINK_VALID = datetime.timedelta(hours=24)
#: The manual methods in the order a form offers them, with who holds the money.
ONSITE_METHODS = dict(services.MANUAL_METHODS)


@dataclass(frozen=True, slots=True)
class PaymentLink:
    payment: Payment
    url: str  # absolute: SITE_URL + /payments/link/<public id>/


def method_choices() -> list[tuple[str, str]]:
    return [(m, str(METHOD_LABELS[m])) for m in ONSITE_METHODS]


def _check_links(*, organisation, booking=None, contact=None, invoice=None) -> None:
    errors = {}
    if booking is not None and booking.organisation_id != organisation.pk:
        errors["booking"] = _("The booking belongs to another organisation.")
    if contact is not None and contact.organisation_id != organisation.pk:
        errors["contact"] = _("The customer belongs to another organisation.")
    if invoice is not None and invoice.organisation_id != organisation.pk:
        errors["invoice"] = _("The invoice belongs to another organisation.")
    if errors:
        raise ValidationError(errors)


def onsite_payment_record(
    *,
    organisation,
    method: str,
    amount: Money,
    tip: Money | None = None,
    received_by=None,
    booking=None,
    contact=None,
    invoice=None,
    work_order=None,
    actor=None,
) -> Payment:
    """Record money taken on site with a manual method (see `ONSITE_METHODS`), plus an optional
    tip in the same currency. `received_by` (a Staff) is required for cash and checks, which stay
    with that person until `services.manual_payment_hand_over`. The customer defaults to the
    booking's. Raises ValidationError with field errors (method, amount, tip, received_by)."""
    _check_links(organisation=organisation, booking=booking, contact=contact, invoice=invoice)
    if received_by is not None and received_by.organisation_id != organisation.pk:
        raise ValidationError({"received_by": _("Choose a staff member of the organisation.")})
    if tip is not None and tip.amount == 0:
        tip = None
    return services.manual_payment_record(
        organisation=organisation,
        method=method,
        amount=amount,
        tip=tip,
        purpose=Purpose.ON_SITE,
        received_by=received_by,
        contact=contact if contact is not None else getattr(booking, "contact", None),
        booking=booking,
        invoice=invoice,
        work_order=work_order,
        actor=actor,
    )


def link_url(payment: Payment) -> str:
    path = reverse("payments:link", kwargs={"public_id": payment.public_id})
    return settings.SITE_URL.rstrip("/") + path


def payment_link_create(
    *,
    organisation,
    amount: Money,
    booking=None,
    contact=None,
    invoice=None,
    provider: str = "",
    sms_to: str = "",
    email_to: str = "",
    valid_for: datetime.timedelta = LINK_VALID,
    work_order=None,
    actor=None,
) -> PaymentLink:
    """A payment link for `amount`: the client opens it, picks a provider and pays online.
    `provider` is only the preselected one (default: the organisation's first online provider
    for the currency). `sms_to` / `email_to` send the link through the outbox, in the same
    transaction. Raises ValidationError (amount, provider, sms_to, email_to)."""
    _check_links(organisation=organisation, booking=booking, contact=contact, invoice=invoice)
    if not isinstance(amount, Money):
        raise ValidationError({"amount": _("Enter an amount.")})
    choices = [
        kind
        for kind, _label in enabled_providers(organisation=organisation, currency=amount.currency)
    ]
    if not choices:
        raise ValidationError(
            {
                "provider": _("No online payment method is enabled for %(currency)s.")
                % {"currency": amount.currency}
            }
        )
    if provider and provider not in choices:
        raise ValidationError({"provider": _("This payment method is not enabled.")})
    sms_to, email_to = _recipients(
        sms_to=sms_to, email_to=email_to, region=getattr(organisation, "country", "") or None
    )
    contact = contact if contact is not None else getattr(booking, "contact", None)
    with transaction.atomic():
        payment = services.payment_create(
            organisation=organisation,
            provider=provider or choices[0],
            amount=amount,
            purpose=Purpose.ON_SITE,
            contact=contact,
            booking=booking,
            invoice=invoice,
            work_order=work_order,
            expires_at=timezone.now() + valid_for,
            actor=actor,
        )
        url = link_url(payment)
        payment.return_url = url[:500]
        payment.next_action = {"kind": "choose", "url": url, "qr": "", "token": ""}
        payment._change_reason = "payment link"
        payment.save(update_fields=["return_url", "next_action", "updated_at"])
        link = PaymentLink(payment=payment, url=url)
        payment_link_send(link=link, sms_to=sms_to, email_to=email_to)
    return link


def _recipients(*, sms_to: str, email_to: str, region: str | None) -> tuple[str, str]:
    from django.core.exceptions import ValidationError as FieldError
    from django.core.validators import validate_email

    from slotwise.customers.phones import to_e164

    errors = {}
    phone = ""
    if sms_to.strip():
        try:
            phone = to_e164(sms_to, region)
        except FieldError as exc:
            errors["sms_to"] = exc.messages[0]
    email = email_to.strip()
    if email:
        try:
            validate_email(email)
        except FieldError:
            errors["email_to"] = _("Enter a valid e-mail address.")
    if errors:
        raise ValidationError(errors)
    return phone, email


def payment_link_send(*, link: PaymentLink, sms_to: str = "", email_to: str = "") -> int:
    """Queue the link by SMS and/or e-mail (outbox; delivered by the worker after commit).
    Returns how many messages were queued."""
    from slotwise.messaging.services import email_queue, sms_queue

    payment = link.payment
    organisation = payment.organisation
    text = _("Pay %(amount)s to %(organisation)s: %(url)s") % {
        "amount": payment.money,
        "organisation": organisation.name,
        "url": link.url,
    }
    queued = 0
    with transaction.atomic():
        if sms_to:
            sms_queue(to=sms_to, body=text, purpose="payment_link", organisation=organisation)
            queued += 1
        if email_to:
            email_queue(
                to=email_to,
                subject=_("Your payment to %(organisation)s") % {"organisation": organisation.name},
                body=text,
                purpose="payment_link",
                organisation=organisation,
            )
            queued += 1
    return queued


def link_state(payment: Payment, *, now: datetime.datetime | None = None) -> str:
    """What the link page shows: ``choose`` (pick a provider), ``started`` (follow the pay page),
    ``paid``, ``expired`` or ``failed`` (ask for a new link)."""
    now = now or timezone.now()
    if payment.status in (
        PaymentStatus.PAID,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
    ):
        return "paid"
    if payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELLED):
        return "expired" if payment.expires_at and payment.expires_at <= now else "failed"
    if payment.expires_at and payment.expires_at <= now:
        return "expired"
    if payment.provider_reference:
        return "started"
    return "choose"


def payment_link_pay(*, payment: Payment, provider: str, payer_phone: str = "") -> Payment:
    """The client chose `provider` on the link page: switch the payment to it (only while nothing
    was sent to any provider) and start it. A provider that can't be reached leaves it `created`
    with its choice made; the pay page offers a retry and the reconciliation job asks again with
    the same idempotency key."""
    state = link_state(payment)
    if state != "choose":
        raise ValidationError({"provider": _("This payment link can no longer be paid.")})
    choices = [
        kind
        for kind, _label in enabled_providers(
            organisation=payment.organisation, currency=payment.currency
        )
    ]
    if provider not in choices:
        raise ValidationError({"provider": _("This payment method is not enabled.")})
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        if locked.provider_reference or locked.status != PaymentStatus.CREATED:
            raise ValidationError({"provider": _("This payment link is already being paid.")})
        locked.provider = provider
        locked.payer_phone = payer_phone[:20]
        # The choice is made: from now on the job may ask the provider (same idempotency key).
        locked.next_action = {}
        locked._change_reason = "payment link: provider chosen"
        locked.save(update_fields=["provider", "payer_phone", "next_action", "updated_at"])
    return payment_start_for_payer(locked)
