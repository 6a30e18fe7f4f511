"""A customer books on a company's own website through the one-line embed snippet, then
reschedules and cancels through the link in their message (S4.6, S4.13); and the plain public
page on a phone."""

import datetime
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]

PHONE = {"width": 390, "height": 844}


def host_page(base_url: str) -> str:
    """The company's page: its own content and the one line the embed-code page hands out."""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Adviesgroep — make an appointment</h1>
<script src="{base_url}/static/slotwise/embed.js" data-slotwise-org="adviesgroep"
 data-slotwise-type="advies" data-slotwise-lang="en" async></script>
<footer id="shop-footer">Shop footer</footer></body></html>"""


@pytest.fixture
def shop(demo):
    """The company's website on another site than Slotwise (127.0.0.1 vs the live server's
    localhost: another host, so the iframe is a third-party frame), served by a tiny HTTP server.
    Both are on loopback: Chromium blocks a public page from loading loopback resources."""
    body = host_page(demo.url).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host = f"http://127.0.0.1:{server.server_address[1]}/"
        assert urlsplit(host).hostname != urlsplit(demo.url).hostname
        yield host
    finally:
        server.shutdown()
        server.server_close()


def _outbox_manage_link() -> str:
    from slotwise.messaging.models import Message

    message = Message.objects.filter(channel="email").latest("created_at")
    return re.search(r"https?://\S+/bookings/manage/\S+/", message.body).group(0)


def test_customer_books_on_the_embedded_page_then_reschedules_and_cancels(
    demo, shop, chromium_browser
):
    from slotwise.bookings.models import Booking, BookingStatus

    context = chromium_browser.new_context(viewport={"width": 1024, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(shop)
        frame_element = page.locator("iframe.slotwise-embed")
        frame_element.wait_for()
        frame = page.frame_locator("iframe.slotwise-embed")
        frame.locator("[data-testid=public-book]").wait_for()
        assert frame.locator(".topbar").count() == 0  # minimal chrome

        first_day = datetime.date.today() + datetime.timedelta(days=3)
        frame.locator("input[name=postcode]").fill("9999 ZZ")  # valid-looking, not found
        frame.locator("[data-testid=search]").click()
        frame.locator("#search-area .errorlist").wait_for()
        assert frame.locator("[data-testid=option]").count() == 0
        frame.locator("input[name=postcode]").fill("1012 AB")
        frame.locator("input[name=address]").fill("Damrak 1")
        frame.locator("input[name=start]").fill(first_day.isoformat())
        frame.locator("input[name=end]").fill((first_day + datetime.timedelta(days=13)).isoformat())
        frame.locator("[data-testid=search]").click()
        frame.locator("[data-testid=option]").first.wait_for()
        assert "Femke" in frame.locator("[data-testid=options]").inner_text()
        # The iframe grew to its content (the page reports its height with postMessage).
        page.wait_for_function(
            "() => parseInt(document.querySelector('iframe.slotwise-embed').style.height) > 700"
        )
        frame.locator("[data-testid=option]").first.click()

        frame.locator("[data-testid=details-form]").wait_for()
        frame.locator("input[name=first_name]").fill("Sanne")
        frame.locator("input[name=last_name]").fill("Jansen")
        frame.locator("input[name=phone]").fill("06 23456789")
        frame.locator("input[name=email]").fill("sanne@example.com")
        frame.locator("[data-testid=confirm]").click()
        frame.locator("[data-testid=confirmation]").wait_for()
        assert "Femke" in frame.locator("[data-testid=staff]").inner_text()
        assert page.locator("#shop-footer").is_visible()  # still on the company's page

        booking = Booking.objects.get(contact__email="sanne@example.com")
        assert booking.source == "public" and booking.status == BookingStatus.CONFIRMED
        assert booking.location is not None
        first_start = booking.start

        # The manage link from the e-mail in the outbox, opened like from a mail client.
        link = _outbox_manage_link()
        manage = context.new_page()
        manage.set_default_timeout(20_000)
        manage.goto(demo.url + urlsplit(link).path)
        manage.locator("[data-testid=manage]").wait_for()
        manage.locator("[data-testid=reschedule]").click()
        manage.locator("[data-testid=reschedule-page]").wait_for()
        same = manage.locator("[data-testid=same-staff] [data-testid=option]")
        same.first.wait_for()
        # The first time of the last day offered with Femke.
        manage.locator("[data-testid=same-staff] section.day").last.locator(
            "[data-testid=option]"
        ).first.click()
        manage.locator("[data-testid=done]").wait_for()
        booking.refresh_from_db()
        assert booking.start != first_start
        assert booking.staff.user.first_name == "Femke"
        assert booking.status == BookingStatus.CONFIRMED

        manage.once("dialog", lambda dialog: dialog.accept())
        manage.locator("[data-testid=cancel]").click()
        manage.wait_for_url(re.compile(r"done=cancelled"))
        manage.locator("[data-testid=done]").wait_for()
        booking.refresh_from_db()
        assert booking.status == BookingStatus.CANCELLED
        assert "Cancelled" in manage.locator("[data-testid=status]").inner_text()
    finally:
        context.close()


def test_plain_public_page_on_a_phone(demo, chromium_browser):
    from slotwise.bookings.models import Booking

    context = chromium_browser.new_context(viewport=PHONE, service_workers="block")
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(demo.url + "/book/adviesgroep/")
        page.locator("[data-testid=type-telefonisch]").click()
        page.locator("[data-testid=option]").first.wait_for()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
        assert page.locator("html").get_attribute("lang") == "nl"  # the organisation's language
        page.locator("[data-testid=option]").first.click()
        page.locator("input[name=first_name]").fill("Daan")
        page.locator("input[name=phone]").fill("0611122233")
        page.locator("input[name=email]").fill("daan@example.com")
        page.locator("[data-testid=confirm]").click()
        page.locator("[data-testid=confirmation]").wait_for()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
        assert Booking.objects.filter(contact__email="daan@example.com").count() == 1
    finally:
        context.close()
