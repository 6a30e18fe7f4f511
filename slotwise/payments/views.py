"""Thin views: the inbound callback endpoint, the pay page and the test provider's checkout."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from . import services
from .models import OPEN_STATUSES, SETTLED_STATUSES, Payment, PaymentStatus
from .providers.base import ProviderError
from .providers.test.provider import TestProvider


def _headers(request) -> dict[str, str]:
    return dict(request.headers.items())


@csrf_exempt
@require_POST
def callback(request, provider: str, org_slug: str):
    """Every provider's callbacks land here, one URL per provider and organisation. The provider
    authenticates the call (signature, timestamp, source network); the service stores it and it
    is answered at once — the payments pump applies it (`services.callback_store`). The web
    server serves this URL past the middleware chain (`slotwise/payments/fastpath.py`)."""
    organisation_id = services.organisation_id_for_slug(org_slug)
    if organisation_id is None:
        raise Http404
    status, content_type, body = services.callback_store(
        provider=provider,
        organisation_id=organisation_id,
        body=request.body,
        headers=_headers(request),
        remote_addr=request.META.get("REMOTE_ADDR", ""),
    )
    return HttpResponse(body, status=status, content_type=content_type)


@require_http_methods(["GET", "POST"])
def test_checkout(request, reference: str):
    """The test provider's own checkout page (what a provider's hosted page would be). Paying or
    declining sends the signed callback the provider would send, then returns to the shop."""
    data = TestProvider.remote(reference)
    if data is None:
        raise Http404
    payment = get_object_or_404(
        Payment.objects.select_related("organisation"),
        provider="test",
        provider_reference=reference,
    )
    impl = services.provider_for(organisation=payment.organisation, kind="test")
    if request.method == "POST":
        succeed = request.POST.get("action") == "pay"
        try:
            data = impl.remote_pay(reference, succeed=succeed)
        except ProviderError as exc:
            raise Http404 from exc
        body = impl.event_body(data, event_type=f"payment.{data['status']}")
        services.callback_receive(
            provider="test",
            organisation=payment.organisation,
            body=body,
            headers={"Slotwise-Signature": impl.sign(body)},
            remote_addr=request.META.get("REMOTE_ADDR", ""),
        )
        return redirect(data.get("return_url") or "/")
    return render(request, "payments/test_checkout.html", {"data": data, "payment": payment})


def _payment_or_404(public_id) -> Payment:
    return get_object_or_404(
        Payment.objects.select_related("organisation", "booking__type", "invoice"),
        public_id=public_id,
    )


def pay(request, public_id):
    """The page a payer sees while paying: the amount, the next step (go to the provider's page,
    open the Swish app or scan its QR code, approve in the app) and the status, live. Addressed by
    the payment's unguessable id (ARCHITECTURE rule 7)."""
    payment = _payment_or_404(public_id)
    if request.method == "POST" and request.POST.get("action") == "retry":
        if payment.status == PaymentStatus.CREATED:
            try:
                payment = services.payment_start(payment=payment)
            except ProviderError:
                payment.refresh_from_db()
        return redirect("payments:pay", public_id=payment.public_id)
    if payment.status in SETTLED_STATUSES and payment.return_url:
        return redirect(payment.return_url)
    return render(request, "payments/pay.html", _pay_context(payment))


def pay_status(request, public_id):
    """The live part of the pay page, polled by htmx; once the payment is settled (or failed)
    the browser is sent on to where the flow continues."""
    payment = _payment_or_404(public_id)
    if payment.status in OPEN_STATUSES and payment.provider_reference:
        # A lost callback must not leave the payer waiting: every few polls, ask the provider.
        polls = int(request.GET.get("n", "0") or 0)
        if polls and polls % 5 == 0:
            try:
                payment = services.payment_reconcile(payment=payment)
            except ProviderError:
                pass
    if payment.status in SETTLED_STATUSES and payment.return_url:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = payment.return_url
        return response
    return render(
        request, "payments/_pay_status.html", _pay_context(payment, polls=request.GET.get("n", "0"))
    )


def _pay_context(payment: Payment, polls: str = "0") -> dict:
    try:
        n = int(polls) + 1
    except ValueError:
        n = 1
    return {
        "payment": payment,
        "action": payment.next_action or {},
        "is_open": payment.status in OPEN_STATUSES,
        "next_poll": n,
    }
