"""Callbacks stored first, applied by the payments pump (issue 4 'Speed'): the callback URL
authenticates, stores a pending event and answers; `payment_events_apply_pending` (the worker's
payments pump) applies it."""

import asyncio
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from slotwise.core.money import Money
from slotwise.core.testing import asgi_http as _call
from slotwise.core.testing import run_together
from slotwise.payments import services
from slotwise.payments.fastpath import callback_match
from slotwise.payments.models import Payment, PaymentEvent, PaymentStatus, StatusChange

Outcome = PaymentEvent.Outcome


def _started(org, contact, amount="500.00"):
    payment = services.payment_create(
        organisation=org, provider="test", amount=Money.of(amount, "SEK"), contact=contact
    )
    return services.payment_start(payment=payment)


def _url(org, provider="test"):
    return reverse("payments:callback", kwargs={"provider": provider, "org_slug": org.slug})


def _post(client, org, body: bytes, signature: str):
    return client.post(
        _url(org), data=body, content_type="application/json", HTTP_SLOTWISE_SIGNATURE=signature
    )


def _body(provider, payment, event_id, status="paid", refunded="0", **changes):
    data = dict(provider.remote(payment.provider_reference))
    data.update(status=status, refunded=refunded, **changes)
    if Decimal(refunded):
        data["refunds"] = [{"id": f"re_{event_id}", "amount": refunded}]
    return provider.event_body(data, event_type=f"payment.{status}", event_id=event_id)


@pytest.mark.django_db
def test_the_callback_answers_and_stores_a_pending_event_without_changing_the_payment(
    client, org, contact, test_provider
):
    payment = _started(org, contact)
    body = _body(test_provider, payment, "evt_1")
    response = _post(client, org, body, test_provider.sign(body))
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    event = PaymentEvent.objects.get(event_id="evt_1")
    assert event.outcome == Outcome.PENDING
    assert event.payment is None and event.organisation_id == org.pk
    assert event.parsed["payment_id"] == str(payment.public_id)
    assert event.parsed["state"]["paid"] == ["500.00", "SEK"]
    assert json.loads(event.body)["id"] == "evt_1"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert not StatusChange.objects.filter(payment=payment, new_status="paid").exists()

    assert services.payment_events_apply_pending() == 1
    event.refresh_from_db()
    payment.refresh_from_db()
    assert event.outcome == Outcome.APPLIED and event.payment == payment
    assert payment.status == PaymentStatus.PAID
    change = StatusChange.objects.get(payment=payment, new_status="paid")
    assert change.event == event
    assert services.payment_events_apply_pending() == 0  # nothing left


@pytest.mark.django_db
def test_ten_deliveries_store_one_row_and_move_the_payment_once(
    client, org, contact, test_provider
):
    payment = _started(org, contact)
    body = _body(test_provider, payment, "evt_10")
    for _ in range(10):  # each delivery signed afresh, as a provider's retries are
        assert _post(client, org, body, test_provider.sign(body)).status_code == 200
    assert PaymentEvent.objects.filter(event_id="evt_10").count() == 1
    assert services.payment_events_apply_pending() == 1
    for _ in range(3):  # delivered again after it was applied: still one row, no change
        assert _post(client, org, body, test_provider.sign(body)).status_code == 200
    assert services.payment_events_apply_pending() == 0
    assert PaymentEvent.objects.filter(event_id="evt_10").count() == 1
    assert StatusChange.objects.filter(payment=payment, new_status="paid").count() == 1


@pytest.mark.django_db
def test_refund_before_paid_in_one_pump_pass(client, org, contact, test_provider):
    payment = _started(org, contact)
    # The refund notice arrives (and is stored) before the capture; one pass applies both.
    early = _body(test_provider, payment, "evt_r", status="pending", refunded="200.00")
    paid = _body(test_provider, payment, "evt_p")
    assert _post(client, org, early, test_provider.sign(early)).status_code == 200
    assert _post(client, org, paid, test_provider.sign(paid)).status_code == 200
    assert services.payment_events_apply_pending() == 2
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PARTIALLY_REFUNDED
    assert payment.paid_amount == Decimal("500.00")
    assert payment.refunded_amount == Decimal("200.00")
    outcomes = dict(PaymentEvent.objects.values_list("event_id", "outcome"))
    assert outcomes == {"evt_r": Outcome.NO_CHANGE, "evt_p": Outcome.APPLIED}
    assert list(
        StatusChange.objects.filter(payment=payment)
        .exclude(old_status="created")
        .values_list("new_status", flat=True)
    ) == ["partially_refunded"]


