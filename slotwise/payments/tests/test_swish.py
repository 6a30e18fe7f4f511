"""Swish through the real adapter against the local fake (mutual TLS on 127.0.0.1): both flows,
idempotency, callbacks confirmed by retrieve, refunds, declines, configuration errors."""

import json
import os
import ssl
import subprocess
import sys
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.urls import reverse

from slotwise.core.errors import ValidationError
from slotwise.core.money import Money
from slotwise.payments import services
from slotwise.payments.fakes.swish import SwishFake, make_certs
from slotwise.payments.models import (
    PaymentEvent,
    PaymentStatus,
    ProviderConfig,
    RefundStatus,
    StatusChange,
)
from slotwise.payments.providers.base import PaymentRequest, ProviderNotConfigured
from slotwise.payments.providers.swish.provider import instruction_id, qr_svg

pytestmark = pytest.mark.django_db

PHONE = "+46701234567"


@pytest.fixture(scope="module")
def fake_server():
    with SwishFake() as fake:
        yield fake


@pytest.fixture
def fake(fake_server, client, monkeypatch):
    """The module's fake, emptied, delivering callbacks to our callback view through the test
    client (same thread and database transaction as the test)."""

    def deliver(url, body, headers):
        response = client.post(
            urlsplit(url).path,
            data=body,
            content_type="application/json",
            headers={k: v for k, v in headers.items() if k.lower() != "content-type"},
        )
        return response.status_code

    with fake_server._lock:
        fake_server.payment_requests.clear()
        fake_server.refunds.clear()
        fake_server.tokens.clear()
        fake_server._bodies.clear()
        fake_server.deliveries.clear()
    fake_server.deliver = deliver
    for key, value in fake_server.env().items():
        monkeypatch.setenv(key, value)
    yield fake_server
    fake_server.deliver = None


@pytest.fixture
def swish(org, fake):
    ProviderConfig.objects.create(organisation=org, provider="swish", settings=fake.settings())
    return services.provider_for(organisation=org, kind="swish")


def _start(org, contact, *, flow, phone="", amount="500.00", return_url="/done/"):
    payment = services.payment_create(
        organisation=org,
        provider="swish",
        amount=Money.of(amount, "SEK"),
        contact=contact,
        payer_phone=phone,
        return_url=return_url,
    )
    return services.payment_start(payment=payment, flow=flow)


def _callback_url(org):
    return reverse("payments:callback", kwargs={"provider": "swish", "org_slug": org.slug})


# --- creating payment requests ----------------------------------------------------------------


def test_ecommerce_creates_one_payment_request_and_waits_for_the_app(org, contact, fake, swish):
    payment = _start(org, contact, flow="ecommerce", phone=PHONE)
    assert payment.status == PaymentStatus.PENDING
    assert payment.provider_reference == instruction_id(str(payment.idempotency_key))
    assert payment.next_action["kind"] == "wait"
    remote = fake.payment_requests[payment.provider_reference]
    assert remote["payerAlias"] == "46701234567"
    assert remote["payeeAlias"] == fake.payee_alias
    assert Decimal(str(remote["amount"])) == Decimal("500.00")
    assert remote["callbackUrl"].endswith(_callback_url(org))
    assert remote["callbackIdentifier"] == swish.callback_identifier(payment.provider_reference)
    # Asked again with the same key (a retry, a reconcile): still one payment request.
    services.payment_start(payment=payment, flow="ecommerce")
    swish.prepare(
        PaymentRequest(
            payment_id=str(payment.public_id),
            amount=payment.money,
            description="again",
            idempotency_key=str(payment.idempotency_key),
            callback_url=remote["callbackUrl"],
            payer_phone=PHONE,
            flow="ecommerce",
        )
    )
    assert list(fake.payment_requests) == [payment.provider_reference]


