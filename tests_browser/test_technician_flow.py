"""A technician's order on a phone, start to finish (S2.4–S2.9): accept, get started, pause, resume,
add an extra from the catalogue, wait while a manager approves it in a second browser, photograph
the work (file chooser), take cash, complete; the manager confirms and the order is closed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from .conftest import DEMO_PASSWORD, log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]

PHONE = {"width": 390, "height": 844}
SCROLL_WIDTH = "document.scrollingElement.scrollWidth"


def _png() -> bytes:
    from slotwise.workorders.tests.fixtures import png_bytes

    return png_bytes(size=(64, 48))


@pytest.fixture
def field_order(live_server):
    """A home-repair company in Los Angeles (the work-orders tests' World) with an order assigned
    to Tom for today, a catalogue item and both users' passwords set for the login form."""
    from django.core.cache import cache
    from django.utils import timezone

    from slotwise.workorders import services
    from slotwise.workorders.models import CatalogueItem, Source
    from slotwise.workorders.tests.fixtures import LA, World, local

    cache.clear()
    w = World()
    for staff in (w.manager, w.tech):
        staff.user.set_password(DEMO_PASSWORD)
        staff.user.save()
    CatalogueItem.objects.create(
        organisation=w.org, kind="goods", name="Shut-off valve", unit_price=Decimal("12.50")
    )
    order = services.work_order_create(
        organisation=w.org,
        contact=w.contact,
        source=Source.PHONE,
        title="Leaking kitchen sink",
        description="Water under the sink",
        type=w.type,
        location=w.location,
        lines=[services.LineInput(kind="labour", name="Labour", quantity="1", unit_price="80")],
        actor=w.manager.user,
    )
    start = local(timezone.now().astimezone(LA).date(), 9)
    order = services.work_order_assign(
        order=order,
        technician=w.tech,
        start=start,
        actor=w.manager.user,
        enforce_availability=False,
        now=start - dt.timedelta(days=2),
    )
    return w, order


def _status(order) -> str:
    order.refresh_from_db()
    return order.status


def test_technician_runs_an_order_on_a_phone(live_server, chromium_browser, field_order):
    from slotwise.workorders.models import Status

    w, order = field_order
    base = live_server.url
    tech = log_in(chromium_browser, base, w.tech.user.username, viewport=PHONE)
    manager = None
    try:
        # Today's list → the order card
        tech.goto(f"{base}/work/tech/")
        row = tech.locator(f"[data-testid=order-row][data-order='{order.public_id}']")
        row.wait_for(state="visible")
        assert "80.00 USD" in row.inner_text() and "Leaking kitchen sink" in row.inner_text()
        assert tech.evaluate(SCROLL_WIDTH) <= PHONE["width"]
        with tech.expect_navigation():
            row.locator("a").click()
        tech.locator("[data-testid=order-title]").wait_for(state="visible")
        assert (
            tech.locator("[data-testid=client-phone]").get_attribute("href") == "tel:+13105550101"
        )
        assert "maps.google.com" in tech.locator("[data-testid=map-link]").get_attribute("href")

        # accept, get started, pause, resume
        for action, status in (
            ("accept", Status.ACCEPTED),
            ("start", Status.IN_PROGRESS),
            ("pause", Status.PAUSED),
            ("resume", Status.IN_PROGRESS),
        ):
            with tech.expect_navigation():
                tech.click(f"[data-testid=act-{action}]")
            tech.locator(f"[data-testid=order-status][data-status={status}]").wait_for()
            assert _status(order) == status
        assert tech.evaluate(SCROLL_WIDTH) <= PHONE["width"]

        # an extra from the catalogue: its price fills in, the total waits for approval
        tech.click("[data-testid=extras-open]")
        first_row = tech.locator("[data-testid=extra-row]").first
        first_row.locator("[data-testid=extra-item]").select_option(label="Shut-off valve · 12.50")
        assert first_row.locator("[data-testid=extra-price]").input_value() == "12.50"
        first_row.locator("[data-testid=extra-quantity]").fill("2")
        tech.fill("[data-testid=extras-note]", "The old valve is rusted through")
        with tech.expect_navigation():
            tech.click("[data-testid=extras-submit]")
        tech.locator("[data-testid=waiting-approval]").wait_for(state="visible")
        assert tech.locator("[data-testid=act-complete]").count() == 0
        assert _status(order) == Status.NEEDS_CONFIRMATION

        # the manager approves in a second browser
        manager = log_in(chromium_browser, base, w.manager.user.username)
        manager.goto(f"{base}/work/{order.public_id}/")
        with manager.expect_navigation():
            manager.get_by_role("button", name="Approve", exact=True).click()
        order.refresh_from_db()
        assert order.status == Status.IN_PROGRESS and order.total == Decimal("105.00")

        # the technician sees it, photographs the work
        tech.reload()
        tech.locator(f"[data-testid=order-status][data-status={Status.IN_PROGRESS}]").wait_for()
        assert "105.00 USD" in tech.locator("[data-testid=order-total]").inner_text()
        with tech.expect_file_chooser() as chooser:
            tech.click("[data-testid=photo-input]")
        chooser.value.set_files(
            files=[{"name": "sink.png", "mimeType": "image/png", "buffer": _png()}]
        )
        with tech.expect_navigation():
            tech.click("[data-testid=photo-upload]")
        tech.locator("[data-testid=photo]").first.wait_for(state="visible")
        assert order.photos.count() == 1

        # completes: empty tips are refused first, then cash
        with tech.expect_navigation():
            tech.click("[data-testid=act-complete]")
        form = tech.locator("[data-testid=complete-form]")
        form.wait_for(state="visible")
        assert tech.locator("[data-testid=f-work_cost]").input_value() == "80.00"
        assert tech.locator("[data-testid=f-extras_cost]").input_value() == "25.00"
        assert tech.locator("[data-testid=f-payment_amount]").input_value() == "105.00"
        tech.fill("[data-testid=f-travel_cost]", "0")
        tech.fill("[data-testid=f-toll_miles]", "7.5")
        tech.locator("[data-testid=q-finished] input[value=yes]").check()
        tech.locator("[data-testid=q-client_checked] input[value=yes]").check()
        tech.locator("[data-testid=q-rating] input[value='5']").check()
        tech.locator("[data-testid=pay-cash]").check()
        with tech.expect_navigation():
            tech.click("[data-testid=complete-submit]")
        tech.locator(".error[data-field=tips]").wait_for(state="visible")
        assert _status(order) == Status.IN_PROGRESS
        assert tech.evaluate(SCROLL_WIDTH) <= PHONE["width"]
        tech.fill("[data-testid=f-tips]", "10")
        with tech.expect_navigation():
            tech.click("[data-testid=complete-submit]")
        tech.locator("[data-testid=waiting-confirmation]").wait_for(state="visible")
        order.refresh_from_db()
        assert order.status == Status.COMPLETED
        payment = order.completion.payment
        assert payment.method == "cash" and payment.received_by_id == w.tech.pk
        assert payment.amount == Decimal("105.00") and payment.tip_amount == Decimal("10.00")

        # the manager confirms: only now is the order closed
        manager.goto(f"{base}/work/{order.public_id}/")
        with manager.expect_navigation():
            manager.get_by_role("button", name="Confirm and close", exact=True).click()
        assert _status(order) == Status.CLOSED
        tech.reload()
        tech.locator("[data-testid=order-closed]").wait_for(state="visible")
        assert order.earning.total >= Decimal("10.00")
    finally:
        tech.context.close()
        if manager is not None:
            manager.context.close()
