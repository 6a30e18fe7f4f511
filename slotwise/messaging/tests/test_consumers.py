"""The inbox's WebSockets: who may open which socket, which events reach whom (staff of one
unit never hear of another unit's conversations), the full ASGI stack (session cookie, origin
check), and the demo's messaging pump inside the web process (an inbound message posted to the
webhook reaches an open inbox with no worker running)."""

import json
import sys
import types
from pathlib import Path

import channels
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from asgiref.testing import ApplicationCommunicator
from channels.routing import URLRouter
from django.contrib.auth import get_user_model

from slotwise.messaging import conversations as svc
from slotwise.messaging import live
from slotwise.messaging.channels.console.channel import ConsoleChannel
from slotwise.messaging.models import Message
from slotwise.messaging.routing import websocket_urlpatterns
from slotwise.messaging.testing import post_inbound

from .inbox_world import SECRET, build_world, conversation


def _websocket_communicator():
    """channels.testing.WebsocketCommunicator. The package's __init__ also imports its live
    server test case, which needs daphne — a server we don't use (the browser tests run
    uvicorn); without daphne the package is entered without that __init__."""
    try:
        from channels.testing import WebsocketCommunicator
    except ModuleNotFoundError as exc:
        if exc.name != "daphne":
            raise
        sys.modules.pop("channels.testing", None)
        package = types.ModuleType("channels.testing")
        package.__path__ = [str(Path(channels.__file__).parent / "testing")]
        sys.modules["channels.testing"] = package
        from channels.testing.websocket import WebsocketCommunicator
    return WebsocketCommunicator


WebsocketCommunicator = _websocket_communicator()

# The consumers reach the database from other threads (database_sync_to_async closes a
# connection that is inside a test transaction): these tests commit.
pytestmark = pytest.mark.django_db(transaction=True)

ROUTER = URLRouter(websocket_urlpatterns)


@pytest.fixture
def world(monkeypatch):
    return build_world(monkeypatch)


def _fresh(user):
    """The user as the socket's middleware would load it (no cached staff record)."""
    return get_user_model().objects.get(pk=user.pk)


async def _connect(path: str, user):
    communicator = WebsocketCommunicator(ROUTER, path)
    communicator.scope["user"] = user
    connected, _code = await communicator.connect(timeout=5)
    return communicator, connected


def _note(conversation, author, body="x"):
    return sync_to_async(svc.conversation_note_add)(
        conversation=conversation, author=author, body=body
    )


async def _heard(communicator) -> set[str]:
    heard = set()
    while not await communicator.receive_nothing(timeout=0.5):
        heard.add((await communicator.receive_json_from())["conversation"])
    return heard


def test_inbox_events_reach_only_staff_who_may_see_them(world):
    c = world.conversations
    users = {name: _fresh(u) for name, u in world.staff_users().items()}
    admin = world.admin.user

    async def run():
        sockets = {}
        for name, user in users.items():
            sockets[name], connected = await _connect("/ws/inbox/", user)
            assert connected, name
        for name in ("open", "a", "b", "b_assigned", "team_a1"):
            await _note(c[name], admin)
        # Another organisation's change goes to that organisation's group.
        await sync_to_async(live.publish)(c["other"])
        heard = {name: await _heard(s) for name, s in sockets.items()}
        for s in sockets.values():
            await s.disconnect()
        return heard

    heard = async_to_sync(run)()
    expect = {
        "admin": {"open", "a", "b", "b_assigned", "team_a1"},
        "manager_a": {"open", "a", "team_a1"},
        "agent_a1": {"open", "b_assigned", "team_a1"},
        "agent_b": {"open", "b", "b_assigned"},
    }
    for name, seen in heard.items():
        assert seen == {str(c[n].public_id) for n in expect[name]}, name