def test_mcommerce_gives_the_app_link_and_a_qr_code(org, contact, fake, swish):
    payment = _start(org, contact, flow="mcommerce", return_url="https://shop.example/done/?a=1")
    action = payment.next_action
    token = fake.tokens[payment.provider_reference]
    assert fake.payment_requests[payment.provider_reference]["payerAlias"] is None
    assert action["kind"] == "app" and action["token"] == token
    url = urlsplit(action["url"])
    assert (url.scheme, url.netloc) == ("swish", "paymentrequest")
    query = parse_qs(url.query)
    assert query["token"] == [token]
    assert query["callbackurl"] == ["https://shop.example/done/?a=1"]
    assert action["qr"].startswith("<svg") and "<path" in action["qr"]
    assert action["qr"] == qr_svg(token) != qr_svg(token + "x")
    again = services.payment_start(payment=payment, flow="mcommerce")
    assert again.next_action["token"] == token
    assert len(fake.payment_requests) == 1


def test_a_lost_answer_is_recovered_with_the_same_instruction_id(org, contact, fake, swish):
    """The worker died after Swish created the request: reconcile asks again (here even with a
    different body, as the contact's phone now makes it look like e-commerce) and gets the same
    payment request back (409 → fetched), never a second one."""
    payment = services.payment_create(
        organisation=org, provider="swish", amount=Money.of("120", "SEK"), contact=contact
    )
    request = services._request_for(payment, flow="mcommerce")
    swish.prepare(request)
    contact.phone = PHONE
    contact.save()
    payment.refresh_from_db()
    assert payment.provider_reference == ""
    payment = services.payment_reconcile(payment=payment)
    assert payment.status == PaymentStatus.PENDING
    assert payment.provider_reference == instruction_id(str(payment.idempotency_key))
    assert len(fake.payment_requests) == 1


def test_bad_input_fails_the_payment_with_swish_reason(org, contact, fake, swish):
    payment = _start(org, contact, flow="ecommerce", phone="+46700000000")  # not enrolled
    assert payment.status == PaymentStatus.FAILED
    assert "ACMT03" in payment.failure_reason
    assert fake.payment_requests == {}


def test_only_sek(org, contact, fake, swish):
    with pytest.raises(ValidationError):
        services.payment_create(
            organisation=org, provider="swish", amount=Money.of("10", "EUR"), contact=contact
        )


# --- callbacks --------------------------------------------------------------------------------


def test_paid_in_the_app_marks_the_payment_paid(org, contact, fake, swish):
    payment = _start(org, contact, flow="ecommerce", phone=PHONE)
    fake.pay(payment.provider_reference)
    assert fake.deliveries[-1]["response"] == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.paid_amount == Decimal("500.00")
    event = PaymentEvent.objects.get(payment=payment)
    assert event.event_id == f"{payment.provider_reference}:PAID"
    assert event.outcome == PaymentEvent.Outcome.APPLIED


def test_a_forged_paid_callback_changes_nothing(client, org, contact, fake, swish):
    payment = _start(org, contact, flow="mcommerce")
    ident = payment.provider_reference
    forged = json.loads(fake.callback_body(ident))
    forged.update(status="PAID", paymentReference="F" * 32, datePaid="2026-01-01T00:00:00Z")
    body = json.dumps(forged).encode()
    # Even with the right callbackIdentifier (say it leaked), Swish says CREATED: rejected.
    response = client.post(
        _callback_url(org),
        data=body,
        content_type="application/json",
        headers={"callbackIdentifier": swish.callback_identifier(ident)},
    )
    assert response.status_code == 409
    # Without it: rejected before asking Swish.
    forged.pop("callbackIdentifier")
    response = client.post(
        _callback_url(org), data=json.dumps(forged), content_type="application/json"
    )
    assert response.status_code == 403
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert not StatusChange.objects.filter(payment=payment, new_status="paid").exists()
    assert PaymentEvent.objects.filter(outcome=PaymentEvent.Outcome.REJECTED).count() == 2
    # The real callback still gets through afterwards (the forgery didn't take its event id).
    fake.pay(ident)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_the_same_callback_ten_times_changes_state_once(org, contact, fake, swish):
    payment = _start(org, contact, flow="ecommerce", phone=PHONE)
    fake.pay(payment.provider_reference)
    for _ in range(9):
        assert fake.resend_callback(payment.provider_reference) == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert StatusChange.objects.filter(payment=payment, new_status="paid").count() == 1
    assert PaymentEvent.objects.filter(payment=payment).count() == 1


