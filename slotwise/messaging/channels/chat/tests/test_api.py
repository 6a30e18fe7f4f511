"""The messaging API: conversations, messages, replies, chat messages, timelines — access and
validation."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from slotwise.customers.services import timeline_add
from slotwise.messaging.chat import chat_message_post
from slotwise.messaging.models import Conversation, Message, MessageStatus
from slotwise.messaging.testing import make_channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def chats(world):
    """A chat of the customer (no unit: organisation-wide), a chat of a north-unit contact, and a
    Telegram conversation of the customer."""
    from slotwise.tests_factories import ContactFactory

    mine = chat_message_post(
        contact=world["customer"], author=world["customer_user"], body="Hello"
    ).conversation
    north_contact = ContactFactory(organisation=world["org"], unit=world["north"])
    north = chat_message_post(contact=north_contact, author=None, body="North here").conversation
    telegram = make_channel(world["org"], "console", {"medium": "telegram"}, name="Telegram")
    tg = Conversation.objects.create(
        organisation=world["org"], contact=world["customer"], channel=telegram, address="4711"
    )
    Message.objects.create(
        organisation=world["org"],
        conversation=mine,
        contact=world["customer"],
        channel_config=mine.channel,
        direction="internal",
        channel="chat",
        provider="chat",
        to="x",
        body="Staff-only note",
        status="note",
    )
    return {"mine": mine, "north": north, "tg": tg}


def ids(response):
    return {row["id"] for row in response.json()["results"]}


def test_conversation_list_is_scoped(world, chats, client):
    client.force_login(world["customer_user"])
    assert ids(client.get("/api/conversations/")) == {
        str(chats["mine"].public_id),
        str(chats["tg"].public_id),
    }
    client.force_login(world["mgr_south"].user)
    assert str(chats["north"].public_id) not in ids(client.get("/api/conversations/"))
    client.force_login(world["mgr_north"].user)
    assert str(chats["north"].public_id) in ids(client.get("/api/conversations/"))
    assert ids(client.get("/api/conversations/?channel=console")) == {str(chats["tg"].public_id)}
    client.force_login(world["other_org_admin"].user)
    assert ids(client.get("/api/conversations/")) == set()
    assert client.get("/api/conversations/?status=maybe").status_code == 400


def test_messages_of_a_conversation(world, chats, client):
    url = f"/api/conversations/{chats['mine'].public_id}/messages/"
    client.force_login(world["customer_user"])
    bodies = [m["body"] for m in client.get(url).json()["results"]]
    assert bodies == ["Hello"]  # no staff note for the customer
    client.force_login(world["admin"].user)
    bodies = [m["body"] for m in client.get(url).json()["results"]]
    assert bodies == ["Staff-only note", "Hello"]  # newest first
    # Pages by cursor.
    data = client.get(url + "?limit=1").json()
    assert len(data["results"]) == 1 and data["next"]
    assert client.get(data["next"]).json()["results"][0]["body"] == "Hello"


@pytest.mark.parametrize(
    ("who", "conversation", "status"),
    [
        ("other_user", "mine", 404),  # another customer
        ("mgr_south", "north", 404),  # a sibling unit
        ("other_org_admin", "mine", 404),
        ("mgr_north", "north", 200),
        ("customer_user", "mine", 200),
    ],
)
def test_conversation_access(world, chats, client, who, conversation, status):
    user = world[who] if who.endswith("user") else world[who].user
    client.force_login(user)
    base = f"/api/conversations/{chats[conversation].public_id}/"
    assert client.get(base).status_code == status
    assert client.get(base + "messages/").status_code == status
    before = Message.objects.count()
    response = client.post(base + "messages/", {"body": "hi"}, content_type="application/json")
    assert response.status_code == (201 if status == 200 else 404)
    assert Message.objects.count() == before + (1 if status == 200 else 0)


def test_staff_reply_and_customer_chat_message(world, chats, client):
    url = f"/api/conversations/{chats['mine'].public_id}/messages/"
    client.force_login(world["admin"].user)
    response = client.post(url, {"body": "We can do Tuesday"}, content_type="application/json")
    assert response.status_code == 201
    reply = Message.objects.get(public_id=response.json()["id"])
    assert reply.direction == "out" and reply.status == MessageStatus.QUEUED
    assert reply.author == world["admin"].user
    client.force_login(world["customer_user"])
    response = client.post(url, {"body": "Great"}, content_type="application/json")
    assert response.status_code == 201 and response.json()["direction"] == "in"
    # Customers write only in the chat, not "as themselves" on Telegram.
    tg = f"/api/conversations/{chats['tg'].public_id}/messages/"
    response = client.post(tg, {"body": "x"}, content_type="application/json")
    assert response.status_code == 400 and "non_field_errors" in response.json()


def test_reply_validation_is_field_level_and_writes_nothing(world, chats, client):
    url = f"/api/conversations/{chats['mine'].public_id}/messages/"
    client.force_login(world["admin"].user)
    before = Message.objects.count()
    response = client.post(url, {"body": ""}, content_type="application/json")
    assert response.status_code == 400 and "body" in response.json()
    response = client.post(url, {"body": "x" * 5000}, content_type="application/json")
    assert response.status_code == 400 and "body" in response.json()
    client.force_login(world["customer_user"])
    response = client.post(
        url, {"files": [SimpleUploadedFile("a.png", b"not a png", content_type="image/png")]}
    )
    assert response.status_code == 400 and "files" in response.json()
    assert Message.objects.count() == before


def test_own_chat_endpoints(world, client):
    client.force_login(world["customer_user"])
    assert client.get("/api/chat/").status_code == 204  # nothing yet
    response = client.post(
        "/api/chat/messages/", {"body": "First!"}, content_type="application/json"
    )
    assert response.status_code == 201
    data = client.get("/api/chat/").json()
    assert data["channel"]["kind"] == "chat" and data["unread_count"] == 1
    assert (
        client.post("/api/chat/messages/", {}, content_type="application/json").status_code == 400
    )
    # A technician's office chat.
    client.force_login(world["tech_north"].user)
    response = client.post(
        "/api/chat/messages/", {"body": "Pump?"}, content_type="application/json"
    )
    assert response.status_code == 201
    assert Conversation.objects.get(contact__user=world["tech_north"].user).team == world["north"]
    # A manager has no own chat (the inbox is theirs).
    client.force_login(world["mgr_north"].user)
    assert (
        client.post(
            "/api/chat/messages/", {"body": "x"}, content_type="application/json"
        ).status_code
        == 404
    )


def test_contact_timeline(world, chats, client):
    contact = world["customer"]
    timeline_add(contact=contact, kind="booking.created", summary="Visit booked")
    url = f"/api/contacts/{contact.public_id}/timeline/"
    client.force_login(world["admin"].user)
    data = client.get(url).json()
    sources = [(item["source"], item["summary"]) for item in data["results"]]
    assert ("entry", "Visit booked") in sources and ("message", "Hello") in sources
    assert ("message", "Staff-only note") in sources
    assert data["next_before"] is None
    first = client.get(url + "?limit=1").json()
    assert len(first["results"]) == 1 and first["next_before"]
    second = client.get(url, {"limit": 1, "before": first["next_before"]}).json()
    assert second["results"][0]["cursor"] != first["results"][0]["cursor"]
    assert client.get(url + "?limit=0").status_code == 400
    assert "before" in client.get(url + "?before=nonsense").json()
    # Not for the customer themselves, a sibling unit or another organisation.
    north = chats["north"].contact
    for user in (world["customer_user"], world["mgr_south"].user, world["other_org_admin"].user):
        client.force_login(user)
        target = contact if user == world["customer_user"] else north
        assert client.get(f"/api/contacts/{target.public_id}/timeline/").status_code == 404


def test_anonymous_gets_nothing(world, chats, client):
    assert client.get("/api/conversations/").status_code in (401, 403)
    assert client.get(f"/api/contacts/{world['customer'].public_id}/timeline/").status_code in (
        401,
        403,
    )


def test_schema_lists_the_messaging_endpoints(world, client):
    client.force_login(world["admin"].user)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    for path in (
        "/api/conversations/",
        "/api/conversations/{public_id}/messages/",
        "/api/chat/messages/",
        "/api/contacts/{public_id}/timeline/",
    ):
        assert path in schema["paths"], path
