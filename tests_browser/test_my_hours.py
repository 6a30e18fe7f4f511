"""A technician changes their own working hours on a phone (S2.4)."""

import datetime as dt

import pytest

from .conftest import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]

PHONE = {"width": 390, "height": 844}
SCROLL_WIDTH = "document.scrollingElement.scrollWidth"


def test_technician_changes_own_hours_on_a_phone(demo, chromium_browser):
    from slotwise.org.models import Staff
    from slotwise.scheduling.models import WorkingHours

    staff = Staff.objects.get(user__username="la-tech")
    page = log_in(chromium_browser, demo.url, "la-tech", viewport=PHONE)
    try:
        # through the menu, as on a phone
        page.click(".menu-toggle")
        with page.expect_navigation():
            page.click("#nav a[href='/scheduling/hours/']")
        page.locator("[data-testid=my-hours]").wait_for(state="visible")
        assert page.evaluate(SCROLL_WIDTH) <= PHONE["width"]

        monday = page.locator("[data-weekday=mon]")
        saturday = page.locator("[data-weekday=sat]")
        # a typo first: the error shows next to Monday and nothing changes
        before = list(
            WorkingHours.objects.filter(staff=staff).values_list("weekday", "start", "end")
        )
        monday.fill("07:30-11:30, 11:00-16:00")
        page.click("[data-testid=save-week]")
        page.locator("[data-field=mon]").wait_for(state="visible")
        after = list(
            WorkingHours.objects.filter(staff=staff).values_list("weekday", "start", "end")
        )
        assert sorted(after) == sorted(before)

        page.locator("[data-weekday=mon]").fill("07:30-11:30, 12:30-16:00")
        page.locator("[data-weekday=sat]").fill("9-13")
        with page.expect_navigation():
            page.click("[data-testid=save-week]")
        assert page.locator("[data-weekday=mon]").input_value() == "07:30-11:30, 12:30-16:00"
        assert page.locator("[data-weekday=sat]").input_value() == "09:00-13:00"
        assert page.locator(".messages").is_visible()

        monday_hours = list(
            WorkingHours.objects.filter(staff=staff, weekday=0)
            .order_by("start")
            .values_list("start", "end")
        )
        assert monday_hours == [(dt.time(7, 30), dt.time(11, 30)), (dt.time(12, 30), dt.time(16))]
        assert list(
            WorkingHours.objects.filter(staff=staff, weekday=5).values_list("start", "end")
        ) == [(dt.time(9), dt.time(13))]
        assert saturday.is_visible()
        assert page.evaluate(SCROLL_WIDTH) <= PHONE["width"]
    finally:
        page.context.close()
