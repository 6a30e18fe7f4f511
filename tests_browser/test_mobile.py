"""The layout on a phone: a menu toggle, the navigation folded away, no sideways scrolling."""

import pytest

from .conftest import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]

PHONE = {"width": 390, "height": 844}
NAV_DISPLAY = "getComputedStyle(document.getElementById('nav')).display"
SCROLL_WIDTH = "document.scrollingElement.scrollWidth"


@pytest.mark.parametrize(
    ("username", "role"), [("nl-manager", "manager"), ("msk-customer", "customer")]
)
def test_phone_layout(demo, chromium_browser, username, role):
    page = log_in(chromium_browser, demo.url, username, viewport=PHONE)
    try:
        page.locator(f"[data-testid=home-{role}]").wait_for(state="visible")
        toggle = page.locator(".menu-toggle")
        assert toggle.is_visible()
        assert page.evaluate(NAV_DISPLAY) == "none"
        assert toggle.get_attribute("aria-expanded") == "false"
        toggle.click()
        assert page.evaluate(NAV_DISPLAY) != "none"
        assert toggle.get_attribute("aria-expanded") == "true"
        assert page.evaluate(SCROLL_WIDTH) <= PHONE["width"]
    finally:
        page.context.close()


def test_landing_page_on_a_phone(demo, chromium_browser):
    context = chromium_browser.new_context(viewport=PHONE, service_workers="block")
    try:
        page = context.new_page()
        page.goto(demo.url + "/")
        page.locator("[data-testid=home-landing]").wait_for(state="visible")
        assert page.locator(".menu-toggle").is_visible()
        assert page.evaluate(NAV_DISPLAY) == "none"
        assert page.evaluate(SCROLL_WIDTH) <= PHONE["width"]
    finally:
        context.close()
