"""The staff inbox, live (S1/S3): a customer's message appears in an open inbox without a reload,
and a manager takes a conversation over from the bot and answers.

The pages' live updates need WebSockets, which the WSGI live server doesn't speak: these tests
run the real ASGI application (`slotwise.asgi`) under uvicorn in a thread, with the messaging
pump inside it (MESSAGING_PUMP_IN_WEB, as in `make demo`): a signed console-channel webhook
posted to that server is stored, processed by the pump and published to the open page."""

import json
import socket
import threading
import time

import httpx
import pytest

from .conftest import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]

SECRET = "browser-console-secret"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def asgi_server(demo, settings, monkeypatch):
    """slotwise.asgi under uvicorn on a free port, with the messaging pump in the process."""
    import uvicorn

    from slotwise.asgi import get_application

    monkeypatch.setenv("CONSOLE_CHANNEL_SECRET", SECRET)
    settings.MESSAGING_PUMP_IN_WEB = True
    settings.MESSAGING_PUMP_IDLE_SECONDS = 0.1
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    # A fresh application, built with these settings: the WebSocket origin check copies
    # ALLOWED_HOSTS when it is built, and the module's `application` may have been built by an
    # earlier test in this process with other hosts.
    application = get_application()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(application, lifespan="on", log_level="warning", access_log=False)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="asgi-test-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=40)
        sock.close()


def _sms_channel():
    from slotwise.messaging.models import ChannelConfig

    return ChannelConfig.objects.get(organisation__slug="fixright", name="SMS")


def _customer_writes(base_url: str, config, *, sender: str, text: str, event_id: str, name=""):
    """Be the customer: a signed console-channel webhook to the running server."""
    from slotwise.messaging.channels.console.channel import ConsoleChannel
    from slotwise.messaging.testing import inbound_path

    body = json.dumps({"from": sender, "text": text, "id": event_id, "name": name}).encode()
    response = httpx.post(
        base_url + inbound_path(config),
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Console-Signature": ConsoleChannel.sign(body, SECRET),
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_a_new_message_appears_in_the_open_inbox_without_a_reload(asgi_server, chromium_browser):
    page = log_in(chromium_browser, asgi_server, "la-manager")
    try:
        page.goto(f"{asgi_server}/inbox/")
        page.locator("#live[data-live-state=live]").wait_for(state="attached")
        rows_before = page.locator("[data-testid=conversation-row]").count()
        badge = page.locator("#nav-badge-inbox")
        unread_before = int(badge.inner_text() or 0)
        page.evaluate("window.__sameDocument = 'yes'")

        _customer_writes(
            asgi_server,
            _sms_channel(),
            sender="+13105550199",
            text="Is anyone there? The water heater is out.",
            event_id="browser-live-1",
            name="Rita Live",
        )

        row = page.locator("[data-testid=conversation-row]", has_text="Rita Live")
        row.wait_for(timeout=20_000)
        assert "The water heater is out." in row.inner_text()
        assert row.locator("[data-testid=unread]").inner_text() == "1"
        assert row.locator("[data-testid=waiting]").is_visible()
        assert page.locator("[data-testid=conversation-row]").count() == rows_before + 1
        assert int(page.locator("#nav-badge-inbox").inner_text()) == unread_before + 1
        # The same document: updated in place, not reloaded.
        assert page.evaluate("window.__sameDocument") == "yes"
        # Newest first.
        first = page.locator("[data-testid=conversation-row]").first
        assert "Rita Live" in first.inner_text()
    finally:
        page.context.close()


def test_a_manager_takes_over_from_the_bot_and_answers(asgi_server, chromium_browser):
    from slotwise.messaging.models import CannedReply, Conversation, Message
    from slotwise.messaging.tests.inbox_world import conversation
    from slotwise.org.models import Staff

    config = _sms_channel()
    conv = conversation(config, bot=True, name="Bruno", text="I want to talk to a person")
    CannedReply.objects.create(
        organisation=config.organisation,
        title="Thanks",
        shortcut="thanksx",
        body="Thanks {first_name}, a person here now.",
    )
    manager = Staff.objects.get(user__username="la-manager")

    page = log_in(chromium_browser, asgi_server, "la-manager", viewport=PHONE)
    try:
        page.goto(f"{asgi_server}/inbox/?view=bot")
        row = page.locator("[data-testid=conversation-row]", has_text="Bruno")
        assert row.locator("[data-testid=bot-badge]").is_visible()
        with page.expect_navigation():
            row.locator("a").click()
        page.locator("#live[data-live-state=live]").wait_for(state="attached")
        head = page.locator("[data-testid=conversation-head]")
        assert head.locator("[data-testid=bot-badge]").is_visible()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]

        page.click("[data-testid=take-over]")
        page.locator("[data-testid=hand-back]").wait_for()
        assert head.locator("[data-testid=bot-badge]").count() == 0
        note = page.locator("[data-system=takeover]")
        note.wait_for()
        assert "Marcus Johnson took over from the bot" in note.inner_text()

        # A canned reply by its shortcut, then a few words of one's own.
        body = page.locator("#reply-body")
        body.click()
        body.press_sequentially("/thanksx ")
        assert body.input_value() == "Thanks Bruno, a person here now."
        body.press_sequentially(" How can I help?")
        page.click("[data-testid=send]")
        sent = page.locator("[data-testid=message][data-direction=out]", has_text="How can I help?")
        sent.wait_for()
        # The pump sends it through the console channel; the tick follows live.
        sent.locator("[data-testid=ticks][data-status=delivered]").wait_for(timeout=20_000)
    finally:
        page.context.close()

    conv.refresh_from_db()
    assert conv.bot_active is False and conv.assignee == manager
    reply = Message.objects.get(conversation=conv, direction="out")
    assert reply.body == "Thanks Bruno, a person here now. How can I help?"
    assert reply.author == manager.user and reply.status == "delivered"
    assert Conversation.objects.get(pk=conv.pk).waiting_since is None
