"""Stripe through the real adapter and SDK against the local fake API (`fakes/stripe.py`), with
webhooks posted to `payments:callback` through Django's test client (issue 4 'Must hold')."""

import dataclasses
import json
import time
from decimal import Decimal

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as s

from slotwise.core.money import MINOR_UNITS, Money
from slotwise.payments import services
from slotwise.payments.fakes.stripe import FakeStripe, nest
from slotwise.payments.models import (
    Payment,
    PaymentEvent,
    PaymentStatus,
    ProviderConfig,
    Refund,
    RefundStatus,
    StatusChange,
)
from slotwise.payments.providers.base import ProviderError, RefundRequest
from slotwise.payments.providers.stripe.provider import from_minor, to_minor

KEY_ENV = "SLOTWISE_TEST_STRIPE_SECRET_KEY"
WEBHOOK_ENV = "SLOTWISE_TEST_STRIPE_WEBHOOK_SECRET"

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake():
    with FakeStripe() as server:
        yield server


@pytest.fixture
def stripe_provider(org, fake, client, monkeypatch):
    monkeypatch.setenv(KEY_ENV, fake.api_key)
    monkeypatch.setenv(WEBHOOK_ENV, fake.webhook_secret)
    ProviderConfig.objects.create(
        organisation=org,
        provider="stripe",
        settings={
            "secret_key_env": KEY_ENV,
            "webhook_secret_env": WEBHOOK_ENV,
            "api_base": fake.url,
            "max_network_retries": 0,
        },
    )
    fake.webhook_sender = lambda body, headers: _post_and_pump(
        client, org, body, headers["Stripe-Signature"]
    )
    return services.provider_for(organisation=org, kind="stripe")


def _post_and_pump(client, org, body: bytes, signature: str) -> int:
    """The fake's webhook delivery, then the worker's payments pump (the callback URL only
    stores the event): as if the worker applied each webhook as soon as it arrived."""
    status = _post(client, org, body, signature).status_code
    services.payment_events_apply_pending()
    return status


