"""A booker (call centre, S4.1) books `advies` by postcode for a demo customer and finds the
booking in the day view."""

import pytest

from .conftest import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]

PHONE = {"width": 390, "height": 844}
SCROLL_WIDTH = "document.scrollingElement.scrollWidth"


def _advies():
    from slotwise.scheduling.models import AppointmentType

    return AppointmentType.objects.get(organisation__slug="adviesgroep", slug="advies")


def test_booker_books_by_postcode_and_sees_it_in_the_day_view(demo, chromium_browser):
    from slotwise.bookings.models import Booking

    advies = _advies()
    page = log_in(chromium_browser, demo.url, "nl-manager")
    try:
        page.goto(f"{demo.url}/scheduling/booker/")
        page.locator("[data-testid=booker-form]").wait_for(state="visible")
        page.select_option("#id_type", str(advies.pk))
        page.fill("#id_postcode", "1012 AB")
        # find the customer by name: htmx swaps in the matches
        page.fill("[data-testid=contact-search]", "Emma")
        emma = page.locator("[data-testid=contact-choice]").first
        emma.wait_for(state="visible")
        emma.check()
        page.click("[data-testid=find-options]")
        option = page.locator("[data-testid=option]").first
        option.wait_for(state="visible")
        assert "Femke" in option.inner_text()
        # click 1: the option; click 2: (the customer is already chosen) Book
        option.locator("button").click()
        page.locator("[data-testid=confirm]").wait_for(state="visible")
        page.click("[data-testid=book]")
        booked = page.locator("[data-testid=booked]")
        booked.wait_for(state="visible")
        assert "Emma" in page.inner_text("[data-testid=booked-customer]")

        booking = Booking.objects.select_related("contact", "staff__user", "created_by").get(
            source="booker"
        )
        assert booking.type_id == advies.pk
        assert booking.contact.first_name == "Emma"
        assert booking.staff.user.first_name == "Femke"
        assert booking.source == "booker"
        assert booking.created_by.username == "nl-manager"
        local = booking.start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Amsterdam"))
        assert local.strftime("%H:%M") in page.inner_text("[data-testid=booked-when]")

        with page.expect_navigation():
            page.click("[data-testid=to-day-view]")
        page.locator("[data-testid=day-view]").wait_for(state="visible")
        row = page.locator(f"[data-testid=day-staff][data-staff='{booking.staff_id}']")
        entry = row.locator("[data-testid=day-booking]")
        assert entry.count() == 1
        text = entry.inner_text()
        assert "Emma" in text and local.strftime("%H:%M") in text
    finally:
        page.context.close()


def test_booker_shows_a_postcode_error_and_fits_a_phone(demo, chromium_browser):
    from slotwise.bookings.models import Booking

    advies = _advies()
    page = log_in(chromium_browser, demo.url, "nl-admin", viewport=PHONE)
    try:
        page.goto(f"{demo.url}/scheduling/booker/")
        page.select_option("#id_type", str(advies.pk))
        page.fill("#id_postcode", "9999 ZZ")
        page.click("[data-testid=find-options]")
        page.locator("[data-field=postcode]").wait_for(state="visible")
        assert page.locator("[data-testid=option]").count() == 0
        assert page.evaluate(SCROLL_WIDTH) <= PHONE["width"]
        page.fill("#id_postcode", "3511 AX")
        page.click("[data-testid=find-options]")
        page.locator("[data-testid=option]").first.wait_for(state="visible")
        assert page.evaluate(SCROLL_WIDTH) <= PHONE["width"]
        # an option, then back to the list without booking
        page.locator("[data-testid=option] button").first.click()
        page.locator("[data-testid=confirm]").wait_for(state="visible")
        assert page.evaluate(SCROLL_WIDTH) <= PHONE["width"]
        page.click("[data-testid=back-to-options]")
        page.locator("[data-testid=option]").first.wait_for(state="visible")
        assert page.locator("[data-testid=confirm]").count() == 0
        assert not Booking.objects.filter(source="booker").exists()
    finally:
        page.context.close()
