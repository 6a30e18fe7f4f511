"""On-site payments (S2.8): manual methods with tips, and payment links paid on the spot."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from slotwise.bookings.services import booking_create
from slotwise.bookings.tests.conftest import future_slot, give_hours, make_type
from slotwise.core.errors import ValidationError
from slotwise.core.money import Money
from slotwise.messaging.models import Message
from slotwise.org.roles import Role
from slotwise.payments import onsite
from slotwise.payments.models import Holder, Payment, PaymentStatus, ProviderConfig, Purpose
from slotwise.tests_factories import (
    ContactFactory,
    OrganisationFactory,
    StaffFactory,
    make_unit,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def technician(org):
    member = StaffFactory(unit=make_unit(org, "Field"), roles=[Role.TECHNICIAN])
    give_hours(member)
    return member


@pytest.fixture
def booking(org, technician):
    contact = ContactFactory(organisation=org, phone="+46701234567", email="kund@example.se")
    kind = make_type(org, currency="SEK", price=Decimal("800.00"))
    return booking_create(
        type=kind, staff=technician, contact=contact, start=future_slot(org), actor=None
    )


# --- recording a manual payment ---------------------------------------------------------------


def test_cash_with_a_tip_is_paid_and_held_by_the_technician(org, booking, technician):
    payment = onsite.onsite_payment_record(
        organisation=org,
        method="cash",
        amount=Money.of("800.00", "SEK"),
        tip=Money.of("50.00", "SEK"),
        received_by=technician,
        booking=booking,
    )
    assert payment.status == PaymentStatus.PAID
    assert payment.purpose == Purpose.ON_SITE
    assert payment.tip_amount == Decimal("50.00")
    assert payment.paid_amount == Decimal("850.00")
    assert payment.holder == Holder.STAFF and payment.received_by == technician
    assert payment.contact == booking.contact  # the booking's customer by default


@pytest.mark.parametrize(
    "method", ["zelle", "cash_app", "venmo", "paypal", "card_terminal", "online_terminal"]
)
def test_company_methods_are_held_by_the_company(org, booking, method):
    payment = onsite.onsite_payment_record(
        organisation=org, method=method, amount=Money.of("100", "SEK"), booking=booking
    )
    assert payment.holder == Holder.COMPANY and payment.status == PaymentStatus.PAID


@pytest.mark.parametrize("method", ["cash", "check"])
def test_cash_and_checks_need_who_received_them(org, booking, method):
    with pytest.raises(ValidationError) as exc:
        onsite.onsite_payment_record(
            organisation=org, method=method, amount=Money.of("100", "SEK"), booking=booking
        )
    assert "received_by" in exc.value.message_dict
    assert not Payment.objects.exists()


def test_bad_input_gets_field_errors_and_saves_nothing(org, booking, technician):
    with pytest.raises(ValidationError) as exc:
        onsite.onsite_payment_record(
            organisation=org,
            method="bitcoin",
            amount=Money.of("100", "SEK"),
            tip=Money.of("5", "EUR"),
            received_by=technician,
            booking=booking,
        )
    assert {"method", "tip"} <= set(exc.value.message_dict)
    other = OrganisationFactory()
    with pytest.raises(ValidationError) as exc:
        onsite.onsite_payment_record(
            organisation=other, method="zelle", amount=Money.of("1", "SEK"), booking=booking
        )
    assert "booking" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        onsite.onsite_payment_record(
            organisation=other,
            method="cash",
            amount=Money.of("1", "SEK"),
            received_by=technician,
        )
    assert "received_by" in exc.value.message_dict
    assert not Payment.objects.exists()


# --- payment links ----------------------------------------------------------------------------


def test_link_is_created_and_sent_through_the_outbox(org, booking, test_provider):
    link = onsite.payment_link_create(
        organisation=org,
        amount=Money.of("800.00", "SEK"),
        booking=booking,
        sms_to="070-123 45 67",
        email_to="kund@example.se",
    )
    payment = link.payment
    assert payment.purpose == Purpose.ON_SITE and payment.status == PaymentStatus.CREATED
    assert payment.provider == "test" and payment.provider_reference == ""
    assert payment.next_action["kind"] == "choose"
    assert link.url.endswith(reverse("payments:link", args=[payment.public_id]))
    assert payment.expires_at > timezone.now() + datetime.timedelta(hours=23)
    messages = Message.objects.filter(purpose="payment_link")
    assert {m.channel for m in messages} == {"sms", "email"}
    sms = messages.get(channel="sms")
    assert sms.to == "+46701234567" and link.url in sms.body


def test_link_needs_an_online_provider_and_good_recipients(org, booking, test_provider):
    ProviderConfig.objects.filter(organisation=org).update(enabled=False)
    with pytest.raises(ValidationError) as exc:
        onsite.payment_link_create(organisation=org, amount=Money.of("1", "SEK"))
    assert "provider" in exc.value.message_dict
    ProviderConfig.objects.filter(organisation=org).update(enabled=True)
    with pytest.raises(ValidationError) as exc:
        onsite.payment_link_create(
            organisation=org, amount=Money.of("1", "SEK"), sms_to="12", email_to="nope"
        )
    assert {"sms_to", "email_to"} <= set(exc.value.message_dict)
    with pytest.raises(ValidationError) as exc:
        onsite.payment_link_create(organisation=org, amount=Money.of("1", "SEK"), provider="swish")
    assert "provider" in exc.value.message_dict
    assert not Payment.objects.exists()
    assert not Message.objects.filter(purpose="payment_link").exists()


def test_client_chooses_a_provider_and_pays_through_the_link(client, org, booking, test_provider):
    link = onsite.payment_link_create(
        organisation=org, amount=Money.of("800.00", "SEK"), booking=booking
    )
    url = reverse("payments:link", args=[link.payment.public_id])
    page = client.get(url)
    assert page.status_code == 200 and b'data-state="choose"' in page.content
    response = client.post(url, {"provider": "test"})
    assert response.status_code == 302
    assert response["Location"] == reverse("payments:pay", args=[link.payment.public_id])
    payment = Payment.objects.get(pk=link.payment.pk)
    assert payment.status == PaymentStatus.PENDING and payment.provider_reference
    assert payment.next_action["kind"] == "redirect"
    # Opening the link again follows the payment already started (never a second one).
    again = client.get(url)
    assert again.status_code == 302 and again["Location"] == response["Location"]
    with pytest.raises(ValidationError):
        onsite.payment_link_pay(payment=payment, provider="test")
    # Pay on the provider's page: the signed callback lands; the link says paid.
    client.post(payment.next_action["url"], {"action": "pay"})
    page = client.get(url)
    assert page.status_code == 200 and b'data-testid="link-paid"' in page.content
    assert Payment.objects.filter(booking=booking).count() == 1


def test_expired_and_failed_links_say_so(client, org, booking, test_provider):
    link = onsite.payment_link_create(
        organisation=org, amount=Money.of("10", "SEK"), valid_for=datetime.timedelta(minutes=1)
    )
    Payment.objects.filter(pk=link.payment.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    url = reverse("payments:link", args=[link.payment.public_id])
    page = client.get(url)
    assert page.status_code == 410 and b'data-testid="link-expired"' in page.content
    assert client.post(url, {"provider": "test"}).status_code == 410
    assert Payment.objects.get(pk=link.payment.pk).provider_reference == ""

    failed = onsite.payment_link_create(organisation=org, amount=Money.of("10", "SEK"))
    client.post(reverse("payments:link", args=[failed.payment.public_id]), {"provider": "test"})
    payment = Payment.objects.get(pk=failed.payment.pk)
    client.post(payment.next_action["url"], {"action": "decline"})
    page = client.get(reverse("payments:link", args=[failed.payment.public_id]))
    assert page.status_code == 410 and b'data-testid="link-failed"' in page.content


def test_link_page_only_for_on_site_online_payments(client, org, booking, technician):
    manual = onsite.onsite_payment_record(
        organisation=org,
        method="cash",
        amount=Money.of("1", "SEK"),
        received_by=technician,
        booking=booking,
    )
    assert client.get(reverse("payments:link", args=[manual.public_id])).status_code == 404


def test_link_pay_refuses_a_provider_not_enabled(org, test_provider):
    link = onsite.payment_link_create(organisation=org, amount=Money.of("10", "SEK"))
    with pytest.raises(ValidationError) as exc:
        onsite.payment_link_pay(payment=link.payment, provider="stripe")
    assert "provider" in exc.value.message_dict


# --- the staff page ---------------------------------------------------------------------------


def test_technician_records_cash_and_creates_a_link(
    client, org, booking, technician, test_provider
):
    client.force_login(technician.user)
    url = reverse("payments:onsite_booking", args=[booking.public_id])
    page = client.get(url)
    assert page.status_code == 200 and b'data-testid="onsite"' in page.content
    response = client.post(
        url,
        {
            "action": "record",
            "method": "cash",
            "amount": "800.00",
            "tip": "40",
            "received_by": technician.pk,
        },
    )
    assert response.status_code == 302
    payment = Payment.objects.get(booking=booking, provider="manual")
    assert payment.paid_amount == Decimal("840.00") and payment.received_by == technician
    response = client.post(
        url, {"action": "link", "link_amount": "100", "sms_to": "+46701234567", "email_to": ""}
    )
    assert response.status_code == 200
    link_payment = Payment.objects.get(booking=booking, provider="test")
    assert reverse("payments:link", args=[link_payment.public_id]).encode() in response.content
    assert Message.objects.filter(channel="sms", purpose="payment_link").count() == 1
    # A form error is shown next to its field, nothing saved.
    response = client.post(url, {"action": "record", "method": "cash", "amount": "5"})
    assert response.status_code == 200 and b'data-field="received_by"' in response.content
    assert Payment.objects.filter(booking=booking).count() == 2


def test_other_technicians_and_organisations_get_404(client, org, booking):
    stranger = StaffFactory(unit=make_unit(org, "Elsewhere"), roles=[Role.TECHNICIAN])
    client.force_login(stranger.user)
    url = reverse("payments:onsite_booking", args=[booking.public_id])
    assert client.get(url).status_code == 404
    other = StaffFactory(unit=make_unit(OrganisationFactory(), "HQ"), roles=[Role.ORG_ADMIN])
    client.force_login(other.user)
    assert client.get(url).status_code == 404
