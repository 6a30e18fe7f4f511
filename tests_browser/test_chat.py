"""In-app chat, live (S3.9): a customer writes in the portal chat, a manager answers from the
inbox, and the answer appears on the customer's open page without a reload.

Live updates need WebSockets, which the WSGI live server doesn't speak: as in test_inbox.py the
real ASGI application (`slotwise.asgi`) runs under uvicorn in a thread, with the messaging pump
inside it (MESSAGING_PUMP_IN_WEB, as in `make demo`), so the manager's reply is delivered by
the outbox through the chat channel and published to the customer's
`ws/conversations/<id>/` socket. The chat page's poll fallback is set far beyond the test's
wait, so only the socket can bring the answer in time."""

import socket
import threading
import time

import pytest

from .conftest import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]


@pytest.fixture
def asgi_server(demo, settings):
    """slotwise.asgi under uvicorn on a free port, with the messaging pump in the process."""
    import uvicorn

    from slotwise.asgi import get_application

    settings.MESSAGING_PUMP_IN_WEB = True
    settings.MESSAGING_PUMP_IDLE_SECONDS = 0.1
    settings.MESSAGING_CHAT_POLL_SECONDS = 600  # the socket must do it, not the poll
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
        target=server.run, kwargs={"sockets": [sock]}, name="asgi-chat-server", daemon=True
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


def test_a_managers_reply_appears_in_the_customers_chat_without_a_reload(
    asgi_server, chromium_browser
):
    from slotwise.messaging.models import Conversation, Message

    customer = log_in(chromium_browser, asgi_server, "la-customer")
    manager = None
    try:
        customer.goto(f"{asgi_server}/")
        with customer.expect_navigation():
            customer.locator("#nav").get_by_role("link", name="Messages").click()
        customer.locator("[data-testid=chat-empty]").wait_for()
        customer.fill("#id_body", "Is my technician still coming at 10?")
        with customer.expect_navigation():
            customer.click("[data-testid=chat-send]")
        mine = customer.locator("[data-testid=chat-message][data-direction=in]")
        assert "still coming at 10" in mine.inner_text()
        customer.locator("#chat-thread[data-live='1']").wait_for(timeout=20_000)
        customer.evaluate("window.__sameDocument = 'yes'")

        conversation = Conversation.objects.get(
            contact__user__username="la-customer", channel__kind="chat"
        )
        assert conversation.unread_count == 1

        manager = log_in(chromium_browser, asgi_server, "la-manager")
        manager.goto(f"{asgi_server}/inbox/c/{conversation.public_id}/")
        assert "still coming at 10" in manager.locator("main").inner_text()
        manager.fill("#reply-body", "Yes, Carlos is on his way and arrives at 10:05.")
        manager.click("[data-testid=send]")

        answer = customer.locator(
            "[data-testid=chat-message][data-direction=out]", has_text="arrives at 10:05"
        )
        answer.wait_for(timeout=20_000)
        assert customer.evaluate("window.__sameDocument") == "yes"  # no reload
    finally:
        customer.context.close()
        if manager is not None:
            manager.context.close()

    reply = Message.objects.get(conversation=conversation, direction="out")
    assert reply.author.username == "la-manager"
    # The pump delivers it (the in-web pump here); on a loaded machine that can follow the
    # live update by a moment.
    deadline = time.monotonic() + 15
    while reply.status not in ("delivered", "read") and time.monotonic() < deadline:
        time.sleep(0.1)
        reply.refresh_from_db()
    assert reply.status in ("delivered", "read")


def test_without_a_socket_the_chat_polls(demo, settings, chromium_browser):
    """The WSGI live server has no WebSockets: the page falls back to polling the thread."""
    from slotwise.messaging.conversations import conversation_reply
    from slotwise.messaging.models import Conversation
    from slotwise.org.models import Staff

    settings.MESSAGING_CHAT_POLL_SECONDS = 2
    base = demo.url
    customer = log_in(chromium_browser, base, "la-customer")
    try:
        customer.goto(f"{base}/chat/")
        customer.fill("#id_body", "Anyone there?")
        with customer.expect_navigation():
            customer.click("[data-testid=chat-send]")
        customer.evaluate("window.__sameDocument = 'yes'")
        assert customer.locator("#chat-thread[data-live]").count() == 0
        conversation = Conversation.objects.get(
            contact__user__username="la-customer", channel__kind="chat"
        )
        manager = Staff.objects.get(user__username="la-manager")
        conversation_reply(conversation=conversation, author=manager.user, body="Yes, here!")
        customer.locator(
            "[data-testid=chat-message][data-direction=out]", has_text="Yes, here!"
        ).wait_for(timeout=15_000)
        assert customer.evaluate("window.__sameDocument") == "yes"
    finally:
        customer.context.close()
