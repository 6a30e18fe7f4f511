"""Callbacks through the real URL: authenticity, staleness, replays, order (issue 4 'Must hold').

The URL stores an authentic callback as pending and answers; the payments pump
(`services.payment_events_apply_pending`, the worker's) applies it: the tests run the pump where
the worker would."""

import json
import time
from decimal import Decimal

import pytest
from django.urls import reverse

from slotwise.core.money import Money
from slotwise.payments import services
from slotwise.payments.models import Payment, PaymentEvent, PaymentStatus, StatusChange

pytestmark = pytest.mark.django_db


def _started(org, contact, amount="500.00"):
    payment = services.payment_create(
        organisation=org, provider="test", amount=Money.of(amount, "SEK"), contact=contact
    )
    return services.payment_start(payment=payment)


def _post(client, org, body: bytes, signature: str):
    url = reverse("payments:callback", kwargs={"provider": "test", "org_slug": org.slug})
    return client.post(
        url, data=body, content_type="application/json", HTTP_SLOTWISE_SIGNATURE=signature
    )


def _pump():
    return services.payment_events_apply_pending()


def _paid_body(provider, payment, event_id="evt_1", status="paid", refunded="0"):
    data = dict(provider.remote(payment.provider_reference))
    data["status"] = status
    data["refunded"] = refunded
    if status == "refunded":
        data["refunds"] = [{"id": "re_1", "amount": refunded}]
    return provider.event_body(data, event_type=f"payment.{status}", event_id=event_id)


def test_start_is_pending_with_a_redirect(org, contact, test_provider):
    payment = _started(org, contact)
    assert payment.status == PaymentStatus.PENDING
    assert payment.provider_reference.startswith("tp_")
    assert payment.next_action["kind"] == "redirect"
    again = services.payment_start(payment=payment)  # same idempotency key, same remote payment
    assert again.provider_reference == payment.provider_reference


def test_the_same_event_ten_times_changes_state_once(client, org, contact, test_provider):
    payment = _started(org, contact)
    body = _paid_body(test_provider, payment)
    for _ in range(10):
        response = _post(client, org, body, test_provider.sign(body))
        assert response.status_code == 200
    assert PaymentEvent.objects.filter(event_id="evt_1", outcome="pending").count() == 1
    assert _pump() == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.paid_amount == Decimal("500.00")
    assert StatusChange.objects.filter(payment=payment, new_status="paid").count() == 1
    assert PaymentEvent.objects.filter(event_id="evt_1").count() == 1


def test_bad_signature_changes_nothing_and_is_kept_as_rejected(client, org, contact, test_provider):
    payment = _started(org, contact)
    body = _paid_body(test_provider, payment)
    forged = test_provider.sign(body).replace("v1=", "v1=00")
    assert _post(client, org, body, forged).status_code == 400
    tampered = body.replace(b"500.00", b"5.00")
    assert _post(client, org, tampered, test_provider.sign(body)).status_code == 400
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert PaymentEvent.objects.filter(outcome="rejected").count() == 2
    assert not PaymentEvent.objects.filter(outcome="pending").exists()
    assert _pump() == 0
    # The forged event's id is not taken: the genuine one still applies.
    assert _post(client, org, body, test_provider.sign(body)).status_code == 200
    assert _pump() == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_stale_timestamp_is_rejected(client, org, contact, test_provider):
    payment = _started(org, contact)
    body = _paid_body(test_provider, payment)
    old = test_provider.sign(body, timestamp=int(time.time()) - 301)
    assert _post(client, org, body, old).status_code == 400
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


def test_refund_before_paid_leaves_nothing_wrong(client, org, contact, test_provider):
    payment = _started(org, contact)
    refund_body = _paid_body(test_provider, payment, "evt_r", status="refunded", refunded="200.00")
    refund_data = json.loads(refund_body)
    refund_data["payment"]["status"] = "pending"  # the refund notice arrives before the capture
    early = json.dumps(refund_data).encode()
    assert _post(client, org, early, test_provider.sign(early)).status_code == 200
    assert _pump() == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    paid = _paid_body(test_provider, payment, "evt_p")
    assert _post(client, org, paid, test_provider.sign(paid)).status_code == 200
    assert _pump() == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PARTIALLY_REFUNDED
    assert payment.paid_amount - payment.refunded_amount == Decimal("300.00")


def test_late_pending_cannot_undo_paid(client, org, contact, test_provider):
    payment = _started(org, contact)
    paid = _paid_body(test_provider, payment, "evt_p")
    pending = _paid_body(test_provider, payment, "evt_pending", status="pending")
    _post(client, org, paid, test_provider.sign(paid))
    _post(client, org, pending, test_provider.sign(pending))
    assert _pump() == 2
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_unknown_provider_or_org_is_404(client, org, test_provider):
    url = reverse("payments:callback", kwargs={"provider": "nope", "org_slug": org.slug})
    assert client.post(url, data=b"{}", content_type="application/json").status_code == 404
    url = reverse("payments:callback", kwargs={"provider": "test", "org_slug": "no-such-org"})
    assert client.post(url, data=b"{}", content_type="application/json").status_code == 404


def test_a_crashed_start_is_reconciled_with_the_same_key(org, contact, test_provider):
    payment = services.payment_create(
        organisation=org, provider="test", amount=Money.of("99.50", "SEK"), contact=contact
    )
    # The provider was called, then the worker died before saving anything.
    remote = test_provider.prepare(services._request_for(payment))
    assert Payment.objects.get(pk=payment.pk).provider_reference == ""
    test_provider.remote_pay(remote.reference)
    reconciled = services.payment_reconcile(payment=payment)
    assert reconciled.provider_reference == remote.reference  # the same remote payment
    assert reconciled.status == PaymentStatus.PAID
