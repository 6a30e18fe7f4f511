"""The technician app offline (S2.4), on a phone viewport with the service worker running: Today
and its order cards stay readable without a connection, status changes made offline are queued
on the phone and sent when it is back online; a change the office overtook meanwhile is shown
as a conflict and the server's state stands."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]

PHONE = {"width": 390, "height": 844}
PASSWORD = "offline-Tech-123"


def _today_start(hour_offset: int) -> dt.datetime:
    """A start time today in Los Angeles (the World's zone), near now."""
    from slotwise.workorders.tests.fixtures import LA

    now = timezone.now().astimezone(LA)
    start = (now + dt.timedelta(hours=hour_offset)).replace(minute=0, second=0, microsecond=0)
    if start.date() != now.date():
        start = now.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(
            minutes=30 * (hour_offset + 3)
        )
    return start


def _order(w, title: str, hour_offset: int):
    from slotwise.workorders import services
    from slotwise.workorders.models import Source

    order = services.work_order_create(
        organisation=w.org,
        contact=w.contact,
        source=Source.PHONE,
        title=title,
        type=w.type,
        location=w.location,
        actor=w.manager.user,
    )
    start = _today_start(hour_offset)
    return services.work_order_assign(
        order=order,
        technician=w.tech,
        start=start,
        actor=w.manager.user,
        enforce_availability=False,
        now=start - dt.timedelta(days=1),
    )


def _log_in(browser, base_url: str, username: str):
    context = browser.new_context(viewport=PHONE, service_workers="allow")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base_url}/accounts/login/")
    form = page.locator("form").filter(has=page.locator("input[name=password]"))
    form.locator("input[name=login]").fill(username)
    form.locator("input[name=password]").fill(PASSWORD)
    with page.expect_navigation():
        form.locator("button[type=submit]").last.click()
    return page


def _wait_cached(page, cache_name: str, path: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    script = """([name, path]) => caches.open(name)
        .then((c) => c.match(location.origin + path, {ignoreVary: true}))
        .then((r) => Boolean(r))"""
    while time.monotonic() < deadline:
        if page.evaluate(script, [cache_name, path]):
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} was not cached in {cache_name}")


