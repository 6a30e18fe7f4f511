"""The webshop (S4.9) on a phone: an estate agent logs in, puts two services in the cart, pays
with the test provider and books the visit from the options the option generator offers."""

import pytest

from .conftest import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]

PHONE = {"width": 390, "height": 844}


def test_agent_buys_two_services_pays_and_books_the_visit(demo, chromium_browser):
    from slotwise.bookings.models import BookingStatus
    from slotwise.org.models import Organisation
    from slotwise.payments.models import PaymentStatus, ProviderConfig, ShopOrder
    from slotwise.scheduling.models import AppointmentType

    org = Organisation.objects.get(slug="adviesgroep")
    ProviderConfig.objects.get_or_create(organisation=org, provider="test")
    taxatie = AppointmentType.objects.get(organisation=org, slug="taxatie")
    label = AppointmentType.objects.get(organisation=org, slug="energielabel")

    page = log_in(chromium_browser, demo.url, "nl-customer", viewport=PHONE)
    try:
        page.goto(f"{demo.url}/shop/adviesgroep/")
        page.get_by_test_id("service-taxatie").wait_for()
        page.get_by_test_id("add-taxatie").click()
        page.get_by_test_id("cart-line-taxatie").wait_for()
        page.goto(f"{demo.url}/shop/adviesgroep/")
        page.get_by_test_id("add-energielabel").click()
        page.get_by_test_id("cart-line-energielabel").wait_for()
        expected = taxatie.price + label.price
        assert page.get_by_test_id("cart-total").inner_text() == f"{expected:.2f} EUR"
        assert (
            page.get_by_test_id("cart-duration")
            .inner_text()
            .startswith(str(taxatie.duration_minutes + label.duration_minutes))
        )

        page.get_by_test_id("checkout").click()
        page.get_by_test_id("shop-checkout").wait_for()
        page.locator("input[name=provider][value=test]").check()
        page.get_by_test_id("place-order").click()

        # The shared pay page, then the test provider's own checkout page.
        page.get_by_test_id("pay-page").wait_for()
        page.get_by_test_id("pay-redirect").click()
        page.get_by_test_id("test-checkout").wait_for()
        page.get_by_test_id("test-pay").click()

        # Back on the order: paid, and the options for the visit are there at once (the agent's
        # address is known).
        page.get_by_test_id("order-paid").wait_for()
        options = page.get_by_test_id("option")
        options.first.wait_for()
        assert options.count() > 0
        options.first.click()
        page.get_by_test_id("order-booked").wait_for()
        assert page.get_by_test_id("shop-order").get_attribute("data-status") == "booked"
    finally:
        page.context.close()

    order = ShopOrder.objects.select_related("booking").get(organisation=org)
    assert order.status == "booked" and order.total == expected
    assert order.payments.get().status == PaymentStatus.PAID
    booking = order.booking
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.type == taxatie and list(booking.services.all()) == [label]
    minutes = (booking.end - booking.start).total_seconds() / 60
    assert minutes == taxatie.duration_minutes + label.duration_minutes
    assert booking.contact.user.username == "nl-customer"
