"""The webshop (S4.9): cart rules, prices frozen at checkout, exact totals, paying with the test
provider, then booking the visit (once, only when paid) with the combined services' duration and
skills; and who may see which page."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from slotwise.bookings.models import Booking, BookingStatus
from slotwise.core.money import Money
from slotwise.customers.models import Contact
from slotwise.org.roles import Role
from slotwise.payments import shop
from slotwise.payments.models import (
    Payment,
    PaymentStatus,
    Refund,
    ShopOrder,
    ShopOrderLine,
    ShopOrderStatus,
)
from slotwise.scheduling.tests.availability_fixtures import (
    MONDAY,
    local,
    make_location,
    make_org,
    make_staff,
    make_type,
)
from slotwise.tests_factories import ContactFactory, StaffFactory, UserFactory, make_unit

pytestmark = pytest.mark.django_db

ALL_WEEK = tuple((wd, 0, 23) for wd in range(7))
NOW = local(MONDAY, 6)


@pytest.fixture
def org():
    """Overrides the payments conftest's org: NL, EUR, no public holidays in the way."""
    return make_org()


@pytest.fixture
def photo(org):
    return make_type(
        org,
        name="Photography",
        slug="photo",
        duration_minutes=60,
        price=Decimal("195.00"),
        sold_in_webshop=True,
        skills={"camera": 2},
    )


@pytest.fixture
def video(org):
    return make_type(
        org,
        name="Video",
        slug="video",
        duration_minutes=45,
        price=Decimal("149.95"),
        sold_in_webshop=True,
        combinable=True,
        skills={"camera": 4, "drone": 1},
    )


@pytest.fixture
def plan(org):
    return make_type(
        org,
        name="Floor plan",
        slug="plan",
        duration_minutes=30,
        price=Decimal("0.10"),
        sold_in_webshop=True,
        combinable=True,
    )


@pytest.fixture
def customer(org):
    user = UserFactory()
    contact = ContactFactory(organisation=org, user=user, first_name="Agent")
    contact.location = make_location(org)
    contact.save()
    return contact


def _cart(org, *items):
    cart = shop.empty_cart(org)
    for service, quantity in items:
        cart = shop.cart_add(cart=cart, organisation=org, service_id=service.pk, quantity=quantity)
    return cart


def _field_error(exc, field):
    return exc.value.message_dict.get(field)


# --- the cart ---------------------------------------------------------------------------------


def test_cart_adds_and_accumulates_and_remembers_the_price(org, photo, video):
    cart = _cart(org, (photo, 1), (video, 2), (video, 1))
    assert [(line["service"], line["quantity"]) for line in cart["lines"]] == [
        (photo.pk, 1),
        (video.pk, 3),
    ]
    assert cart["lines"][0]["price"] == "195.00" and cart["lines"][0]["currency"] == "EUR"


def test_cart_rejects_what_is_not_sold_and_bad_quantities(org, photo):
    hidden = make_type(org, slug="hidden", price=Decimal("10"), sold_in_webshop=False)
    other_org = make_org()
    foreign = make_type(other_org, slug="foreign", price=Decimal("10"), sold_in_webshop=True)
    for service_id in (hidden.pk, foreign.pk, "x", None):
        with pytest.raises(ValidationError) as exc:
            shop.cart_add(cart=shop.empty_cart(org), organisation=org, service_id=service_id)
        assert _field_error(exc, "service")
    for quantity in (0, -1, shop.MAX_QUANTITY + 1, "two"):
        with pytest.raises(ValidationError) as exc:
            shop.cart_add(
                cart=shop.empty_cart(org), organisation=org, service_id=photo.pk, quantity=quantity
            )
        assert _field_error(exc, "quantity")
    cart = _cart(org, (photo, shop.MAX_QUANTITY))
    with pytest.raises(ValidationError) as exc:
        shop.cart_add(cart=cart, organisation=org, service_id=photo.pk)
    assert _field_error(exc, "quantity")