@pytest.mark.django_db
def test_an_event_for_an_unknown_payment(client, org, contact, test_provider):
    payment = _started(org, contact)
    body = _body(
        test_provider,
        payment,
        "evt_u",
        payment_id="00000000-0000-4000-8000-000000000000",
    )
    assert _post(client, org, body, test_provider.sign(body)).status_code == 200
    assert services.payment_events_apply_pending() == 1
    event = PaymentEvent.objects.get(event_id="evt_u")
    assert event.outcome == Outcome.UNKNOWN_PAYMENT and event.payment is None
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


@pytest.mark.django_db
def test_a_payment_of_another_organisation_is_not_found(client, org, contact, test_provider):
    from slotwise.tests_factories import OrganisationFactory

    payment = _started(org, contact)
    other = OrganisationFactory(country="SE", currency="SEK")
    services.ProviderConfig.objects.create(organisation=other, provider="test")
    body = _body(test_provider, payment, "evt_x")  # (both use the secret derived from SECRET_KEY)
    assert _post(client, other, body, test_provider.sign(body)).status_code == 200
    assert services.payment_events_apply_pending() == 1
    assert PaymentEvent.objects.get(event_id="evt_x").outcome == Outcome.UNKNOWN_PAYMENT
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


@pytest.mark.django_db
def test_a_bad_signature_stores_nothing_pending(client, org, contact, test_provider):
    payment = _started(org, contact)
    body = _body(test_provider, payment, "evt_f")
    forged = test_provider.sign(body).replace("v1=", "v1=00")
    assert _post(client, org, body, forged).status_code == 400
    assert _post(client, org, body, "").status_code == 400
    assert not PaymentEvent.objects.filter(outcome=Outcome.PENDING).exists()
    assert PaymentEvent.objects.filter(outcome=Outcome.REJECTED).count() == 2
    assert services.payment_events_apply_pending() == 0
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


@pytest.mark.django_db
def test_one_failing_event_does_not_hold_back_the_others(
    client, org, contact, test_provider, monkeypatch
):
    first = _started(org, contact)
    second = _started(org, contact, "300.00")
    bad = _body(test_provider, first, "evt_bad")
    good = _body(test_provider, second, "evt_good")
    for body in (bad, good):
        assert _post(client, org, body, test_provider.sign(body)).status_code == 200
    real_apply = services._apply

    def apply(*, payment_id, **kwargs):
        result = real_apply(payment_id=payment_id, **kwargs)
        if payment_id == first.pk:
            raise RuntimeError("boom")  # after writing: its savepoint is rolled back
        return result

    monkeypatch.setattr(services, "_apply", apply)
    assert services.payment_events_apply_pending() == 2
    outcomes = dict(PaymentEvent.objects.values_list("event_id", "outcome"))
    assert outcomes == {"evt_bad": Outcome.FAILED, "evt_good": Outcome.APPLIED}
    assert PaymentEvent.objects.get(event_id="evt_bad").detail == "boom"
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == PaymentStatus.PENDING  # nothing half-applied
    assert not StatusChange.objects.filter(payment=first, new_status="paid").exists()
    assert second.status == PaymentStatus.PAID
    # A failed event is not tried again forever.
    monkeypatch.setattr(services, "_apply", real_apply)
    assert services.payment_events_apply_pending() == 0


@pytest.mark.django_db
def test_an_error_after_a_failed_event_reads_the_payment_again(
    client, org, contact, test_provider, monkeypatch
):
    """Two events of one payment in one pass: the first fails after changing the payment in
    memory; the second is applied to the payment as stored, not to the rolled-back object."""
    payment = _started(org, contact)
    refund = _body(test_provider, payment, "evt_a", status="refunded", refunded="100.00")
    paid = _body(test_provider, payment, "evt_b")
    for body in (refund, paid):
        assert _post(client, org, body, test_provider.sign(body)).status_code == 200
    real_apply = services._apply
    calls = []

    def apply(**kwargs):
        result = real_apply(**kwargs)
        calls.append(kwargs["event"].event_id)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return result

    monkeypatch.setattr(services, "_apply", apply)
    assert services.payment_events_apply_pending() == 2
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.refunded_amount == Decimal("0")  # the failed refund left nothing behind


