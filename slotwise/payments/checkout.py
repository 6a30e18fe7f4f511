"""Paying something online, shared by every flow that takes money (a booking's prepayment, an
invoice, a webshop order, a payment link on site): the customer picks one of the organisation's
providers, the payment is created and started, and `/payments/pay/<public id>/` shows the next
step (a redirect, the Swish app and its QR code, "approve in the app") and follows the status live
until it is settled, then returns to where the flow continues (`return_url`)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from slotwise.core.money import Money

from . import services
from .models import Payment
from .selectors import enabled_providers


class ProviderChoiceForm(forms.Form):
    provider = forms.ChoiceField(label=_("Pay with"), widget=forms.RadioSelect)
    phone = forms.CharField(
        label=_("Swish number (optional: leave empty to open the app or scan a QR code)"),
        required=False,
        max_length=20,
    )

    def __init__(self, *args, organisation, currency: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = enabled_providers(
            organisation=organisation, currency=currency
        )
        if "swish" not in dict(self.fields["provider"].choices):
            del self.fields["phone"]
        elif len(self.fields["provider"].choices) == 1:
            self.fields["provider"].initial = "swish"

    def clean_phone(self) -> str:
        from slotwise.customers.phones import to_e164

        value = (self.cleaned_data.get("phone") or "").strip()
        return to_e164(value, "SE") if value else ""


def checkout_start(
    *,
    organisation,
    provider: str,
    amount: Money,
    purpose: str,
    return_url: str,
    contact=None,
    booking=None,
    invoice=None,
    order=None,
    payer_phone: str = "",
    expires_at=None,
    actor=None,
) -> Payment:
    """Create and start an online payment; the caller redirects to `payments:pay`. Call it after
    the transaction that created what is paid for has committed (the provider call may be slow).
    A provider that can't be reached leaves the payment `created`; the pay page offers a retry
    and the reconciliation job asks again with the same idempotency key."""
    payment = services.payment_create(
        organisation=organisation,
        provider=provider,
        amount=amount,
        purpose=purpose,
        contact=contact,
        booking=booking,
        invoice=invoice,
        order=order,
        payer_phone=payer_phone,
        return_url=return_url,
        expires_at=expires_at,
        actor=actor,
    )
    return payment_start_for_payer(payment)


def payment_start_for_payer(payment: Payment) -> Payment:
    """Start a created payment at its provider in the flow the payer chose (with a phone number:
    Swish's e-commerce flow, approve in the app; without: the app switch or its QR code). A
    provider that can't be reached leaves it `created`: the pay page offers a retry and the
    reconciliation job asks again with the same idempotency key."""
    flow = "ecommerce" if payment.payer_phone else "mcommerce"
    try:
        return services.payment_start(payment=payment, flow=flow)
    except services.ProviderError:
        payment.refresh_from_db()
        return payment
