"""YooKassa: the real adapter (through the official SDK) against the local fake of the API, and
notifications through the real callback URL with the client's address set (issue 4 'Must hold')."""

import json
import threading
import uuid
from decimal import Decimal

import httpx
import pytest
from django.urls import reverse

from slotwise.core.errors import ValidationError
from slotwise.core.money import Money
from slotwise.payments import services
from slotwise.payments.fakes.yookassa import YooKassaFake
from slotwise.payments.models import (
    Payment,
    PaymentEvent,
    PaymentStatus,
    ProviderConfig,
    Refund,
    RefundStatus,
    StatusChange,
)
from slotwise.payments.providers.base import PaymentRequest, ProviderError, RefundRequest
from slotwise.payments.providers.yookassa.provider import YooKassaProvider
from slotwise.tests_factories import ContactFactory, OrganisationFactory

pytestmark = pytest.mark.django_db

SHOP, SECRET = "100500", "test_secret"
YOOKASSA_ADDR = "185.71.76.10"  # inside 185.71.76.0/27, one of YooKassa's documented networks
FOREIGN_ADDR = "203.0.113.9"


@pytest.fixture
def fake():
    with YooKassaFake(shops={SHOP: SECRET, "200200": "other_secret"}) as server:
        yield server


@pytest.fixture
def ru_org():
    return OrganisationFactory(country="RU", time_zone="Europe/Moscow", currency="RUB")


@pytest.fixture
def yookassa(ru_org, fake, monkeypatch, settings):
    monkeypatch.setenv("YOOKASSA_SECRET_TEST", SECRET)
    settings.PAYMENTS_YOOKASSA_EXTRA_NETWORKS = []
    ProviderConfig.objects.create(
        organisation=ru_org,
        provider="yookassa",
        settings={
            "shop_id": SHOP,
            "secret_key_env": "YOOKASSA_SECRET_TEST",
            "api_url": fake.api_url,
        },
    )
    return services.provider_for(organisation=ru_org, kind="yookassa")


def _url(org):
    return reverse("payments:callback", kwargs={"provider": "yookassa", "org_slug": org.slug})


def _post(client, org, body: bytes, addr: str = YOOKASSA_ADDR):
    return client.post(_url(org), data=body, content_type="application/json", REMOTE_ADDR=addr)


@pytest.fixture
def deliver(client, ru_org, fake):
    """Make the fake's notifications arrive through Django's test client from `addr`."""
    answers: list[int] = []

    def use(addr: str = YOOKASSA_ADDR) -> list[int]:
        answers.clear()
        fake.sender = lambda body: answers.append(_post(client, ru_org, body, addr).status_code)
        return answers

    use()
    return use


def _started(org, amount="500.00"):
    payment = services.payment_create(
        organisation=org,
        provider="yookassa",
        amount=Money.of(amount, "RUB"),
        contact=ContactFactory(organisation=org),
        return_url="https://shop.example/back",
    )
    return services.payment_start(payment=payment)


def _get_calls(fake, payment):
    return fake.calls("GET", f"/v3/payments/{payment.provider_reference}")


# --- creating ---------------------------------------------------------------------------------


def test_create_sends_our_idempotence_key_and_asking_twice_is_one_payment(ru_org, yookassa, fake):
    payment = _started(ru_org)
    assert payment.status == PaymentStatus.PENDING
    remote = fake.payments[payment.provider_reference]
    assert remote["amount"] == {"value": "500.00", "currency": "RUB"}
    assert remote["_capture"] is True
    assert remote["metadata"]["payment_id"] == str(payment.public_id)
    assert fake.return_urls[payment.provider_reference] == "https://shop.example/back"
    assert payment.next_action == {
        "kind": "redirect",
        "url": remote["confirmation"]["confirmation_url"],
        "qr": "",
        "token": "",
    }
    assert fake.idempotence_keys == [str(payment.idempotency_key)]

    again = services.payment_start(payment=payment)  # a retry: same key, the same payment
    assert again.provider_reference == payment.provider_reference
    assert fake.calls("POST", "/v3/payments") == 2
    assert fake.idempotence_keys == [str(payment.idempotency_key)] * 2
    assert len(fake.payments) == 1


def test_the_fake_refuses_a_post_without_idempotence_key_and_bad_credentials(fake):
    payload = {"amount": {"value": "1.00", "currency": "RUB"}, "capture": True}
    no_key = httpx.post(f"{fake.api_url}/payments", json=payload, auth=(SHOP, SECRET))
    assert no_key.status_code == 400
    assert no_key.json()["type"] == "error"
    assert no_key.json()["code"] == "invalid_request"
    assert no_key.json()["parameter"] == "Idempotence-Key"
    wrong = httpx.get(f"{fake.api_url}/payments/x", auth=(SHOP, "nope"))
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_credentials"
    assert not fake.payments


