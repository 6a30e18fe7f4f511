"""A Swedish customer books a paid session on the public page and pays with Swish (S0.7, S0.8):
on a phone the pay page opens the Swish app, on a desktop it shows the QR code. The local Swish
fake (mutual TLS, the documented Commerce API) plays the bank: the test approves the payment
there, the fake sends its callback to the live server, the provider confirms it by fetching the
payment request, the booking is confirmed and the pay page returns to the confirmation."""

import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def swish(demo, monkeypatch, settings):
    """The Swish fake, with the demo's Swedish organisation pointed at it; callbacks go to the
    live server."""
    from slotwise.payments.fakes.swish import SwishFake
    from slotwise.payments.models import ProviderConfig

    fake = SwishFake().start()
    try:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        updated = ProviderConfig.objects.filter(
            organisation__slug="samtalsbolaget", provider="swish"
        ).update(settings=fake.settings())
        assert updated == 1
        settings.SITE_URL = demo.url
        yield fake
    finally:
        fake.stop()


def _book_and_choose_swish(page, base_url: str, *, email: str):
    page.goto(f"{base_url}/book/samtalsbolaget/session/?lang=en")
    assert "950.00 SEK" in page.locator("[data-testid=prepay]").inner_text()
    page.locator("[data-testid=option]").first.wait_for()
    page.locator("[data-testid=option]").first.click()
    page.locator("[data-testid=prepay-note]").wait_for()
    page.locator("input[name=first_name]").fill("Maja")
    page.locator("input[name=last_name]").fill("Karlsson")
    page.locator("input[name=phone]").fill("070 765 43 21")
    page.locator("input[name=email]").fill(email)
    page.locator("[data-testid=confirm]").click()
    page.locator("[data-testid=pay-choice]").wait_for()
    assert "950.00 SEK" in page.locator("[data-testid=due-amount]").inner_text()
    page.locator("[data-testid=provider-swish] input").check()
    page.locator("[data-testid=pay-submit]").click()
    page.locator("[data-testid=pay-page]").wait_for()


def _approve_in_swish(fake, email: str):
    """The payer approves in the app: the fake marks the request paid and sends the callback."""
    from slotwise.payments.models import Payment

    payment = Payment.objects.get(booking__contact__email=email, provider="swish")
    assert payment.status == "pending"
    fake.pay(payment.provider_reference)
    return payment


def _paid_confirmation(page, payment):
    from slotwise.bookings.models import BookingStatus

    # The pay page follows the status and returns to the confirmation once paid.
    page.locator("[data-testid=confirmation]").wait_for()
    page.locator("[data-testid=payment-state][data-state=paid]").wait_for()
    payment.refresh_from_db()
    assert payment.status == "paid"
    assert payment.booking.status == BookingStatus.CONFIRMED


def test_customer_on_a_phone_pays_with_the_swish_app(demo, swish, chromium_browser):
    context = chromium_browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, service_workers="block"
    )
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        _book_and_choose_swish(page, demo.url, email="maja.phone@example.com")
        open_app = page.locator("[data-testid=pay-open-app]")
        open_app.wait_for()
        assert open_app.get_attribute("href").startswith("swish://paymentrequest?token=")
        assert not page.locator("[data-testid=pay-qr]").is_visible()
        payment = _approve_in_swish(swish, "maja.phone@example.com")
        _paid_confirmation(page, payment)
    finally:
        context.close()


def test_customer_on_a_desktop_scans_the_swish_qr_code(demo, swish, chromium_browser):
    context = chromium_browser.new_context(viewport=DESKTOP, service_workers="block")
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        _book_and_choose_swish(page, demo.url, email="maja.desk@example.com")
        qr = page.locator("[data-testid=pay-qr]")
        qr.wait_for()
        assert qr.locator("svg").count() == 1
        assert not page.locator("[data-testid=pay-open-app]").is_visible()
        payment = _approve_in_swish(swish, "maja.desk@example.com")
        _paid_confirmation(page, payment)
    finally:
        context.close()

