"""Refunds (never more than paid, idempotent at the provider) and manual payments."""

from decimal import Decimal

import pytest

from slotwise.core.errors import ValidationError
from slotwise.core.money import Money
from slotwise.payments import services
from slotwise.payments.models import Holder, PaymentStatus, RefundStatus
from slotwise.tests_factories import StaffFactory, make_unit

pytestmark = pytest.mark.django_db


def _paid(org, contact, provider, amount="500.00"):
    payment = services.payment_create(
        organisation=org, provider="test", amount=Money.of(amount, "SEK"), contact=contact
    )
    payment = services.payment_start(payment=payment)
    provider.remote_pay(payment.provider_reference)
    return services.payment_reconcile(payment=payment)


def test_partial_then_full_refund(org, contact, test_provider):
    payment = _paid(org, contact, test_provider)
    refund = services.refund_create(
        payment=payment, amount=Money.of("200", "SEK"), reason="goodwill"
    )
    assert services.refund_execute(refund_id=refund.pk).status == RefundStatus.SUCCEEDED
    # Running the task twice (a retry) does not refund twice.
    services.refund_execute(refund_id=refund.pk)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PARTIALLY_REFUNDED
    assert payment.refunded_amount == Decimal("200.00")
    assert test_provider.remote(payment.provider_reference)["refunded"] == "200.00"
    with pytest.raises(ValidationError) as exc:
        services.refund_create(payment=payment, amount=Money.of("300.01", "SEK"), reason="x")
    assert "amount" in exc.value.message_dict
    rest = services.refund_create(payment=payment, amount=Money.of("300", "SEK"), reason="rest")
    services.refund_execute(refund_id=rest.pk)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED


def test_pending_refunds_count_against_what_is_left(org, contact, test_provider):
    payment = _paid(org, contact, test_provider, "100")
    services.refund_create(payment=payment, amount=Money.of("60", "SEK"), reason="a")
    with pytest.raises(ValidationError):
        services.refund_create(payment=payment, amount=Money.of("41", "SEK"), reason="b")


def test_refund_needs_a_reason_and_the_same_currency(org, contact, test_provider):
    payment = _paid(org, contact, test_provider)
    with pytest.raises(ValidationError) as exc:
        services.refund_create(payment=payment, amount=Money.of("10", "EUR"), reason=" ")
    assert set(exc.value.message_dict) == {"reason", "amount"}
    assert not payment.refunds.exists()


def test_cash_is_held_by_the_technician(org, contact):
    tech = StaffFactory(unit=make_unit(org, "Field"))
    payment = services.manual_payment_record(
        organisation=org,
        method="cash",
        amount=Money.of("1200", "SEK"),
        tip=Money.of("100", "SEK"),
        received_by=tech,
        contact=contact,
    )
    assert payment.status == PaymentStatus.PAID
    assert payment.holder == Holder.STAFF
    assert payment.paid_amount == Decimal("1300.00")
    assert payment.tip_amount == Decimal("100.00")
    assert services.manual_payment_hand_over(payments=[payment]) == 1
    assert services.manual_payment_hand_over(payments=[payment]) == 0


def test_manual_payment_bad_input_is_field_level(org, contact):
    with pytest.raises(ValidationError) as exc:
        services.manual_payment_record(
            organisation=org, method="barter", amount=Money.of("0", "SEK")
        )
    assert {"method", "amount"} <= set(exc.value.message_dict)
    with pytest.raises(ValidationError) as exc:
        services.manual_payment_record(
            organisation=org, method="check", amount=Money.of("5", "SEK")
        )
    assert "received_by" in exc.value.message_dict


def test_zelle_is_held_by_the_company(org):
    payment = services.manual_payment_record(
        organisation=org, method="zelle", amount=Money.of("50", "SEK")
    )
    assert payment.holder == Holder.COMPANY


def test_disabled_provider_is_refused(org, contact):
    with pytest.raises(ValidationError) as exc:
        services.payment_create(
            organisation=org, provider="test", amount=Money.of("5", "SEK"), contact=contact
        )
    assert "provider" in exc.value.message_dict