def test_declined_is_failed_with_the_reason(org, contact, fake, swish):
    payment = _start(org, contact, flow="ecommerce", phone=PHONE)
    fake.decline(payment.provider_reference, code="BANKIDCL", message="Payer cancelled BankID")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_reason == "BANKIDCL: Payer cancelled BankID"
    other = _start(org, contact, flow="mcommerce")
    fake.error(other.provider_reference, code="TM01")
    other.refresh_from_db()
    assert other.status == PaymentStatus.FAILED and other.failure_reason.startswith("TM01")


def test_retrieve_is_the_backup_for_a_lost_callback(org, contact, fake, swish):
    payment = _start(org, contact, flow="mcommerce")
    fake.deliver = lambda url, body, headers: 503  # the callback never arrives
    fake.pay(payment.provider_reference)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    payment = services.payment_reconcile(payment=payment)
    assert payment.status == PaymentStatus.PAID


def test_cancel_an_open_request_and_paid_wins_over_cancel(org, contact, fake, swish):
    payment = _start(org, contact, flow="mcommerce")
    payment = services.payment_cancel(payment=payment, reason="hold expired")
    assert payment.status == PaymentStatus.CANCELLED
    assert fake.payment_requests[payment.provider_reference]["status"] == "CANCELLED"
    paid = _start(org, contact, flow="ecommerce", phone=PHONE)
    fake.deliver = lambda url, body, headers: 503
    fake.pay(paid.provider_reference)
    paid = services.payment_cancel(payment=paid, reason="hold expired")
    assert paid.status == PaymentStatus.PAID  # Swish said PAID: the money fact wins


# --- refunds ----------------------------------------------------------------------------------


def test_refund_succeeds_and_its_callback_is_idempotent(org, contact, fake, swish):
    payment = _start(org, contact, flow="ecommerce", phone=PHONE)
    fake.pay(payment.provider_reference)
    payment.refresh_from_db()
    refund = services.refund_create(
        payment=payment, amount=Money.of("200", "SEK"), reason="Came late"
    )
    refund = services.refund_execute(refund_id=refund.pk)
    assert refund.status == RefundStatus.PENDING
    ident = instruction_id(str(refund.idempotency_key))
    assert refund.provider_reference == ident
    remote = fake.refunds[ident]
    assert (
        remote["originalPaymentReference"]
        == (fake.payment_requests[payment.provider_reference]["paymentReference"])
    )
    assert remote["payerAlias"] == fake.payee_alias and remote["payeeAlias"] == "46701234567"
    # A retry of the worker asks for the same refund, not a second one.
    services.Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.PENDING)
    services.refund_execute(refund_id=refund.pk)
    assert list(fake.refunds) == [ident]
    fake.complete_refund(ident)
    for _ in range(4):
        assert fake.resend_callback(ident) == 200
    # A refund's callback is confirmed while it is parsed (Swish is asked), then stored and
    # applied by the payments pump.
    assert PaymentEvent.objects.filter(outcome=PaymentEvent.Outcome.PENDING).count() == 1
    assert services.payment_events_apply_pending() == 1
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert payment.status == PaymentStatus.PARTIALLY_REFUNDED
    assert payment.refunded_amount == Decimal("200.00")
    assert (
        StatusChange.objects.filter(payment=payment, new_status="partially_refunded").count() == 1
    )
    assert PaymentEvent.objects.filter(event_id=f"refund:{ident}:PAID").count() == 1


def test_a_refund_swish_refuses_is_failed_with_its_reason(org, contact, fake, swish):
    from slotwise.payments.providers.base import RefundRequest

    payment = _start(org, contact, flow="ecommerce", phone=PHONE)
    fake.pay(payment.provider_reference)
    result = swish.refund(
        RefundRequest(
            payment_reference=payment.provider_reference,
            payment_id=str(payment.public_id),
            refund_id="7f0c2a52-5a4a-4d55-9d2f-2f0e7c1b1a11",
            amount=Money.of("900", "SEK"),
            callback_url="http://127.0.0.1:8000/cb/",
        )
    )
    assert result.status == "failed" and "RF08" in result.failure_reason