def test_one_organisation_per_cart(org, photo):
    other_org = make_org()
    foreign = make_type(other_org, slug="foreign", price=Decimal("10"), sold_in_webshop=True)
    cart = _cart(org, (photo, 1))
    with pytest.raises(ValidationError) as exc:
        shop.cart_add(cart=cart, organisation=other_org, service_id=foreign.pk)
    assert _field_error(exc, "service")
    session = {"org": org.pk, "lines": cart["lines"]}
    assert shop.cart_belongs_elsewhere(session, other_org)
    assert shop.cart_from_session(session, other_org)["lines"] == []
    assert shop.cart_from_session(session, org)["lines"] == cart["lines"]


def test_two_services_that_are_not_combinable_cannot_share_a_visit(org, photo, video):
    survey = make_type(
        org, name="Survey", slug="survey", price=Decimal("300"), sold_in_webshop=True
    )
    cart = _cart(org, (photo, 1), (video, 1))  # one solo service + a combinable one: fine
    with pytest.raises(ValidationError) as exc:
        shop.cart_add(cart=cart, organisation=org, service_id=survey.pk)
    assert exc.value.error_dict["service"][0].code == "not_combinable"
    assert "Survey" in _field_error(exc, "service")[0]
    # The combinable one first, then the solo one: also fine (the solo one is the main).
    assert len(_cart(org, (video, 1), (photo, 1))["lines"]) == 2


def test_cart_quantity_change_and_remove(org, photo, video):
    cart = _cart(org, (photo, 1), (video, 1))
    cart = shop.cart_set_quantity(cart=cart, service_id=video.pk, quantity=4)
    assert cart["lines"][1]["quantity"] == 4
    cart = shop.cart_set_quantity(cart=cart, service_id=video.pk, quantity=0)
    assert [line["service"] for line in cart["lines"]] == [photo.pk]
    cart = shop.cart_remove(cart=cart, service_id=photo.pk)
    assert cart["lines"] == []
    with pytest.raises(ValidationError) as exc:
        shop.cart_remove(cart=cart, service_id=photo.pk)
    assert _field_error(exc, "service")


def test_cart_total_is_exact_money(org, photo, video, plan):
    summary = shop.cart_read(cart=_cart(org, (photo, 1), (video, 3), (plan, 7)), organisation=org)
    # 195.00 + 3 × 149.95 + 7 × 0.10 = 645.55, exactly (a float sum would not be)
    assert summary.total == Money(Decimal("645.55"), "EUR")
    assert summary.total.amount == Decimal("645.55")
    assert [line.total for line in summary.lines] == [
        Money.of("195.00", "EUR"),
        Money.of("449.85", "EUR"),
        Money.of("0.70", "EUR"),
    ]
    assert summary.duration == 60 + 45 + 30  # each distinct service once


