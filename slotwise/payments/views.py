"""Thin views: the inbound callback endpoint and the test provider's checkout page."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from slotwise.org.models import Organisation

from . import services
from .providers.base import ProviderError
from .providers.test.provider import TestProvider

# Headers a provider signs or we want in the stored raw callback.
_KEPT_HEADER_PREFIXES = ("HTTP_", "CONTENT_TYPE")


def _headers(request) -> dict[str, str]:
    return dict(request.headers.items())


@csrf_exempt
@require_POST
def callback(request, provider: str, org_slug: str):
    """Every provider's callbacks land here, one URL per provider and organisation. The provider
    authenticates the call (signature, timestamp, source network); the service stores and applies
    it idempotently."""
    organisation = get_object_or_404(Organisation, slug=org_slug)
    status, content_type, body = services.callback_receive(
        provider=provider,
        organisation=organisation,
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
        services.Payment.objects.select_related("organisation"),
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