def test_only_the_shops_currencies_are_accepted(ru_org, yookassa):
    with pytest.raises(ValidationError) as exc:
        services.payment_create(
            organisation=ru_org, provider="yookassa", amount=Money.of("10", "SEK")
        )
    assert "provider" in exc.value.message_dict
    config = ProviderConfig.objects.get(organisation=ru_org, provider="yookassa")
    config.settings["currencies"] = ["RUB", "EUR"]
    config.save()
    assert services.provider_for(organisation=ru_org, kind="yookassa").accepts("EUR")


def test_each_organisation_uses_its_own_shop_even_in_parallel(fake, monkeypatch):
    monkeypatch.setenv("YK_A", SECRET)
    monkeypatch.setenv("YK_B", "other_secret")
    shops = {
        SHOP: YooKassaProvider(
            {"shop_id": SHOP, "secret_key_env": "YK_A", "api_url": fake.api_url}
        ),
        "200200": YooKassaProvider(
            {"shop_id": "200200", "secret_key_env": "YK_B", "api_url": fake.api_url}
        ),
    }
    created: list[tuple[str, str]] = []
    errors: list[Exception] = []

    def work(shop_id: str) -> None:
        try:
            for _ in range(5):
                state = shops[shop_id].prepare(
                    PaymentRequest(
                        payment_id=str(uuid.uuid4()),
                        amount=Money.of("10", "RUB"),
                        description="x",
                        idempotency_key=str(uuid.uuid4()),
                        return_url="https://shop.example/",
                    )
                )
                created.append((shop_id, state.reference))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in (SHOP, "200200") * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(created) == 40
    assert all(fake.payments[ref]["_shop"] == shop for shop, ref in created)
    # One shop can't see the other's payments.
    other = next(ref for shop, ref in created if shop == "200200")
    with pytest.raises(ProviderError) as exc:
        shops[SHOP].retrieve(other)
    assert exc.value.permanent and exc.value.code == "not_found"


# --- notifications ----------------------------------------------------------------------------


def test_a_notification_from_yookassa_marks_paid_once_the_fetched_payment_confirms(
    ru_org, yookassa, fake, deliver
):
    payment = _started(ru_org)
    answers = deliver(YOOKASSA_ADDR)  # no extra networks: YooKassa's own range
    fake.succeed(payment.provider_reference)
    assert answers == [200]
    assert _get_calls(fake, payment) == 1  # confirmed by fetching the payment
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.paid_amount == Decimal("500.00")
    event = PaymentEvent.objects.get(payment=payment)
    assert event.event_id == f"payment.succeeded:{payment.provider_reference}"
    assert event.outcome == PaymentEvent.Outcome.APPLIED


def test_the_fee_is_amount_less_income_amount(ru_org, yookassa, fake, deliver):
    fake.fee_rate = Decimal("0.028")
    payment = _started(ru_org, "1234.50")
    fake.succeed(payment.provider_reference)
    payment.refresh_from_db()
    income = Decimal(fake.payments[payment.provider_reference]["income_amount"]["value"])
    assert income == Decimal("1199.93")  # 1234.50 × 0.972, rounded half up
    assert payment.fee_amount == Decimal("1234.50") - income == Decimal("34.57")


def test_extra_networks_come_from_settings(ru_org, yookassa, fake, deliver, settings):
    payment = _started(ru_org)
    answers = deliver("127.0.0.1")
    fake.succeed(payment.provider_reference)
    assert answers == [403]
    settings.PAYMENTS_YOOKASSA_EXTRA_NETWORKS = ["127.0.0.1/32"]
    fake.send("payment.succeeded", payment.provider_reference)
    assert answers == [403, 200]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_a_notification_from_outside_the_networks_is_rejected_and_changes_nothing(
    client, ru_org, yookassa, fake
):
    payment = _started(ru_org)
    snapshot = fake.succeed(payment.provider_reference, notify=False)
    body = fake.notification("payment.succeeded", snapshot)
    response = _post(client, ru_org, body, FOREIGN_ADDR)
    assert response.status_code == 403
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert _get_calls(fake, payment) == 0  # not even asked
    rejected = PaymentEvent.objects.get(provider="yookassa")
    assert rejected.outcome == PaymentEvent.Outcome.REJECTED
    assert FOREIGN_ADDR in rejected.detail
    # The rejected one did not take the event's id: the genuine notification still applies.
    assert _post(client, ru_org, body, YOOKASSA_ADDR).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