@pytest.mark.django_db
def test_callback_receive_applies_at_once(org, contact, test_provider):
    """In-process callers (the test provider's checkout page) store and apply in one call."""
    payment = _started(org, contact)
    body = _body(test_provider, payment, "evt_now")
    status, _type, _body_text = services.callback_receive(
        provider="test",
        organisation=org,
        body=body,
        headers={"Slotwise-Signature": test_provider.sign(body)},
        remote_addr="127.0.0.1",
    )
    assert status == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert PaymentEvent.objects.get(event_id="evt_now").outcome == Outcome.APPLIED


@pytest.mark.django_db
def test_a_disabled_provider_is_refused_at_once(client, org, contact, test_provider):
    payment = _started(org, contact)
    body = _body(test_provider, payment, "evt_1")
    assert _post(client, org, body, test_provider.sign(body)).status_code == 200
    config = services.ProviderConfig.objects.get(organisation=org, provider="test")
    config.enabled = False
    config.save()  # clears this process's cache of provider settings
    body = _body(test_provider, payment, "evt_2")
    assert _post(client, org, body, test_provider.sign(body)).status_code == 404
    assert not PaymentEvent.objects.filter(event_id="evt_2").exists()


@pytest.mark.django_db
def test_the_event_round_trips_as_json(org, contact, test_provider):
    from slotwise.payments.providers.base import NextAction, ProviderEvent, ProviderState

    event = ProviderEvent(
        event_id="e1",
        payment_id="p",
        state=ProviderState(
            reference="r",
            pending=True,
            paid=Money.of("10.50", "EUR"),
            refunded=Money.of("1", "EUR"),
            fee=Money.of("0.30", "EUR"),
            failure_reason="x",
            refunds=(("re_1", Money.of("1", "EUR"), "succeeded"),),
            next_action=NextAction(kind="redirect", url="https://x"),
        ),
    )
    stored = json.loads(json.dumps(services.event_to_json(event)))
    assert services.event_from_json(stored) == event


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_pumps_at_once_never_move_a_payment_twice(org, contact, test_provider):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks, SKIP LOCKED)")
    payments = [_started(org, contact, "100.00") for _ in range(30)]
    # Each payment: paid, a partial refund and the paid event again under another id, stored
    # in an order that spreads one payment's events over both pumps' batches.
    for round_ in range(3):
        for payment in payments:
            if round_ == 1:
                body = _body(test_provider, payment, f"r_{payment.pk}", "refunded", "40.00")
            else:
                body = _body(test_provider, payment, f"p{round_}_{payment.pk}")
            services.callback_store(
                provider="test",
                organisation_id=org.pk,
                body=body,
                headers={"Slotwise-Signature": test_provider.sign(body)},
                remote_addr="127.0.0.1",
            )
    assert PaymentEvent.objects.filter(outcome=Outcome.PENDING).count() == 90
    done: list[int] = []

    def pump():
        while n := services.payment_events_apply_pending(limit=7):
            done.append(n)

    assert run_together(pump, 2) == []
    assert sum(done) == 90
    assert not PaymentEvent.objects.filter(outcome=Outcome.PENDING).exists()
    for payment in Payment.objects.filter(pk__in=[p.pk for p in payments]):
        assert payment.status == PaymentStatus.PARTIALLY_REFUNDED
        assert payment.paid_amount == Decimal("100.00")
        assert payment.refunded_amount == Decimal("40.00")
    twice = (
        StatusChange.objects.filter(payment__in=payments)
        .values_list("payment_id", "new_status")
        .order_by()
    )
    pairs = list(twice)
    assert len(pairs) == len(set(pairs))