def test_assignment_moves_a_conversation_into_and_out_of_sight(world):
    # The contact has no unit (anyone may be assigned); the team B hides it from agent_a1.
    conv = conversation(world.channel, team=world.unit_b, name="Tina")
    agent = _fresh(world.agent_a1.user)

    async def run():
        socket, connected = await _connect("/ws/inbox/", agent)
        assert connected
        heard = []
        await _note(conv, world.admin.user)  # not theirs: cached as "not assigned to me"
        heard.append(await _heard(socket))
        await sync_to_async(svc.conversation_assign)(
            conversation=conv, actor=world.admin.user, assignee=world.agent_a1, team=conv.team
        )
        heard.append(await _heard(socket))
        await _note(conv, world.admin.user)  # theirs now, at once (not after the cache expires)
        heard.append(await _heard(socket))
        await sync_to_async(svc.conversation_assign)(
            conversation=conv, actor=world.admin.user, assignee=world.agent_b, team=conv.team
        )
        heard.append(await _heard(socket))
        await _note(conv, world.admin.user)
        heard.append(await _heard(socket))
        await socket.disconnect()
        return heard

    me = {str(conv.public_id)}
    assert async_to_sync(run)() == [set(), me, me, set(), set()]


def test_customers_and_anonymous_get_no_inbox_socket(world):
    from django.contrib.auth.models import AnonymousUser

    customer = _fresh(world.customer)

    async def run():
        results = []
        for user in (customer, AnonymousUser()):
            socket, connected = await _connect("/ws/inbox/", user)
            results.append(connected)
            await socket.disconnect()
        return results

    assert async_to_sync(run)() == [False, False]


def test_conversation_socket_for_staff_with_access_and_the_contacts_own_user(world):
    c = world.conversations
    cases = [
        (world.manager_a.user, "a", True),
        (world.agent_b.user, "a", False),
        (world.agent_a1.user, "b_assigned", True),
        (world.admin.user, "other", False),
        (world.customer, "customer", True),
        (world.customer, "open", False),
    ]
    cases = [(_fresh(user), name, ok) for user, name, ok in cases]

    async def run():
        results = []
        for user, name, _ok in cases:
            socket, connected = await _connect(f"/ws/conversations/{c[name].public_id}/", user)
            if connected:
                await _note(c[name], world.admin.user, "ping")
                event = await socket.receive_json_from(timeout=5)
                assert event["conversation"] == str(c[name].public_id)
                assert event["message"]
            await socket.disconnect()
            results.append(connected)
        return results

    assert async_to_sync(run)() == [ok for _u, _n, ok in cases]


def test_full_stack_needs_the_session_and_our_origin(client, world, settings):
    from slotwise.asgi import application

    settings.ALLOWED_HOSTS = ["testserver"]
    client.force_login(world.manager_a.user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    conv = world.conversations["a"]
    path = f"/ws/conversations/{conv.public_id}/"

    async def attempt(origin: bytes, with_cookie: bool = True) -> bool:
        headers = [(b"origin", origin), (b"host", b"testserver")]
        if with_cookie:
            headers.append((b"cookie", cookie))
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _code = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected

    async def run():
        return (
            await attempt(b"http://testserver"),
            await attempt(b"https://evil.example"),
            await attempt(b"http://testserver", with_cookie=False),
        )

    assert async_to_sync(run)() == (True, False, False)


def test_pump_in_the_web_process_brings_an_inbound_message_live(client, world, settings):
    """The demo's set-up (MESSAGING_PUMP_IN_WEB): no worker runs; the web process's lifespan
    starts the pump, which processes the stored webhook call and publishes to the open inbox."""
    from slotwise.asgi import application

    settings.MESSAGING_PUMP_IN_WEB = True
    settings.MESSAGING_PUMP_IDLE_SECONDS = 0.05
    manager = _fresh(world.manager_a.user)
    body = json.dumps({"from": "4799", "text": "Live hello", "id": "live-1", "name": "Liv"})
    signature = ConsoleChannel.sign(body.encode(), SECRET)

    async def run():
        lifespan = ApplicationCommunicator(application, {"type": "lifespan"})
        await lifespan.send_input({"type": "lifespan.startup"})
        assert (await lifespan.receive_output(timeout=5))["type"] == "lifespan.startup.complete"
        socket, connected = await _connect("/ws/inbox/", manager)
        assert connected
        response = await sync_to_async(post_inbound)(
            client, world.channel, body, {"X-Console-Signature": signature}
        )
        assert response.status_code == 200
        event = await socket.receive_json_from(timeout=15)
        await socket.disconnect()
        await lifespan.send_input({"type": "lifespan.shutdown"})
        assert (await lifespan.receive_output(timeout=35))["type"] == "lifespan.shutdown.complete"
        return event

    event = async_to_sync(run)()
    message = Message.objects.select_related("conversation").get(body="Live hello")
    assert event == {"conversation": str(message.conversation.public_id)}