@pytest.mark.parametrize(
    ("addr", "trusted"),
    [
        ("185.71.76.31", True),
        ("185.71.76.32", False),
        ("185.71.77.1", True),
        ("77.75.153.127", True),
        ("77.75.153.128", False),
        ("77.75.156.11", True),
        ("77.75.156.35", True),
        ("77.75.156.12", False),
        ("77.75.154.200", True),
        ("::ffff:185.71.77.5", True),
        ("2a02:5180:0:1509::10", True),
        ("2a02:5181::1", False),
        ("127.0.0.1", False),
        ("", False),
        ("not an address", False),
    ],
)
def test_source_networks(addr, trusted, settings):
    settings.PAYMENTS_YOOKASSA_EXTRA_NETWORKS = []
    assert YooKassaProvider.is_trusted(addr) is trusted


def test_a_claim_the_fetched_payment_does_not_confirm_changes_nothing(
    client, ru_org, yookassa, fake, deliver
):
    payment = _started(ru_org)
    forged = dict(fake.payments[payment.provider_reference])
    forged.update(
        status="succeeded", paid=True, income_amount={"value": "500.00", "currency": "RUB"}
    )
    body = fake.notification("payment.succeeded", forged)
    response = _post(client, ru_org, body)
    assert response.status_code == 409  # not true (yet): YooKassa delivers it again later
    assert _get_calls(fake, payment) == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert not StatusChange.objects.filter(payment=payment, new_status="paid").exists()
    assert not PaymentEvent.objects.filter(
        event_id=f"payment.succeeded:{payment.provider_reference}"
    ).exists()
    # When the payer really pays, the same event (same id) is applied.
    answers = deliver()
    fake.succeed(payment.provider_reference)
    assert answers == [200]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_a_canceled_claim_for_a_paid_payment_changes_nothing(client, ru_org, yookassa, fake):
    payment = _started(ru_org)
    fake.succeed(payment.provider_reference, notify=False)
    forged = dict(fake.payments[payment.provider_reference])
    forged.update(
        status="canceled",
        paid=False,
        cancellation_details={"party": "merchant", "reason": "canceled_by_merchant"},
    )
    assert _post(client, ru_org, fake.notification("payment.canceled", forged)).status_code == 409
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert not payment.reported_cancelled


def test_the_same_notification_ten_times_changes_state_once(client, ru_org, yookassa, fake):
    payment = _started(ru_org)
    snapshot = fake.succeed(payment.provider_reference, notify=False)
    body = fake.notification("payment.succeeded", snapshot)
    for _ in range(10):
        assert _post(client, ru_org, body).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert StatusChange.objects.filter(payment=payment, new_status="paid").count() == 1
    assert StatusChange.objects.filter(payment=payment).count() == 2  # created→pending→paid
    assert PaymentEvent.objects.filter(payment=payment).count() == 1
    assert _get_calls(fake, payment) == 1  # the replays did not ask YooKassa again


def test_malformed_or_foreign_events(client, ru_org, yookassa, fake):
    assert _post(client, ru_org, b"not json").status_code == 400
    assert _post(client, ru_org, b'{"type": "notification"}').status_code == 400
    payout = json.dumps(
        {"type": "notification", "event": "payout.succeeded", "object": {"id": "po_1"}}
    ).encode()
    assert _post(client, ru_org, payout).status_code == 200  # not ours, nothing to do
    assert not PaymentEvent.objects.exclude(outcome=PaymentEvent.Outcome.REJECTED).exists()


def test_a_declined_payment_fails_and_an_expired_one_is_cancelled(ru_org, yookassa, fake, deliver):
    declined, expired = _started(ru_org), _started(ru_org)
    fake.cancel(declined.provider_reference, party="payment_network", reason="insufficient_funds")
    fake.cancel(expired.provider_reference)  # yoo_money: expired_on_confirmation
    declined.refresh_from_db()
    expired.refresh_from_db()
    assert declined.status == PaymentStatus.FAILED
    assert declined.failure_reason == "payment_network: insufficient_funds"
    assert expired.status == PaymentStatus.CANCELLED


# --- refunds ----------------------------------------------------------------------------------