def _wait_worker_of(page, user_id: int, timeout: float = 20.0) -> None:
    """Until the page is controlled by a service worker made for `user_id` (the one registered
    on the login page was made for nobody; the technician page's hello replaces it)."""
    script = """() => new Promise((resolve) => {
        const worker = navigator.serviceWorker.controller;
        if (!worker) return resolve(null);
        const channel = new MessageChannel();
        channel.port1.onmessage = (e) => resolve(e.data.user);
        worker.postMessage({type: "hello", user: JSON.parse(
            document.getElementById("offline-config").textContent).user}, [channel.port2]);
        setTimeout(() => resolve(null), 1000);
    })"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate(script) == str(user_id):
            return
        time.sleep(0.3)
    raise AssertionError(f"no service worker for user {user_id}")


def test_offline_today_queue_and_sync(live_server, chromium_browser):
    from slotwise.workorders import services
    from slotwise.workorders.models import Event, Status, WorkOrder, WorkOrderEvent
    from slotwise.workorders.tests.fixtures import World

    w = World()
    w.tech.user.set_password(PASSWORD)
    w.tech.user.save(update_fields=["password"])
    sink = _order(w, "Leaking sink", 1)
    tap = _order(w, "Dripping tap", 3)
    card = f"/work/tech/o/{sink.public_id}/"
    tap_card = f"/work/tech/o/{tap.public_id}/"
    cache_name = f"slotwise-tech-{w.tech.user.pk}"

    page = _log_in(chromium_browser, live_server.url, w.tech.user.username)
    context = page.context
    try:
        # Online: Today through the service worker, its cards warmed into the user's cache.
        page.goto(f"{live_server.url}/work/tech/")
        _wait_worker_of(page, w.tech.user.pk)
        page.reload()
        rows = page.locator("[data-testid=order-row]")
        rows.first.wait_for()
        assert rows.count() == 2
        _wait_cached(page, cache_name, "/work/tech/")
        _wait_cached(page, cache_name, card)
        _wait_cached(page, cache_name, tap_card)

        # The sink's title changes on the server (behind the version's back, so the queued
        # changes below still match): the phone, offline, shows what it saved.
        WorkOrder.objects.filter(pk=sink.pk).update(title="Leaking sink (renamed)")
        context.set_offline(True)
        page.goto(f"{live_server.url}/work/tech/")
        banner = page.locator("[data-testid=offline-banner]")
        banner.wait_for(state="visible")
        assert page.locator("[data-testid=order-row]").count() == 2
        assert "renamed" not in page.locator("[data-testid=order-list]").inner_text()

        # Offline on the card: Get started, then Pause (on the version the start leads to).
        page.locator(f"[data-testid=order-row][data-order='{sink.public_id}'] a").click()
        page.wait_for_url(f"**{card}")
        page.locator("[data-testid=order-title]").wait_for()
        page.locator("[data-testid=act-start]").click()
        queued = page.locator("[data-testid=offline-item]")
        queued.first.wait_for()
        assert "Waiting to be sent" in queued.first.inner_text()
        assert page.locator("[data-testid=offline-status]").get_attribute("data-status") == (
            "in_progress"
        )
        assert page.locator("[data-testid=act-start]").is_hidden()
        page.locator("[data-testid=act-pause]").click()
        page.wait_for_function(
            "document.querySelectorAll('[data-testid=offline-item]').length === 2"
        )
        assert page.locator("[data-testid=offline-status]").get_attribute("data-status") == (
            "paused"
        )
        # The other card, also from the cache: accept it.
        page.goto(f"{live_server.url}{tap_card}")
        page.locator("[data-testid=act-accept]").click()
        page.wait_for_function(
            "document.querySelectorAll('[data-testid=offline-item]').length === 3"
        )
        # Nothing reached the server yet.
        sink.refresh_from_db()
        assert sink.status == Status.ASSIGNED

        # Meanwhile the office moves the tap order to another time: its version moves on.
        tap = services.work_order_assign(
            order=tap,
            technician=w.tech,
            start=_today_start(4),
            actor=w.manager.user,
            enforce_availability=False,
            now=_today_start(4) - dt.timedelta(days=1),
        )

        # Back online: the queue is sent, the results shown, the page reloaded from the server.
        context.set_offline(False)
        results = page.locator("[data-testid=offline-result]")
        page.wait_for_function(
            "document.querySelectorAll('[data-testid=offline-result]').length === 3",
            timeout=30_000,
        )
        assert [results.nth(i).get_attribute("data-result") for i in range(3)] == [
            "applied",
            "applied",
            "conflict",
        ]
        assert "The office changed this order: it is now “Assigned”." in results.nth(2).inner_text()
        assert page.locator("[data-testid=offline-item]").count() == 0
        assert page.locator("[data-testid=order-status]").get_attribute("data-status") == (
            "assigned"
        )
        assert banner.is_hidden()

        # The server applied the two sink changes with the phone's times, and kept the tap's.
        sink = WorkOrder.objects.get(pk=sink.pk)
        assert sink.status == Status.PAUSED
        started = WorkOrderEvent.objects.get(order=sink, kind=Event.STARTED)
        assert started.client_at is not None and started.client_at <= started.at
        assert started.data.get("sync_id")
        assert WorkOrder.objects.get(pk=tap.pk).status == Status.ASSIGNED
        assert not WorkOrderEvent.objects.filter(order=tap, kind=Event.ACCEPTED).exists()

        # The sink's card now shows the server's state with its next action.
        page.goto(f"{live_server.url}{card}")
        assert page.locator("[data-testid=order-status]").get_attribute("data-status") == "paused"
        page.locator("[data-testid=act-resume]").wait_for()
        page.locator("[data-testid=offline-dismiss]").click()
        assert page.locator("[data-testid=offline-queue]").is_hidden()
    finally:
        context.close()


def test_a_status_change_lost_on_the_way_is_queued_and_sent(live_server, chromium_browser):
    """The phone says it is online but the POST fails with a network error: the service worker
    queues the change, the card comes back, and the queue is sent as soon as the network
    answers again."""
    from slotwise.workorders.models import Event, Status, WorkOrder, WorkOrderEvent
    from slotwise.workorders.tests.fixtures import World

    w = World()
    w.tech.user.set_password(PASSWORD)
    w.tech.user.save(update_fields=["password"])
    sink = _order(w, "Leaking sink", 1)
    card = f"/work/tech/o/{sink.public_id}/"

    page = _log_in(chromium_browser, live_server.url, w.tech.user.username)
    context = page.context
    try:
        page.goto(f"{live_server.url}{card}")
        _wait_worker_of(page, w.tech.user.pk)
        page.reload()
        failed = []

        def drop(route):
            failed.append(route.request.url)
            route.abort("internetdisconnected")

        context.route("**/act/", drop)
        page.locator("[data-testid=act-start]").click()
        page.wait_for_function(
            "document.querySelectorAll('[data-testid=offline-result]').length === 1",
            timeout=30_000,
        )
        assert failed, "the action's POST did not go out"
        result = page.locator("[data-testid=offline-result]").first
        assert result.get_attribute("data-result") == "applied"
        assert page.locator("[data-testid=order-status]").get_attribute("data-status") == (
            "in_progress"
        )
        sink = WorkOrder.objects.get(pk=sink.pk)
        assert sink.status == Status.IN_PROGRESS
        assert WorkOrderEvent.objects.get(order=sink, kind=Event.STARTED).data.get("sync_id")

        # Logging out leaves nothing of the technician's pages on the phone.
        cache_name = f"slotwise-tech-{w.tech.user.pk}"
        assert page.evaluate("(name) => caches.has(name)", cache_name)
        with page.expect_navigation():
            page.evaluate("document.querySelector('form[action$=\"/logout/\"]').submit()")
        deadline = time.monotonic() + 15
        while page.evaluate("(name) => caches.has(name)", cache_name):
            assert time.monotonic() < deadline, "the technician's cache outlived the log-out"
            time.sleep(0.2)
    finally:
        context.close()