def _post(client, org, body: bytes, signature: str):
    url = reverse("payments:callback", kwargs={"provider": "stripe", "org_slug": org.slug})
    return client.post(
        url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


def _started(org, contact, amount="500.00", currency="SEK") -> Payment:
    payment = services.payment_create(
        organisation=org,
        provider="stripe",
        amount=Money.of(amount, currency),
        contact=contact,
        return_url="https://shop.example/return",
    )
    return services.payment_start(payment=payment)


def _event(events, kind):
    return next(e for e in events if e["type"] == kind)


def _session_posts(fake):
    return [
        r for r in fake.requests if r["method"] == "POST" and r["path"] == "/v1/checkout/sessions"
    ]


# --- starting a payment ---------------------------------------------------------------------


def test_start_creates_one_session_however_often_it_is_asked(org, contact, fake, stripe_provider):
    payment = _started(org, contact, "500.50")
    assert payment.status == PaymentStatus.PENDING
    assert payment.provider_reference.startswith("cs_")
    session = fake.sessions[payment.provider_reference]
    assert payment.next_action == {"kind": "redirect", "url": session["url"], "qr": "", "token": ""}
    assert session["amount_total"] == 50050 and session["currency"] == "sek"
    assert session["client_reference_id"] == str(payment.public_id)
    assert session["success_url"] == "https://shop.example/return"

    again = services.payment_start(payment=payment)
    services.payment_start(payment=again)
    assert again.provider_reference == payment.provider_reference
    assert len(fake.sessions) == 1
    posts = _session_posts(fake)
    assert len(posts) == 3
    assert {p["idempotency_key"] for p in posts} == {str(payment.idempotency_key)}
    item = posts[0]["params"]["line_items"][0]
    assert item["price_data"]["unit_amount"] == "50050"


def test_the_fake_refuses_a_reused_key_with_other_parameters(org, contact, fake, stripe_provider):
    payment = services.payment_create(
        organisation=org, provider="stripe", amount=Money.of("10", "SEK"), contact=contact
    )
    request = services._request_for(payment)
    stripe_provider.prepare(request)
    other = dataclasses.replace(request, amount=Money.of("11", "SEK"))
    with pytest.raises(ProviderError) as exc:
        stripe_provider.prepare(other)
    assert exc.value.code == "idempotency_error" and exc.value.permanent
    assert len(fake.sessions) == 1


def test_a_wrong_api_key_is_a_configuration_error(org, contact, fake, stripe_provider, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk_test_wrong")
    payment = services.payment_create(
        organisation=org, provider="stripe", amount=Money.of("10", "SEK"), contact=contact
    )
    payment = services.payment_start(payment=payment)
    assert payment.status == PaymentStatus.FAILED  # permanent: not retried forever
    assert fake.sessions == {}


# --- webhooks -------------------------------------------------------------------------------


def test_a_signed_completed_session_marks_it_paid(org, contact, fake, stripe_provider):
    payment = _started(org, contact)
    events = fake.complete_session(payment.provider_reference)
    assert [status for _, status in fake.delivered] == [200, 200, 200]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.paid_amount == Decimal("500.00")
    assert StatusChange.objects.filter(payment=payment, new_status="paid").count() == 1
    stored = PaymentEvent.objects.filter(provider="stripe", payment=payment)
    # charge.succeeded is not ours to handle; the other two are stored under Stripe's ids
    assert set(stored.values_list("event_id", flat=True)) == {
        _event(events, "payment_intent.succeeded")["id"],
        _event(events, "checkout.session.completed")["id"],
    }


def test_bad_signature_and_tampering_change_nothing(client, org, contact, fake, stripe_provider):
    payment = _started(org, contact)
    event = _event(
        fake.complete_session(payment.provider_reference, deliver=False),
        "checkout.session.completed",
    )
    body = fake.body(event)
    assert _post(client, org, body, fake.sign(body, secret="whsec_other")).status_code == 400
    assert _post(client, org, body, "").status_code == 400
    tampered = body.replace(b'"amount_total": 50000', b'"amount_total": 500')
    assert tampered != body
    assert _post(client, org, tampered, fake.sign(body)).status_code == 400
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert PaymentEvent.objects.filter(provider="stripe", outcome="rejected").count() == 3
    assert services.payment_events_apply_pending() == 0  # nothing was stored to apply
    # the genuine event still applies afterwards
    assert _post(client, org, body, fake.sign(body)).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING  # stored, not applied yet
    assert services.payment_events_apply_pending() == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_a_timestamp_older_than_300_seconds_is_rejected(
    client, org, contact, fake, stripe_provider
):
    payment = _started(org, contact)
    event = _event(
        fake.complete_session(payment.provider_reference, deliver=False),
        "checkout.session.completed",
    )
    body = fake.body(event)
    stale = fake.sign(body, timestamp=int(time.time()) - 301)
    assert _post(client, org, body, stale).status_code == 400
    recent = fake.sign(body, timestamp=int(time.time()) - 290)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert _post(client, org, body, recent).status_code == 200


def test_the_same_event_ten_times_changes_state_once(client, org, contact, fake, stripe_provider):
    payment = _started(org, contact)
    event = _event(
        fake.complete_session(payment.provider_reference, deliver=False),
        "checkout.session.completed",
    )
    for _ in range(10):
        fake.deliver(event)  # each delivery signed afresh, as Stripe's retries are
    assert [status for _, status in fake.delivered] == [200] * 10
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert StatusChange.objects.filter(payment=payment).exclude(old_status="created").count() == 1
    assert PaymentEvent.objects.filter(event_id=event["id"]).count() == 1


def test_a_refund_seen_before_the_payment_leaves_it_right(org, contact, fake, stripe_provider):
    payment = _started(org, contact)
    paid = fake.complete_session(payment.provider_reference, deliver=False)
    refunded = fake.refund_externally(payment.provider_reference, 20000, deliver=False)
    # Delivery order: the refund first, then the success events.
    fake.deliver(_event(refunded, "charge.refunded"))
    fake.deliver(_event(refunded, "refund.created"))
    for event in paid:
        fake.deliver(event)
    assert {status for _, status in fake.delivered} == {200}
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PARTIALLY_REFUNDED
    assert payment.paid_amount == Decimal("500.00")
    assert payment.refunded_amount == Decimal("200.00")
    # The Dashboard refund is recorded once, by Stripe's id.
    refund = Refund.objects.get(payment=payment)
    assert refund.amount == Decimal("200.00") and refund.status == RefundStatus.SUCCEEDED
    assert refund.provider_reference.startswith("re_")
    # Everything again, in the other order: nothing moves.
    changes = StatusChange.objects.filter(payment=payment).count()
    for event in [*paid, *refunded]:
        fake.deliver(event)
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("200.00")
    assert StatusChange.objects.filter(payment=payment).count() == changes
    assert Refund.objects.filter(payment=payment).count() == 1


def test_a_declined_card_keeps_it_open_until_the_session_expires(
    org, contact, fake, stripe_provider
):
    payment = _started(org, contact)
    events = fake.fail(payment.provider_reference)
    assert [e["type"] for e in events] == ["charge.failed", "payment_intent.payment_failed"]
    assert PaymentEvent.objects.filter(event_id=events[1]["id"], payment=payment).exists()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING  # the payer may try another card
    fake.expire_session(payment.provider_reference)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED


def test_paying_after_a_declined_card_wins(org, contact, fake, stripe_provider):
    payment = _started(org, contact)
    fake.fail(payment.provider_reference)
    fake.complete_session(payment.provider_reference)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


# --- refunds --------------------------------------------------------------------------------


def _paid(org, contact, fake, amount="500.00"):
    payment = _started(org, contact, amount)
    fake.complete_session(payment.provider_reference)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    return payment


def test_a_partial_refund_reaches_stripe_once(org, contact, fake, stripe_provider):
    payment = _paid(org, contact, fake)
    refund = services.refund_create(
        payment=payment, amount=Money.of("200", "SEK"), reason="goodwill"
    )
    # The worker called Stripe, then died before saving anything ...
    stripe_provider.refund(
        RefundRequest(
            payment_reference=payment.provider_reference,
            payment_id=str(payment.public_id),
            refund_id=str(refund.idempotency_key),
            amount=Money.of("200", "SEK"),
        )
    )
    # ... Stripe's webhooks about it arrive before the task runs again ...
    assert [e["type"] for e in fake.flush()] == ["refund.created", "charge.refunded"]
    assert Refund.objects.filter(payment=payment).count() == 1
    # ... and the task runs again, twice.
    assert services.refund_execute(refund_id=refund.pk).status == RefundStatus.SUCCEEDED
    services.refund_execute(refund_id=refund.pk)
    assert len(fake.refunds) == 1
    remote = next(iter(fake.refunds.values()))
    assert remote["amount"] == 20000
    assert remote["metadata"]["slotwise_refund"] == str(refund.idempotency_key)
    posts = [r for r in fake.requests if r["path"] == "/v1/refunds"]
    assert {p["idempotency_key"] for p in posts} == {str(refund.idempotency_key)}
    charge = fake.charges[fake.payment_intents[remote["payment_intent"]]["latest_charge"]]
    assert charge["amount_refunded"] == 20000
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PARTIALLY_REFUNDED
    assert payment.refunded_amount == Decimal("200.00")
    assert Refund.objects.filter(payment=payment).count() == 1
    assert fake.flush() == []  # the retry was a replay at Stripe: nothing new happened there


def test_a_refund_saved_by_the_worker_first_then_its_webhooks(org, contact, fake, stripe_provider):
    payment = _paid(org, contact, fake)
    refund = services.refund_create(payment=payment, amount=Money.of("500", "SEK"), reason="all")
    services.refund_execute(refund_id=refund.pk)
    refund.refresh_from_db()
    assert refund.provider_reference == next(iter(fake.refunds))
    fake.flush()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.refunded_amount == Decimal("500.00")
    assert Refund.objects.filter(payment=payment).count() == 1


def test_refunding_more_than_is_left_fails_permanently(org, contact, fake, stripe_provider):
    payment = _paid(org, contact, fake, "100.00")
    fake.refund_externally(payment.provider_reference, 6000, deliver=False)  # not yet told
    refund = services.refund_create(payment=payment, amount=Money.of("50", "SEK"), reason="x")
    refund = services.refund_execute(refund_id=refund.pk)
    assert refund.status == RefundStatus.FAILED
    assert "greater than unrefunded" in refund.failure_reason


# --- reconciliation -------------------------------------------------------------------------


def test_a_worker_killed_after_the_call_is_reconciled(org, contact, fake, stripe_provider):
    payment = services.payment_create(
        organisation=org, provider="stripe", amount=Money.of("99.50", "SEK"), contact=contact
    )
    # The provider was called, then the worker died before saving anything.
    remote = stripe_provider.prepare(services._request_for(payment))
    assert Payment.objects.get(pk=payment.pk).provider_reference == ""
    # Meanwhile the payer paid, and the webhook was lost.
    fake.complete_session(remote.reference, deliver=False)
    reconciled = services.payment_reconcile(payment=payment)
    assert reconciled.provider_reference == remote.reference  # the same session
    assert reconciled.status == PaymentStatus.PAID
    assert reconciled.paid_amount == Decimal("99.50")
    assert reconciled.fee_amount == Decimal("1.74")  # 1.5 % + 0.25 from the balance transaction
    assert len(fake.sessions) == 1 and len(fake.charges) == 1
    assert len({p["idempotency_key"] for p in _session_posts(fake)}) == 1


def test_starting_again_after_a_lost_webhook_sees_the_payment(org, contact, fake, stripe_provider):
    payment = _started(org, contact)
    fake.complete_session(payment.provider_reference, deliver=False)
    # Stripe replays its first answer (open, unpaid) to the same key; the adapter looks again.
    payment = services.payment_start(payment=payment)
    assert payment.status == PaymentStatus.PAID
    assert len(fake.sessions) == 1


def test_reconcile_fetches_refunds_made_at_stripe(org, contact, fake, stripe_provider):
    payment = _paid(org, contact, fake)
    fake.refund_externally(payment.provider_reference, deliver=False)  # the rest, webhooks lost
    payment = services.payment_reconcile(payment=payment)
    assert payment.status == PaymentStatus.REFUNDED
    assert Refund.objects.get(payment=payment).amount == Decimal("500.00")


def test_cancel_expires_the_session_but_a_payment_wins(org, contact, fake, stripe_provider):
    open_one = _started(org, contact)
    cancelled = services.payment_cancel(payment=open_one, reason="hold expired")
    assert cancelled.status == PaymentStatus.CANCELLED
    assert fake.sessions[open_one.provider_reference]["status"] == "expired"

    paid_one = _started(org, contact, "10")
    fake.complete_session(paid_one.provider_reference, deliver=False)  # webhook not here yet
    result = services.payment_cancel(payment=paid_one, reason="hold expired")
    assert result.status == PaymentStatus.PAID


# --- money ----------------------------------------------------------------------------------


@given(
    s.sampled_from(["SEK", "EUR", "USD", "RUB", "JPY"]),
    s.integers(min_value=0, max_value=10**12),
)
def test_minor_units_round_trip(currency, minor):
    money = from_minor(minor, currency.lower())  # Stripe sends lower-case currencies
    assert money.currency == currency
    assert to_minor(money) == minor
    assert money.amount == Decimal(minor).scaleb(-MINOR_UNITS[currency])


@given(
    s.sampled_from(["SEK", "EUR", "USD", "RUB"]),
    s.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
)
def test_amounts_survive_the_trip_to_stripe(currency, amount):
    money = Money(amount, currency)
    assert from_minor(to_minor(money), currency) == money
    assert to_minor(money) == int(amount * 100)


def test_a_zero_decimal_currency_is_sent_as_is(org, contact, fake, stripe_provider):
    payment = _started(org, contact, "1200", "JPY")
    assert fake.sessions[payment.provider_reference]["amount_total"] == 1200
    fake.complete_session(payment.provider_reference)
    payment.refresh_from_db()
    assert payment.paid_amount == Decimal("1200")


def test_form_encoding_nests_like_stripe():
    pairs = [
        ("line_items[0][price_data][unit_amount]", "100"),
        ("line_items[0][quantity]", "1"),
        ("line_items[1][quantity]", "2"),
        ("metadata[a]", "b"),
        ("expand[]", "x"),
        ("expand[]", "y"),
    ]
    assert nest(pairs) == {
        "line_items": [{"price_data": {"unit_amount": "100"}, "quantity": "1"}, {"quantity": "2"}],
        "metadata": {"a": "b"},
        "expand": ["x", "y"],
    }
    assert json.loads(json.dumps(nest([]))) == {}
