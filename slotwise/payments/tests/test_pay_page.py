"""The shared pay page: next step, live status, return once paid."""

import pytest
from django.urls import reverse

from slotwise.core.money import Money
from slotwise.payments.checkout import ProviderChoiceForm, checkout_start
from slotwise.payments.models import ProviderConfig

pytestmark = pytest.mark.django_db


def test_pay_page_redirects_to_the_provider_then_returns(client, org, contact, test_provider):
    payment = checkout_start(
        organisation=org,
        provider="test",
        amount=Money.of("250", "SEK"),
        purpose="other",
        return_url="/done/",
        contact=contact,
    )
    page = client.get(reverse("payments:pay", args=[payment.public_id]))
    assert page.status_code == 200
    assert payment.next_action["url"] in page.content.decode()
    status = client.get(reverse("payments:pay_status", args=[payment.public_id]))
    assert status.status_code == 200 and b"Waiting" in status.content
    # Pay on the test provider's page: the signed callback lands, the pay page moves on.
    response = client.post(payment.next_action["url"], {"action": "pay"})
    assert response.status_code == 302 and response["Location"] == "/done/"
    status = client.get(reverse("payments:pay_status", args=[payment.public_id]))
    assert status.status_code == 204 and status["HX-Redirect"] == "/done/"


def test_declined_payment_says_so(client, org, contact, test_provider):
    payment = checkout_start(
        organisation=org,
        provider="test",
        amount=Money.of("250", "SEK"),
        purpose="other",
        return_url="/done/",
        contact=contact,
    )
    client.post(payment.next_action["url"], {"action": "decline"})
    page = client.get(reverse("payments:pay", args=[payment.public_id]))
    assert b'data-testid="pay-failed"' in page.content


def test_unknown_payment_is_404(client, org):
    import uuid

    assert client.get(reverse("payments:pay", args=[uuid.uuid4()])).status_code == 404


def test_choice_lists_only_enabled_online_providers(org):
    ProviderConfig.objects.create(organisation=org, provider="test", name="Card (test)")
    ProviderConfig.objects.create(organisation=org, provider="manual")
    ProviderConfig.objects.create(organisation=org, provider="stripe", enabled=False)
    form = ProviderChoiceForm(organisation=org, currency="SEK")
    assert form.fields["provider"].choices == [("test", "Card (test)")]
    assert "phone" not in form.fields
    bad = ProviderChoiceForm({"provider": "stripe"}, organisation=org, currency="SEK")
    assert not bad.is_valid() and "provider" in bad.errors