# --- security and configuration ---------------------------------------------------------------


def test_the_fake_refuses_clients_without_the_certificate(fake, tmp_path):
    url = f"{fake.base_url}/v1/paymentrequests/{'A' * 32}"
    refused = fake.refused
    with pytest.raises(httpx.TransportError):
        httpx.get(url, verify=ssl.create_default_context(cafile=fake.ca_path))
    stranger = make_certs(tmp_path)  # a certificate from another CA
    context = ssl.create_default_context(cafile=fake.ca_path)
    context.load_cert_chain(stranger.client, stranger.client_key)
    with pytest.raises(httpx.TransportError):
        httpx.get(url, verify=context)
    for _ in range(50):  # the server thread counts the refusal after the client gave up
        if fake.refused == refused + 2:
            break
        time.sleep(0.05)
    assert fake.refused == refused + 2
    context = ssl.create_default_context(cafile=fake.ca_path)
    context.load_cert_chain(fake.cert_path, fake.key_path)
    assert httpx.get(url, verify=context).status_code == 404  # with it: a normal answer


def test_a_missing_environment_variable_is_a_clear_error(org, contact, fake, swish, monkeypatch):
    assert swish.check_settings() == {}
    monkeypatch.delenv("SWISH_KEY")
    errors = services.provider_for(organisation=org, kind="swish").check_settings()
    assert "SWISH_KEY" in errors["key_env"]
    with pytest.raises(ProviderNotConfigured, match="SWISH_KEY"):
        services.provider_for(organisation=org, kind="swish").retrieve("A" * 32)
    payment = _start(org, contact, flow="mcommerce")
    assert payment.status == PaymentStatus.FAILED and "SWISH_KEY" in payment.failure_reason
    ProviderConfig.objects.filter(organisation=org).update(
        settings={"payee_alias": "123", "base_url": "http://x", "cert_env": "NOPE_NOT_SET"}
    )
    errors = services.provider_for(organisation=org, kind="swish").check_settings()
    assert set(errors) == {"payee_alias", "base_url", "cert_env", "key_env"}


def test_command_line_prints_the_environment_and_auto_pays(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "slotwise.payments.fakes.swish",
            "--port",
            "0",
            "--certs-dir",
            str(tmp_path),
            "--auto-pay",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    try:
        lines = [process.stdout.readline().strip() for _ in range(6)]
        env = dict(
            line[len("export ") :].split("=", 1) for line in lines if line.startswith("export ")
        )
        assert set(env) == {"SWISH_CERT", "SWISH_KEY", "SWISH_CA"}
        settings = json.loads(lines[-1].lstrip("# "))
        context = ssl.create_default_context(cafile=env["SWISH_CA"])
        context.load_cert_chain(env["SWISH_CERT"], env["SWISH_KEY"])
        ident = "B" * 32
        with httpx.Client(verify=context, base_url=settings["base_url"] + "/") as http:
            created = http.put(
                f"v2/paymentrequests/{ident}",
                json={
                    "payeeAlias": settings["payee_alias"],
                    "amount": "100",
                    "currency": "SEK",
                    "callbackUrl": "http://127.0.0.1:9/unreachable/",
                },
            )
            assert created.status_code == 201 and created.headers["PaymentRequestToken"]
            for _ in range(50):
                if http.get(f"v1/paymentrequests/{ident}").json()["status"] == "PAID":
                    break
                time.sleep(0.1)
            assert http.get(f"v1/paymentrequests/{ident}").json()["status"] == "PAID"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_payee_alias_other_than_the_certificate_is_refused(org, contact, fake, swish):
    ProviderConfig.objects.filter(organisation=org).update(
        settings={**fake.settings(), "payee_alias": "1239999999"}
    )
    payment = _start(org, contact, flow="mcommerce")
    assert payment.status == PaymentStatus.FAILED
    assert "403" in payment.failure_reason
    assert fake.payment_requests == {}