def test_refund_succeeded_before_payment_succeeded_ends_right(ru_org, yookassa, fake, deliver):
    payment = _started(ru_org)
    answers = deliver()
    fake.succeed(payment.provider_reference, notify=False)  # this notification is late
    refund = fake.refund(payment.provider_reference, "200.00")  # from the merchant dashboard
    assert answers == [200]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PARTIALLY_REFUNDED
    assert payment.paid_amount == Decimal("500.00")
    assert payment.refunded_amount == Decimal("200.00")
    recorded = Refund.objects.get(payment=payment)
    assert (recorded.provider_reference, recorded.amount, recorded.status) == (
        refund["id"],
        Decimal("200.00"),
        RefundStatus.SUCCEEDED,
    )
    assert PaymentEvent.objects.get(payment=payment).event_id == f"refund.succeeded:{refund['id']}"

    fake.send("payment.succeeded", payment.provider_reference)  # now the late one
    assert answers == [200, 200]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PARTIALLY_REFUNDED
    assert payment.paid_amount - payment.refunded_amount == Decimal("300.00")
    assert Refund.objects.filter(payment=payment).count() == 1
    assert list(
        StatusChange.objects.filter(payment=payment)
        .order_by("pk")
        .values_list("old_status", "new_status")
    ) == [("created", "pending"), ("pending", "partially_refunded")]


def test_partial_then_full_refund_with_idempotence_keys(ru_org, yookassa, fake, deliver):
    payment = _started(ru_org)
    fake.succeed(payment.provider_reference)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID

    part = services.refund_create(payment=payment, amount=Money.of("150", "RUB"), reason="late")
    assert services.refund_execute(refund_id=part.pk).status == RefundStatus.SUCCEEDED
    services.refund_execute(refund_id=part.pk)  # the task retried: nothing new
    part.refresh_from_db()
    remote = fake.refunds[part.provider_reference]
    assert remote["amount"] == {"value": "150.00", "currency": "RUB"}
    assert remote["metadata"]["refund_id"] == str(part.idempotency_key)
    assert fake.idempotence_keys[-1] == str(part.idempotency_key)

    # A worker that dies after the call asks again with the same key: the same refund.
    request = RefundRequest(
        payment_reference=payment.provider_reference,
        payment_id=str(payment.public_id),
        refund_id=str(part.idempotency_key),
        amount=Money.of("150", "RUB"),
        reason="late",
    )
    assert yookassa.refund(request).reference == part.provider_reference
    assert len(fake.refunds) == 1

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PARTIALLY_REFUNDED
    rest = services.refund_create(payment=payment, amount=Money.of("350", "RUB"), reason="all")
    services.refund_execute(refund_id=rest.pk)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.refunded_amount == Decimal("500.00")
    assert Decimal(fake.payments[payment.provider_reference]["refunded_amount"]["value"]) == 500

    # YooKassa's refund.succeeded notifications for our own refunds: recognised, not doubled.
    answers = deliver()
    fake.deliver_outbox()
    assert answers == [200, 200]
    assert Refund.objects.filter(payment=payment).count() == 2
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("500.00")


def test_a_refund_the_shop_refuses_fails_permanently(ru_org, yookassa, fake):
    payment = _started(ru_org)
    fake.succeed(payment.provider_reference, notify=False)
    payment = services.payment_reconcile(payment=payment)
    refund = services.refund_create(payment=payment, amount=Money.of("100", "RUB"), reason="x")
    fake.refund(payment.provider_reference, notify=False)  # all of it, in the dashboard
    result = services.refund_execute(refund_id=refund.pk)
    assert result.status == RefundStatus.FAILED
    assert "invalid_request" in result.failure_reason


# --- a crashed worker -------------------------------------------------------------------------


def test_a_worker_killed_after_the_create_call_is_reconciled_without_a_second_payment(
    ru_org, yookassa, fake
):
    payment = services.payment_create(
        organisation=ru_org, provider="yookassa", amount=Money.of("99.50", "RUB")
    )
    # The provider was called, then the worker died before saving anything.
    remote = yookassa.prepare(services._request_for(payment))
    assert Payment.objects.get(pk=payment.pk).provider_reference == ""
    fake.succeed(remote.reference, notify=False)  # and the customer paid meanwhile

    reconciled = services.payment_reconcile(payment=payment)
    assert reconciled.provider_reference == remote.reference
    assert len(fake.payments) == 1
    assert fake.idempotence_keys == [str(payment.idempotency_key)] * 2
    assert reconciled.status == PaymentStatus.PAID
    assert reconciled.fee_amount == Decimal("3.48")  # 99.50 − 96.02


def test_cancel_of_a_pending_payment_leaves_it_to_expire(ru_org, yookassa, fake):
    payment = _started(ru_org)
    cancelled = services.payment_cancel(payment=payment, reason="hold expired")
    assert cancelled.status == PaymentStatus.CANCELLED
    assert fake.payments[payment.provider_reference]["status"] == "pending"
    assert fake.calls("POST", f"/v3/payments/{payment.provider_reference}/cancel") == 0