@settings(max_examples=25, deadline=None)
@given(
    items=st.lists(
        st.tuples(
            st.decimals(min_value=Decimal("0"), max_value=Decimal("9999.99"), places=2),
            st.integers(min_value=1, max_value=shop.MAX_QUANTITY),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_cart_total_equals_the_decimal_sum(items):
    org = make_org()
    cart = shop.empty_cart(org)
    for i, (price, quantity) in enumerate(items):
        service = make_type(
            org,
            slug=f"s-{uuid.uuid4().hex[:8]}",
            price=price,
            sold_in_webshop=True,
            combinable=i > 0,
        )
        cart = shop.cart_add(cart=cart, organisation=org, service_id=service.pk, quantity=quantity)
    summary = shop.cart_read(cart=cart, organisation=org)
    assert summary.total.amount == sum((p * q for p, q in items), Decimal("0"))
    order = shop.shop_order_place(
        organisation=org, contact=ContactFactory(organisation=org), cart=cart
    )
    assert order.total == summary.total.amount
    lines = sum((line.unit_price * line.quantity for line in order.lines.all()), Decimal("0"))
    assert lines == order.total


# --- placing the order ------------------------------------------------------------------------


def test_prices_are_frozen_when_the_order_is_placed(org, photo, video, customer):
    order = shop.shop_order_place(
        organisation=org, contact=customer, cart=_cart(org, (photo, 1), (video, 2))
    )
    assert order.status == ShopOrderStatus.AWAITING_PAYMENT
    assert order.total == Decimal("494.90") and order.currency == "EUR"
    photo.price = Decimal("999.00")
    photo.save()
    order.refresh_from_db()
    assert order.total == Decimal("494.90")
    assert ShopOrderLine.objects.get(order=order, service=photo).unit_price == Decimal("195.00")
    assert shop.order_total(order) == Money.of("494.90", "EUR")


def test_a_price_changed_since_the_cart_was_filled_stops_the_order(org, photo, video, customer):
    cart = _cart(org, (photo, 1), (video, 1))
    photo.price = Decimal("210.00")
    photo.save()
    summary = shop.cart_read(cart=cart, organisation=org)
    assert [line.service for line in summary.changed] == [photo]
    assert summary.changed[0].seen_price == Money.of("195", "EUR")
    with pytest.raises(ValidationError) as exc:
        shop.shop_order_place(organisation=org, contact=customer, cart=cart)
    assert "210.00 EUR" in _field_error(exc, "cart")[0]
    assert not ShopOrder.objects.exists()
    # Once shown, the customer confirms at the new price.
    cart = shop.cart_accept_prices(cart=cart, organisation=org)
    order = shop.shop_order_place(organisation=org, contact=customer, cart=cart)
    assert order.total == Decimal("359.95")


def test_a_service_no_longer_sold_stops_the_order(org, photo, video, customer):
    cart = _cart(org, (photo, 1), (video, 1))
    video.sold_in_webshop = False
    video.save()
    with pytest.raises(ValidationError):
        shop.shop_order_place(organisation=org, contact=customer, cart=cart)
    assert not ShopOrder.objects.exists()
    assert [
        line["service"] for line in shop.cart_accept_prices(cart=cart, organisation=org)["lines"]
    ] == [photo.pk]


def test_empty_cart_and_foreign_contact_are_refused(org, photo):
    with pytest.raises(ValidationError) as exc:
        shop.shop_order_place(
            organisation=org, contact=ContactFactory(organisation=org), cart=shop.empty_cart(org)
        )
    assert _field_error(exc, "cart")
    with pytest.raises(ValidationError) as exc:
        shop.shop_order_place(
            organisation=org, contact=ContactFactory(), cart=_cart(org, (photo, 1))
        )
    assert _field_error(exc, "contact")


def test_a_free_order_is_paid_at_once(org, customer):
    free = make_type(org, slug="free", price=Decimal("0"), sold_in_webshop=True)
    order = shop.shop_order_place(organisation=org, contact=customer, cart=_cart(org, (free, 1)))
    assert order.status == ShopOrderStatus.PAID and order.total == 0


# --- paying and booking -----------------------------------------------------------------------


def _pay(client, order) -> Payment:
    payment = shop.shop_order_pay(order=order, provider="test", return_url="/back/")
    assert payment.purpose == "order" and payment.amount == order.total
    response = client.post(payment.next_action["url"], {"action": "pay"})
    assert response.status_code == 302
    payment.refresh_from_db()
    order.refresh_from_db()
    return payment


def _paid_order(client, org, customer, *items):
    order = shop.shop_order_place(organisation=org, contact=customer, cart=_cart(org, *items))
    payment = _pay(client, order)
    assert payment.status == PaymentStatus.PAID
    assert order.status == ShopOrderStatus.PAID
    return order


def test_the_visit_spec_adds_durations_and_takes_the_highest_skill(org, photo, video, plan):
    order = shop.shop_order_place(
        organisation=org,
        contact=ContactFactory(organisation=org),
        cart=_cart(org, (video, 2), (photo, 1), (plan, 3)),
    )
    spec = shop.order_visit_spec(order)
    assert spec.main == photo  # the service that is not combinable leads the visit
    assert spec.duration == 45 + 60 + 30
    assert spec.required_skills == {"camera": 4, "drone": 1}
    assert spec.needs_travel


def test_options_need_the_highest_skill_level(org, photo, video, customer):
    able = make_staff(org, skills={"camera": 4, "drone": 1}, hours=ALL_WEEK, first_name="Able")
    make_staff(org, skills={"camera": 3, "drone": 5}, hours=ALL_WEEK, first_name="Almost")
    order = shop.shop_order_place(
        organisation=org, contact=customer, cart=_cart(org, (photo, 1), (video, 1))
    )
    options = shop.order_options(
        order=order,
        location=customer.location,
        window_start=local(MONDAY, 8),
        window_end=local(MONDAY, 18),
        now=NOW,
    )
    assert options and {o.staff_id for o in options} == {able.pk}
    assert all(o.end - o.start == dt.timedelta(minutes=105) for o in options)


def test_only_a_paid_order_can_be_booked_and_only_once(
    client, org, photo, video, customer, test_provider
):
    staff = make_staff(org, skills={"camera": 5, "drone": 5}, hours=ALL_WEEK)
    order = shop.shop_order_place(
        organisation=org, contact=customer, cart=_cart(org, (photo, 1), (video, 1))
    )
    start = local(MONDAY, 10)
    with pytest.raises(ValidationError) as exc:
        shop.shop_order_book(
            order=order, staff=staff, start=start, location=customer.location, now=NOW
        )
    assert exc.value.error_dict["order"][0].code == "not_paid"
    assert not Booking.objects.exists()

    payment = _pay(client, order)
    assert payment.status == PaymentStatus.PAID and order.status == ShopOrderStatus.PAID
    booking = shop.shop_order_book(
        order=order, staff=staff, start=start, location=customer.location, now=NOW
    )
    order.refresh_from_db()
    assert order.status == ShopOrderStatus.BOOKED and order.booking == booking
    assert booking.status == BookingStatus.CONFIRMED  # no prepayment again
    assert booking.type == photo and list(booking.services.all()) == [video]
    assert booking.end - booking.start == dt.timedelta(minutes=105)
    assert booking.contact == customer and booking.location_id == customer.location_id
    assert not Payment.objects.filter(booking=booking).exists()

    with pytest.raises(ValidationError) as exc:
        shop.shop_order_book(
            order=order,
            staff=staff,
            start=local(MONDAY, 14),
            location=customer.location,
            now=NOW,
        )
    assert exc.value.error_dict["order"][0].code == "booked"
    assert Booking.objects.count() == 1


def test_a_cancelled_or_declined_payment_leaves_the_order_unpaid(
    client, org, photo, customer, test_provider
):
    order = shop.shop_order_place(organisation=org, contact=customer, cart=_cart(org, (photo, 1)))
    payment = shop.shop_order_pay(order=order, provider="test", return_url="/back/")
    client.post(payment.next_action["url"], {"action": "decline"})
    order.refresh_from_db()
    assert order.status == ShopOrderStatus.AWAITING_PAYMENT
    staff = make_staff(org, skills={"camera": 5}, hours=ALL_WEEK)
    with pytest.raises(ValidationError):
        shop.shop_order_book(
            order=order, staff=staff, start=local(MONDAY, 10), location=customer.location, now=NOW
        )


def test_a_second_payment_for_a_paid_order_is_refunded(client, org, photo, customer, test_provider):
    order = shop.shop_order_place(organisation=org, contact=customer, cart=_cart(org, (photo, 1)))
    first = shop.shop_order_pay(order=order, provider="test", return_url="/back/")
    second = shop.shop_order_pay(order=order, provider="test", return_url="/back/")  # other tab
    client.post(first.next_action["url"], {"action": "pay"})
    order.refresh_from_db()
    assert order.status == ShopOrderStatus.PAID
    with pytest.raises(ValidationError):  # no new payment for a paid order
        shop.shop_order_pay(order=order, provider="test", return_url="/back/")
    client.post(second.next_action["url"], {"action": "pay"})
    refunds = Refund.objects.filter(payment__order=order)
    assert [(r.payment_id, r.amount) for r in refunds] == [(second.pk, Decimal("195.00"))]


# --- the customer's contact -------------------------------------------------------------------


def test_contact_is_found_or_created_from_the_user(org, customer):
    assert shop.shop_contact_for(organisation=org, user=customer.user) == customer
    newcomer = UserFactory(first_name="Nina", phone="+31612340000", phone_verified=True)
    created = shop.shop_contact_for(organisation=org, user=newcomer)
    assert created.user == newcomer and created.phone == "+31612340000"
    assert created.organisation == org and created.first_name == "Nina"
    # An unlinked contact with the user's verified phone number is linked, not duplicated.
    known = ContactFactory(organisation=org, phone="+31612349999")
    returning = UserFactory(phone="+31612349999", phone_verified=True)
    assert shop.shop_contact_for(organisation=org, user=returning) == known
    assert Contact.objects.get(pk=known.pk).user == returning
    # One user is one contact: a customer of another organisation is told so.
    with pytest.raises(ValidationError) as exc:
        shop.shop_contact_for(organisation=make_org(), user=customer.user)
    assert _field_error(exc, "user")


# --- views ------------------------------------------------------------------------------------


def test_catalogue_lists_only_services_sold_in_the_webshop(client, org, photo, video):
    make_type(org, name="Not for sale", slug="hidden", price=Decimal("1"))
    page = client.get(reverse("shop:catalogue", args=[org.slug]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "Photography" in body and "149.95 EUR" in body and "45 min" in body
    assert "Not for sale" not in body
    assert client.get(reverse("shop:catalogue", args=["nope"])).status_code == 404


def test_cart_pages_add_change_remove_and_explain_combination_errors(client, org, photo, video):
    survey = make_type(
        org, name="Survey", slug="survey", price=Decimal("300"), sold_in_webshop=True
    )
    add = reverse("shop:cart_add", args=[org.slug])
    cart_url = reverse("shop:cart", args=[org.slug])
    assert client.post(add, {"service": photo.pk, "quantity": 1}).status_code == 302
    assert client.post(add, {"service": video.pk, "quantity": 2}).status_code == 302
    page = client.get(cart_url)
    assert page.status_code == 200 and "494.90 EUR" in page.content.decode()
    refused = client.post(add, {"service": survey.pk, "quantity": 1})
    assert refused.status_code == 400
    assert "can&#x27;t be combined" in refused.content.decode()
    client.post(cart_url, {"action": "update", "service": video.pk, "quantity": 1})
    assert "344.95 EUR" in client.get(cart_url).content.decode()
    bad = client.post(cart_url, {"action": "update", "service": video.pk, "quantity": 99})
    assert bad.status_code == 400
    client.post(cart_url, {"action": "remove", "service": video.pk})
    assert "195.00 EUR" in client.get(cart_url).content.decode()
    client.post(cart_url, {"action": "empty"})
    assert 'data-testid="cart-empty"' in client.get(cart_url).content.decode()


def test_checkout_needs_a_login_then_pays_and_returns_to_the_order(
    client, org, photo, video, customer, test_provider
):
    client.post(reverse("shop:cart_add", args=[org.slug]), {"service": photo.pk})
    client.post(reverse("shop:cart_add", args=[org.slug]), {"service": video.pk})
    checkout = reverse("shop:checkout", args=[org.slug])
    response = client.get(checkout)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(customer.user)
    photo.price = Decimal("200.00")  # changed after the cart was filled
    photo.save()
    page = client.get(checkout)
    assert page.status_code == 200
    assert 'data-testid="prices-changed"' in page.content.decode()
    assert "349.95 EUR" in page.content.decode()
    response = client.post(checkout, {"provider": "test"})
    order = ShopOrder.objects.get()
    assert order.total == Decimal("349.95") and order.contact == customer
    payment = order.payments.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("payments:pay", args=[payment.public_id])
    order_url = reverse("shop:order", args=[org.slug, order.public_id])
    assert payment.return_url.endswith(order_url)
    back = client.post(payment.next_action["url"], {"action": "pay"})
    assert back["Location"].endswith(order_url)
    order.refresh_from_db()
    assert order.status == ShopOrderStatus.PAID
    # The cart is empty after the order.
    assert client.get(checkout)["Location"] == reverse("shop:cart", args=[org.slug])


def test_order_page_offers_options_once_paid_and_books_one(
    client, org, photo, video, customer, test_provider
):
    staff = make_staff(org, skills={"camera": 5, "drone": 5}, hours=ALL_WEEK, first_name="Ruben")
    order = shop.shop_order_place(
        organisation=org, contact=customer, cart=_cart(org, (photo, 1), (video, 1))
    )
    client.force_login(customer.user)
    url = reverse("shop:order", args=[org.slug, order.public_id])
    unpaid = client.get(url).content.decode()
    assert 'data-testid="pay-order"' in unpaid and 'data-testid="option"' not in unpaid
    assert client.post(url, {"action": "book", "o": "x"}).status_code == 400
    _pay(client, order)
    page = client.get(url)
    body = page.content.decode()
    assert page.status_code == 200 and 'data-testid="option"' in body and "Ruben" in body
    token = page.context["days"][0]["first"][0]["token"]
    response = client.post(url, {"action": "book", "o": token})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == ShopOrderStatus.BOOKED
    assert order.booking.staff == staff and order.booking.status == BookingStatus.CONFIRMED
    assert 'data-testid="order-booked"' in client.get(url).content.decode()
    again = client.post(url, {"action": "book", "o": token})
    assert again.status_code == 400 and Booking.objects.count() == 1


def test_address_is_asked_when_the_visit_needs_travel_and_none_is_known(
    client, org, photo, test_provider
):
    user = UserFactory()
    contact = ContactFactory(organisation=org, user=user)
    order = shop.shop_order_place(organisation=org, contact=contact, cart=_cart(org, (photo, 1)))
    _pay(client, order)
    client.force_login(user)
    url = reverse("shop:order", args=[org.slug, order.public_id])
    page = client.get(url)
    assert 'name="postcode"' in page.content.decode() and not page.context["searched"]
    bad = client.get(url, {"postcode": "nonsense", "start": "", "end": ""})
    assert bad.context["form"].errors


def test_someone_elses_order_is_404(client, org, photo, customer):
    order = shop.shop_order_place(organisation=org, contact=customer, cart=_cart(org, (photo, 1)))
    url = reverse("shop:order", args=[org.slug, order.public_id])
    assert client.get(url).status_code == 302  # anonymous: log in first
    other = ContactFactory(organisation=org, user=UserFactory())
    client.force_login(other.user)
    assert client.get(url).status_code == 404
    assert client.post(url, {"action": "pay", "provider": "test"}).status_code == 404
    client.force_login(customer.user)
    assert client.get(url).status_code == 200
    other_org = make_org()
    assert (
        client.get(reverse("shop:order", args=[other_org.slug, order.public_id])).status_code == 404
    )


def test_orders_list_for_managers_and_customers(client, org, photo, customer):
    order = shop.shop_order_place(organisation=org, contact=customer, cart=_cart(org, (photo, 1)))
    someone = ContactFactory(organisation=org, user=UserFactory())
    url = reverse("shop:orders", args=[org.slug])

    manager = StaffFactory(unit=make_unit(org, "HQ"), roles=[Role.MANAGER])
    client.force_login(manager.user)
    page = client.get(url)
    assert page.status_code == 200 and list(page.context["orders"]) == [order]

    tech = StaffFactory(unit=make_unit(org, "Field"), roles=[Role.TECHNICIAN])
    client.force_login(tech.user)
    assert client.get(url).status_code == 404

    other_org = make_org()
    foreign_manager = StaffFactory(unit=make_unit(other_org, "HQ"), roles=[Role.MANAGER])
    client.force_login(foreign_manager.user)
    assert client.get(url).status_code == 404

    client.force_login(someone.user)
    assert list(client.get(url).context["orders"]) == []
    client.force_login(customer.user)
    assert list(client.get(url).context["orders"]) == [order]


def test_staff_cannot_check_out(client, org, photo):
    staff = StaffFactory(unit=make_unit(org, "HQ"), roles=[Role.MANAGER])
    client.post(reverse("shop:cart_add", args=[org.slug]), {"service": photo.pk})
    client.force_login(staff.user)
    assert client.get(reverse("shop:checkout", args=[org.slug])).status_code == 403
    assert not ShopOrder.objects.exists()