@pytest.mark.django_db(transaction=True)
def test_worker_batch_drains_pending_events(org, contact, test_provider):
    payments = [_started(org, contact, "50.00") for _ in range(150)]  # more than one pass
    for payment in payments:
        body = _body(test_provider, payment, f"evt_{payment.pk}")
        services.callback_store(
            provider="test",
            organisation_id=org.pk,
            body=body,
            headers={"Slotwise-Signature": test_provider.sign(body)},
            remote_addr="127.0.0.1",
        )
    assert PaymentEvent.objects.filter(outcome=Outcome.PENDING).count() == 150
    call_command(
        "worker",
        "--batch",
        "--interval",
        "0",
        "--queue-name",
        "*",
        "--no-startup-delay",
        "--no-reload",
        "--no-periodic",
        verbosity=0,
    )
    assert not PaymentEvent.objects.filter(outcome=Outcome.PENDING).exists()
    assert (
        Payment.objects.filter(pk__in=[p.pk for p in payments], status=PaymentStatus.PAID).count()
        == 150
    )


# --- the lean ASGI path -------------------------------------------------------------------------


@pytest.fixture
def asgi_settings(settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.SECURE_SSL_REDIRECT = False
    return settings


def _asgi_post(org, body, signature, **kwargs):
    headers = [(b"content-type", b"application/json"), (b"slotwise-signature", signature.encode())]
    return asyncio.run(_call("POST", _url(org), headers, body, **kwargs))


@pytest.mark.django_db(transaction=True)
def test_the_asgi_callback_skips_the_middleware_chain(asgi_settings, org, contact, test_provider):
    payment = _started(org, contact)
    body = _body(test_provider, payment, "evt_asgi")
    status, headers, content = _asgi_post(org, body, test_provider.sign(body))
    assert status == 200 and json.loads(content) == {"ok": True}
    assert b"X-Frame-Options" not in headers  # the chain did not run
    assert _asgi_post(org, body, test_provider.sign(body))[0] == 200  # a duplicate
    assert PaymentEvent.objects.filter(event_id="evt_asgi", outcome=Outcome.PENDING).count() == 1
    forged = test_provider.sign(body).replace("v1=", "v1=00")
    assert _asgi_post(org, body, forged)[0] == 400
    # An unknown organisation, a bad host; a GET goes the full way (405 from require_POST).
    other = type(org)(slug="no-such-org")
    assert _asgi_post(other, body, test_provider.sign(body))[0] == 404
    assert _asgi_post(org, body, test_provider.sign(body), host=b"evil.example")[0] == 400
    status, headers, _content = asyncio.run(_call("GET", _url(org)))
    assert status == 405 and headers.get(b"X-Frame-Options") == b"DENY"
    assert services.payment_events_apply_pending() == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_https_redirect_is_kept(settings):
    settings.SECURE_SSL_REDIRECT = True
    scope = {"type": "http", "method": "POST", "path": "/payments/callback/test/org/"}
    assert callback_match({**scope, "scheme": "http", "headers": []}) is None
    assert callback_match({**scope, "scheme": "https", "headers": []}) is not None
    settings.SECURE_SSL_REDIRECT = False
    assert callback_match({**scope, "scheme": "http", "headers": []}) is not None
    assert callback_match({**scope, "method": "GET", "scheme": "https", "headers": []}) is None


@pytest.mark.django_db(transaction=True)
def test_the_demo_web_process_pump_applies_payment_events(org, contact, test_provider):
    """`MESSAGING_PUMP_IN_WEB` (the demo): the web process's pump pass runs the payments pump
    too, so a stored callback takes effect with no worker."""
    from slotwise.asgi import _pump_pass

    payment = _started(org, contact)
    body = _body(test_provider, payment, "evt_web")
    services.callback_store(
        provider="test",
        organisation_id=org.pk,
        body=body,
        headers={"Slotwise-Signature": test_provider.sign(body)},
        remote_addr="127.0.0.1",
    )
    assert _pump_pass() >= 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


@pytest.mark.django_db
def test_stored_and_applied_times_read_back(client, org, contact, test_provider):
    """The event's times written by SQL read back as the ORM writes them (SQLite and
    PostgreSQL)."""
    import datetime

    from django.utils import timezone

    payment = _started(org, contact)
    body = _body(test_provider, payment, "evt_t")
    before = timezone.now() - datetime.timedelta(seconds=1)
    assert _post(client, org, body, test_provider.sign(body)).status_code == 200
    services.payment_events_apply_pending()
    event = PaymentEvent.objects.get(event_id="evt_t")
    assert event.created_at >= before and event.updated_at >= event.created_at
    assert event.updated_at <= timezone.now()
    assert PaymentEvent.objects.filter(updated_at__gte=before, event_id="evt_t").exists()
