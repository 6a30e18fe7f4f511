"""Paying for bookings (issue 4 item 3; S0.7, S0.8): what is due, hold → pay → confirmed, a hold
that lapses (slot offered again, payment cancelled), a payment after the hold lapsed (re-booked if
free, else refunded), the cancellation refund rules, the no-show fee; and the pages (public flow,
pay page, confirmation, My bookings, manage, the booker's payment link)."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from slotwise.bookings.models import Booking, BookingStatus
from slotwise.bookings.public import option_token, public_booking_create
from slotwise.bookings.services import (
    booking_cancel,
    booking_create,
    booking_hold_expire,
    booking_mark,
)
from slotwise.bookings.tests.conftest import future_slot, give_hours, make_type
from slotwise.core.errors import ValidationError
from slotwise.core.money import Money
from slotwise.customers.models import TimelineEntry
from slotwise.messaging.models import Message
from slotwise.org.roles import Role
from slotwise.payments import services
from slotwise.payments.booking import (
    amount_due,
    booking_checkout,
    booking_payment_due,
    payment_state,
    type_payment_due,
)
from slotwise.payments.models import Payment, PaymentStatus, Purpose, Refund, RefundStatus
from slotwise.scheduling.models import SchedulingPolicy
from slotwise.tests_factories import ContactFactory, StaffFactory, UserFactory, make_unit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff(org):
    member = StaffFactory(unit=make_unit(org, "Stockholm"), user__first_name="Sofia")
    give_hours(member)
    return member


@pytest.fixture
def policy(org):
    return SchedulingPolicy.objects.create(organisation=org, hold_minutes=20)


def sek_type(org, **kwargs):
    defaults = {
        "name": "Personligt samtal",
        "currency": "SEK",
        "price": Decimal("950"),
        "prepayment": "full",
        "cancel_window_hours": 24,
    }
    defaults.update(kwargs)
    return make_type(org, **defaults)


@pytest.fixture
def paid_type(org, policy):
    return sek_type(org, slug="session")


def held(type_, staff, contact, start=None, *, minutes=20, now=None):
    return booking_create(
        type=type_,
        staff=staff,
        contact=contact,
        start=start or future_slot(type_.organisation),
        hold_minutes=minutes,
        source="public",
        now=now,
    )


def capture(impl, payment, *, org):
    """The provider captures the payment and sends its signed callback (whatever it had said
    before: a capture after our cancel is exactly the late-payment case)."""
    data = dict(impl.remote(payment.provider_reference))
    data["status"] = "paid"
    impl._store(payment.provider_reference, data)
    body = impl.event_body(data, event_type="payment.paid")
    services.callback_receive(
        provider="test",
        organisation=org,
        body=body,
        headers={"Slotwise-Signature": impl.sign(body)},
        remote_addr="127.0.0.1",
    )
    payment.refresh_from_db()
    return payment


def run_refunds():
    for refund in Refund.objects.filter(status=RefundStatus.PENDING):
        services.refund_execute(refund_id=refund.pk)


def paid_booking(type_, staff, contact, impl, *, start=None):
    booking = held(type_, staff, contact, start)
    payment = booking_checkout(booking=booking, provider="test", return_url="/done/")
    capture(impl, payment, org=type_.organisation)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    return booking, payment


# --- what is due ------------------------------------------------------------------------------


def test_due_is_the_price_plus_combined_services_or_the_deposit(org, staff, contact):
    full = sek_type(org, slug="full")
    extra = sek_type(org, slug="extra", price=Decimal("200.50"), prepayment="none", combinable=True)
    assert type_payment_due(full) == Money.of("950", "SEK")
    assert type_payment_due(full, [extra]) == Money.of("1150.50", "SEK")
    deposit = sek_type(org, slug="dep", prepayment="deposit", deposit_amount=Decimal("200"))
    assert type_payment_due(deposit, [extra]) == Money.of("200", "SEK")
    assert type_payment_due(sek_type(org, slug="none", prepayment="none")) is None
    assert type_payment_due(sek_type(org, slug="free", price=Decimal("0"))) is None
    booking = booking_create(
        type=full, staff=staff, contact=contact, start=future_slot(org), services=[extra]
    )
    assert booking_payment_due(booking) == Money.of("1150.50", "SEK")


# --- hold → pay → confirmed -------------------------------------------------------------------


def test_public_booking_of_a_paid_type_is_held_then_confirmed_by_the_payment(
    org, staff, contact, paid_type, test_provider
):
    before = timezone.now()
    booking = public_booking_create(
        type=paid_type, staff=staff, start=future_slot(org), contact=contact
    )
    assert booking.status == BookingStatus.HELD
    expected = before + datetime.timedelta(minutes=20)  # the policy's hold minutes
    assert abs((booking.hold_expires_at - expected).total_seconds()) < 30
    # No "booked" message for a hold: it goes out once it is paid and confirmed.
    assert not Message.objects.filter(purpose="booking.created").exists()
    payment = booking_checkout(booking=booking, provider="test", return_url="/done/")
    assert payment.status == PaymentStatus.PENDING
    assert payment.purpose == Purpose.FULL
    assert payment.money == Money.of("950", "SEK")
    assert payment.expires_at == booking.hold_expires_at
    # A second click with the same choice reuses the payment under way.
    assert booking_checkout(booking=booking, provider="test", return_url="/done/") == payment
    capture(test_provider, payment, org=org)
    booking.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert booking.status == BookingStatus.CONFIRMED and booking.hold_expires_at is None
    assert amount_due(booking) is None
    assert payment_state(booking).state == "paid"


def test_paid_type_without_an_online_provider_cannot_be_booked_online(
    org, staff, contact, paid_type
):
    with pytest.raises(ValidationError):
        public_booking_create(type=paid_type, staff=staff, start=future_slot(org), contact=contact)
    assert not Booking.objects.exists()


def test_a_second_payment_for_a_paid_booking_is_refunded(
    org, staff, contact, paid_type, test_provider
):
    booking = held(paid_type, staff, contact)
    first = booking_checkout(booking=booking, provider="test", return_url="/")
    # The customer opened two tabs: the second start cancels the first, but the provider had
    # already captured it. Both arrive; the booking is paid once, the other payment goes back.
    second = services.payment_start(
        payment=services.payment_create(
            organisation=org,
            provider="test",
            amount=first.money,
            purpose=Purpose.FULL,
            contact=contact,
            booking=booking,
        )
    )
    capture(test_provider, first, org=org)
    capture(test_provider, second, org=org)
    assert Refund.objects.filter(payment=second).count() == 1
    assert not Refund.objects.filter(payment=first).exists()
    run_refunds()
    second.refresh_from_db()
    assert second.status == PaymentStatus.REFUNDED


# --- the hold lapses --------------------------------------------------------------------------


def _offered(org, type_, start) -> bool:
    from slotwise.scheduling.selectors import find_options, visit_spec

    options = find_options(
        organisation=org,
        spec=visit_spec([type_]),
        window_start=start - datetime.timedelta(hours=1),
        window_end=start + datetime.timedelta(hours=2),
        limit=50,
    )
    return any(o.start == start for o in options)


def test_lapsed_hold_frees_the_time_and_cancels_the_payment(
    org, staff, contact, paid_type, test_provider
):
    start = future_slot(org)
    earlier = timezone.now() - datetime.timedelta(minutes=30)
    booking = held(paid_type, staff, contact, start, now=earlier)  # lapsed 10 minutes ago
    payment = booking_checkout(booking=booking, provider="test", return_url="/", now=earlier)
    assert payment.status == PaymentStatus.PENDING
    assert booking_hold_expire() == 1
    booking.refresh_from_db()
    payment.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert payment.status == PaymentStatus.CANCELLED
    assert test_provider.remote(payment.provider_reference)["status"] == "cancelled"
    assert _offered(org, paid_type, start)
    assert payment_state(booking).state == "expired"


def test_hold_under_way_blocks_the_time(org, staff, contact, paid_type, test_provider):
    start = future_slot(org)
    held(paid_type, staff, contact, start)
    assert not _offered(org, paid_type, start)


def test_payment_after_expiry_rebooks_when_the_time_is_still_free(
    org, staff, contact, paid_type, test_provider
):
    contact.email = "maja@example.com"
    contact.save()
    earlier = timezone.now() - datetime.timedelta(minutes=30)
    booking = held(paid_type, staff, contact, now=earlier)
    payment = booking_checkout(booking=booking, provider="test", return_url="/", now=earlier)
    booking_hold_expire()
    capture(test_provider, payment, org=org)  # the provider captured despite our cancel
    booking.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.cancelled_at is None
    assert not Refund.objects.exists()
    assert Message.objects.filter(purpose="booking.confirmed").exists()


def test_payment_after_expiry_is_refunded_when_the_time_was_taken(
    org, staff, contact, paid_type, test_provider
):
    start = future_slot(org)
    earlier = timezone.now() - datetime.timedelta(minutes=30)
    booking = held(paid_type, staff, contact, start, now=earlier)
    payment = booking_checkout(booking=booking, provider="test", return_url="/", now=earlier)
    booking_hold_expire()
    other = booking_create(
        type=paid_type, staff=staff, contact=ContactFactory(organisation=org), start=start
    )
    capture(test_provider, payment, org=org)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    refund = Refund.objects.get(payment=payment)
    assert refund.amount == Decimal("950.00") and "no longer free" in refund.reason
    run_refunds()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    other.refresh_from_db()
    assert other.status == BookingStatus.CONFIRMED


def test_payment_for_a_lapsed_hold_the_expiry_job_never_saw_is_refunded_if_taken(
    org, staff, contact, paid_type, test_provider
):
    """The other booking itself releases the lapsed hold (no expiry job ran)."""
    start = future_slot(org)
    earlier = timezone.now() - datetime.timedelta(minutes=30)
    booking = held(paid_type, staff, contact, start, now=earlier)
    payment = booking_checkout(booking=booking, provider="test", return_url="/", now=earlier)
    booking_create(
        type=paid_type, staff=staff, contact=ContactFactory(organisation=org), start=start
    )
    capture(test_provider, payment, org=org)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert Refund.objects.filter(payment=payment).exists()


# --- cancellation -----------------------------------------------------------------------------


def test_customer_cancelling_in_time_gets_everything_back(
    org, staff, contact, paid_type, test_provider
):
    booking, payment = paid_booking(paid_type, staff, contact, test_provider)
    booking_cancel(booking=booking, enforce_window=True)
    refund = Refund.objects.get(payment=payment)
    assert refund.amount == Decimal("950.00")
    run_refunds()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED


@pytest.mark.parametrize("keeps", [True, False])
def test_customer_cancelling_late_keeps_or_refunds_by_the_type(
    org, staff, contact, test_provider, policy, keeps
):
    late_type = sek_type(
        org,
        slug="late",
        prepayment="deposit",
        deposit_amount=Decimal("200"),
        cancel_window_hours=24 * 30,  # every time is "late"
        late_cancel_keeps_deposit=keeps,
    )
    booking, payment = paid_booking(late_type, staff, contact, test_provider)
    booking_cancel(booking=booking, enforce_window=True)  # allowed: it is prepaid
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    if keeps:
        assert not Refund.objects.exists()
        kept = TimelineEntry.objects.get(contact=contact, kind="payment.kept")
        assert kept.data["amount"] == "200.00"
        assert payment_state(booking).state == "kept"
    else:
        assert Refund.objects.get(payment=payment).amount == Decimal("200.00")


def test_staff_cancelling_always_refunds(org, staff, contact, test_provider, policy):
    late_type = sek_type(org, slug="late", cancel_window_hours=24 * 30)
    booking, payment = paid_booking(late_type, staff, contact, test_provider)
    booking_cancel(booking=booking, enforce_window=False, reason="Coach is ill")
    assert Refund.objects.get(payment=payment).amount == Decimal("950.00")


def test_unpaid_booking_still_cannot_be_cancelled_late(org, staff, contact):
    plain = make_type(org, slug="plain", cancel_window_hours=24 * 30)
    booking = booking_create(type=plain, staff=staff, contact=contact, start=future_slot(org))
    with pytest.raises(ValidationError):
        booking_cancel(booking=booking, enforce_window=True)


def test_cancelling_a_hold_cancels_its_open_payment(
    org, staff, contact, paid_type, test_provider, django_capture_on_commit_callbacks
):
    booking = held(paid_type, staff, contact)
    payment = booking_checkout(booking=booking, provider="test", return_url="/")
    with django_capture_on_commit_callbacks(execute=True):
        booking_cancel(booking=booking, enforce_window=True)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED


# --- no-show ----------------------------------------------------------------------------------


def test_no_show_fee_is_kept_from_the_deposit(org, staff, contact, test_provider, policy):
    deposit = sek_type(
        org,
        slug="dep",
        prepayment="deposit",
        deposit_amount=Decimal("200"),
        no_show_fee=Decimal("150"),
    )
    booking, payment = paid_booking(deposit, staff, contact, test_provider)
    booking_mark(booking=booking, status=BookingStatus.NO_SHOW)
    assert not Payment.objects.filter(purpose=Purpose.NO_SHOW_FEE).exists()
    assert not Refund.objects.exists()
    entry = TimelineEntry.objects.get(contact=contact, kind="payment.no_show_fee_kept")
    assert entry.data["kept"] == "150.00"
    assert entry.data["from_payments"] == [str(payment.public_id)]
    assert amount_due(booking) is None


def test_no_show_fee_without_prepayment_is_requested_by_link(
    client, org, staff, test_provider, policy
):
    contact = ContactFactory(organisation=org, phone="+46701234567", language="sv")
    plain = sek_type(org, slug="plain", prepayment="none", no_show_fee=Decimal("300"))
    booking = booking_create(type=plain, staff=staff, contact=contact, start=future_slot(org))
    booking_mark(booking=booking, status=BookingStatus.NO_SHOW)
    fee = Payment.objects.get(purpose=Purpose.NO_SHOW_FEE)
    assert fee.money == Money.of("300", "SEK") and fee.status == PaymentStatus.CREATED
    sms = Message.objects.get(purpose="payment.link.no_show_fee")
    assert sms.to == "+46701234567"
    link = re.search(r"https?://\S+/bookings/pay/\S+/", sms.body).group(0)
    path = "/" + link.split("/", 3)[3]
    page = client.get(path)
    assert page.status_code == 200 and b'data-testid="due-amount"' in page.content
    response = client.post(path, {"provider": "test"})
    assert response.status_code == 302
    fee.refresh_from_db()
    assert fee.status == PaymentStatus.PENDING  # the same fee payment, started
    assert response["Location"] == reverse("payments:pay", args=[fee.public_id])
    capture(test_provider, fee, org=org)
    booking.refresh_from_db()
    assert payment_state(booking).state == "fee_paid"
    assert client.get(path).status_code == 302  # nothing left to pay


def test_no_show_fee_beyond_the_deposit_asks_for_the_rest(
    org, staff, contact, test_provider, policy
):
    deposit = sek_type(
        org,
        slug="dep",
        prepayment="deposit",
        deposit_amount=Decimal("100"),
        no_show_fee=Decimal("300"),
    )
    contact.email = "maja@example.com"
    contact.save()
    booking, _payment = paid_booking(deposit, staff, contact, test_provider)
    booking_mark(booking=booking, status=BookingStatus.NO_SHOW)
    fee = Payment.objects.get(purpose=Purpose.NO_SHOW_FEE)
    assert fee.money == Money.of("200", "SEK")
    assert Message.objects.filter(purpose="payment.link.no_show_fee").exists()


# --- pages ------------------------------------------------------------------------------------


def test_public_flow_details_pay_choice_pay_page_confirmation(
    client, org, staff, paid_type, test_provider
):
    page = client.get(reverse("book:type", args=[org.slug, paid_type.slug]))
    assert b'data-testid="prepay"' in page.content and "950.00 SEK" in page.content.decode()
    start = future_slot(org)
    token = option_token(type_id=paid_type.pk, staff_id=staff.pk, start=start)
    details = reverse("book:details", args=[org.slug, paid_type.slug])
    response = client.post(
        details,
        {
            "o": token,
            "first_name": "Maja",
            "last_name": "Karlsson",
            "phone": "070 123 45 67",
            "email": "maja@example.com",
        },
    )
    booking = Booking.objects.get()
    assert booking.status == BookingStatus.HELD
    pay_url = reverse("bookings:pay", args=[booking.public_id])
    assert response.status_code == 302 and response["Location"] == pay_url
    choice = client.get(pay_url)
    assert b'data-testid="pay-choice"' in choice.content
    assert b'data-testid="hold-until"' in choice.content
    confirmation = client.get(reverse("bookings:confirmation", args=[booking.public_id]))
    assert b'data-state="waiting"' in confirmation.content
    assert b"every 3s" in confirmation.content  # follows the payment (the app switches back here)
    assert client.post(pay_url, {"provider": "nope"}).status_code == 400
    response = client.post(pay_url, {"provider": "test"})
    payment = Payment.objects.get(booking=booking)
    assert response["Location"] == reverse("payments:pay", args=[payment.public_id])
    # Pay on the test provider's page: back to the confirmation, which says paid.
    back = client.post(payment.next_action["url"], {"action": "pay"})
    assert back.status_code == 302
    assert back["Location"].endswith(reverse("bookings:confirmation", args=[booking.public_id]))
    confirmation = client.get(back["Location"])
    assert b'data-state="paid"' in confirmation.content
    assert b"every 3s" not in confirmation.content
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_confirmation_says_when_the_hold_expired(client, org, staff, contact, paid_type):
    earlier = timezone.now() - datetime.timedelta(minutes=30)
    booking = held(paid_type, staff, contact, now=earlier)
    booking_hold_expire()
    page = client.get(reverse("bookings:confirmation", args=[booking.public_id]))
    assert b'data-state="expired"' in page.content
    # Nothing can be paid for an expired hold: the pay link goes back to the confirmation.
    response = client.get(reverse("bookings:pay", args=[booking.public_id]))
    assert response.status_code == 302


def test_my_bookings_show_the_payment_state(client, org, staff, paid_type, test_provider):
    user = UserFactory()
    contact = ContactFactory(organisation=org, user=user)
    paid_booking(paid_type, staff, contact, test_provider)
    held(paid_type, staff, contact, future_slot(org, days=4))
    client.force_login(user)
    page = client.get(reverse("bookings:mine")).content.decode()
    assert 'data-state="paid"' in page and 'data-state="waiting"' in page


def test_manage_page_warns_that_a_late_cancellation_keeps_the_prepayment(
    client, org, staff, contact, test_provider, policy
):
    from slotwise.bookings.signing import manage_path

    late_type = sek_type(org, slug="late", cancel_window_hours=24 * 30)
    booking, _payment = paid_booking(late_type, staff, contact, test_provider)
    page = client.get(manage_path(booking))
    assert b'data-testid="cancel-money"' in page.content
    assert b'data-testid="cancel"' in page.content  # still allowed
    assert b"cancel-too-late" not in page.content


def test_booker_books_a_paid_type_and_sends_a_payment_link(
    client, org, staff, paid_type, test_provider
):
    caller = StaffFactory(unit=staff.unit, roles=[Role.CALL_CENTRE])
    client.force_login(caller.user)
    contact = ContactFactory(organisation=org, phone="+46701112233")
    data = {
        "type": paid_type.pk,
        "staff": staff.pk,
        "start": future_slot(org).isoformat(),
        "contact": str(contact.public_id),
    }
    url = reverse("scheduling:booker_book")
    missing = client.post(url, data, HTTP_HX_REQUEST="true")
    assert b"Choose how the customer pays" in missing.content
    assert not Booking.objects.exists()
    done = client.post(url, {**data, "payment": "link_sms"}, HTTP_HX_REQUEST="true")
    assert b'data-testid="pay-link-sent"' in done.content, done.content
    booking = Booking.objects.get()
    assert booking.status == BookingStatus.HELD and booking.source == "booker"
    sms = Message.objects.get(purpose="payment.link.full")
    assert sms.to == "+46701112233"
    assert reverse("bookings:pay", args=[booking.public_id]) in sms.body
    # Waived: confirmed at once, no link.
    done = client.post(
        url,
        {**data, "start": future_slot(org, days=5).isoformat(), "payment": "waive"},
        HTTP_HX_REQUEST="true",
    )
    assert b'data-testid="booked"' in done.content
    assert Booking.objects.filter(status=BookingStatus.CONFIRMED).count() == 1
    assert Message.objects.filter(purpose__startswith="payment.link").count() == 1
