"""In-app chat: the channel, chat_message_post (the inbound path without a webhook), staff
replies through the outbox, technicians as contacts, and the booking's "Message the customer"."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from slotwise.customers.models import Contact
from slotwise.customers.selectors import contact_for_customer, own_contact
from slotwise.customers.services import contact_for_staff
from slotwise.messaging import inbound
from slotwise.messaging.channels import channels
from slotwise.messaging.channels.base import InboundRejected, InboundRequest, OutgoingMessage
from slotwise.messaging.channels.chat.channel import ChatChannel
from slotwise.messaging.chat import (
    chat_conversation,
    chat_message_post,
    conversation_open_for_booking,
)
from slotwise.messaging.models import (
    Attachment,
    ChannelConfig,
    Conversation,
    Message,
    MessageStatus,
)
from slotwise.messaging.outbox import message_queue
from slotwise.messaging.testing import make_channel, send_outbox

pytestmark = pytest.mark.django_db


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2, 2), "red").save(out, "PNG")
    return out.getvalue()


def counts():
    return (Message.objects.count(), Conversation.objects.count(), Attachment.objects.count())


# --- the channel -----------------------------------------------------------------------------------


def test_registry_builds_the_chat_channel():
    channel = channels.create("chat", settings={})
    assert isinstance(channel, ChatChannel) and channel.medium == "chat"
    result = channel.send(OutgoingMessage(to="x", text="Hi", message_id="abc"))
    assert (result.status, result.external_id) == ("delivered", "chat-abc")
    with pytest.raises(InboundRejected) as exc:
        channel.parse_inbound(InboundRequest("POST", b"{}", {}, {}, "http://x/"))
    assert exc.value.status == 404


# --- a customer writes ----------------------------------------------------------------------------


def test_chat_message_lands_like_an_inbound_message(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    seen, published = [], []
    monkeypatch.setattr(inbound, "INBOUND_HOOKS", [seen.append])
    monkeypatch.setattr("slotwise.messaging.live._send", lambda events: published.extend(events))
    contact = world["customer"]
    with django_capture_on_commit_callbacks(execute=True):
        message = chat_message_post(
            contact=contact, author=world["customer_user"], body="  Can I move my visit?  "
        )
    assert message.direction == "in" and message.status == MessageStatus.RECEIVED
    assert message.body == "Can I move my visit?" and message.author == world["customer_user"]
    config = ChannelConfig.objects.get()
    assert (config.kind, config.name, config.organisation) == ("chat", "Chat", world["org"])
    conversation = message.conversation
    assert conversation.address == str(contact.public_id) and conversation.contact == contact
    conversation.refresh_from_db()
    assert conversation.unread_count == 1 and conversation.waiting_since is not None
    assert conversation.last_preview == "Can I move my visit?"
    assert seen == [message]
    groups = {group for group, _event in published}
    assert f"conversation.{conversation.public_id}" in groups
    # The second message: the same conversation, counters go on.
    chat_message_post(contact=contact, author=world["customer_user"], body="Please")
    conversation.refresh_from_db()
    assert conversation.unread_count == 2
    assert ChannelConfig.objects.count() == 1 and Conversation.objects.count() == 1


def test_chat_message_with_a_file(world):
    message = chat_message_post(
        contact=world["customer"],
        author=world["customer_user"],
        files=[SimpleUploadedFile("meter.png", png(), content_type="image/png")],
    )
    attachment = message.attachments.get()
    assert attachment.status == "stored" and attachment.content_type == "image/png"
    assert message.kind == "media"
    assert message.conversation.last_preview == "meter.png"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"body": "   "}, "body"),
        ({"body": "x" * 4097}, "body"),
        ({"files": [("fake.png", "image/png", b"not an image")]}, "files"),
        ({"files": [("a.exe", "application/x-msdownload", b"MZ\x90\x00")]}, "files"),
    ],
)
def test_bad_chat_message_writes_nothing(world, kwargs, field):
    before = counts()
    with pytest.raises(ValidationError) as exc:
        chat_message_post(contact=world["customer"], author=world["customer_user"], **kwargs)
    assert field in exc.value.message_dict
    assert counts() == before


def test_switched_off_chat_refuses(world):
    make_channel(world["org"], "chat", name="Chat", enabled=False)
    with pytest.raises(ValidationError):
        chat_message_post(contact=world["customer"], author=None, body="Hello?")
    assert Message.objects.count() == 0


def test_staff_reply_is_delivered_by_the_outbox_through_the_chat_channel(world):
    message = chat_message_post(contact=world["customer"], author=world["customer_user"], body="Q")
    reply = message_queue(
        conversation=message.conversation,
        body="Yes, tomorrow works.",
        author=world["mgr_north"].user,
    )
    assert send_outbox() == 1
    reply.refresh_from_db()
    assert reply.status == MessageStatus.DELIVERED and reply.provider_message_id.startswith("chat-")
    conversation = reply.conversation
    conversation.refresh_from_db()
    assert conversation.unread_count == 0 and conversation.waiting_since is None


# --- technicians in the office chat --------------------------------------------------------------------


def test_technician_contact_is_not_a_customer(world, client):
    tech = world["tech_north"]
    contact = contact_for_staff(staff=tech)
    assert contact.user == tech.user and contact.unit == world["north"]
    assert contact_for_staff(staff=tech) == contact  # one, reused
    assert own_contact(tech.user) == contact
    assert contact_for_customer(tech.user) is None  # staff first
    client.force_login(tech.user)
    response = client.get("/")
    assert response.status_code == 200
    assert "core/home_technician.html" in [t.name for t in response.templates]
    # The customers' chat is not theirs, and they are no customer in the contact list.
    assert client.get("/chat/").status_code == 404
    client.force_login(world["admin"].user)
    page = client.get("/customers/").content.decode()
    assert str(contact.public_id) not in page and "Cecilia" in page


def test_technician_writes_to_the_office_and_the_units_managers_see_it(world, client):
    from slotwise.messaging.selectors import conversations_for

    tech = world["tech_north"]
    client.force_login(tech.user)
    page = client.get("/chat/office/")
    assert page.status_code == 200 and 'data-testid="chat-empty"' in page.content.decode()
    response = client.post("/chat/office/", {"body": "Need a spare pump for job 12"})
    assert response.status_code == 302
    message = Message.objects.get()
    assert message.contact.user == tech.user and message.direction == "in"
    conversation = message.conversation
    assert conversation.team == world["north"]
    assert conversation in conversations_for(world["mgr_north"].user)
    assert conversation not in conversations_for(world["mgr_south"].user)
    page = client.get("/chat/office/").content.decode()
    assert "Need a spare pump for job 12" in page


def test_office_chat_only_for_staff_with_an_agenda(world, client):
    client.force_login(world["mgr_north"].user)  # managers answer from the inbox
    assert client.get("/chat/office/").status_code == 404
    client.force_login(world["customer_user"])
    assert client.get("/chat/office/").status_code == 404


# --- pages ------------------------------------------------------------------------------------------------


def test_customer_messages_page_shows_only_their_own_chat(world, client):
    mine = chat_message_post(contact=world["customer"], author=world["customer_user"], body="Mine")
    chat_message_post(contact=world["other_customer"], author=world["other_user"], body="Theirs")
    message_queue(conversation=mine.conversation, body="Answer", author=world["mgr_north"].user)
    Message.objects.create(
        organisation=world["org"],
        conversation=mine.conversation,
        contact=world["customer"],
        channel_config=mine.channel_config,
        direction="internal",
        channel="chat",
        provider="chat",
        to="x",
        body="Secret staff note",
        status="note",
    )
    client.force_login(world["customer_user"])
    page = client.get("/chat/").content.decode()
    assert "Mine" in page and "Answer" in page
    assert "Theirs" not in page and "Secret staff note" not in page
    fragment = client.get("/chat/thread/").content.decode()
    assert "Answer" in fragment and "Theirs" not in fragment
    assert f'data-conversation="{mine.conversation.public_id}"' in page


def test_customer_posts_from_the_page_and_errors_show(world, client):
    client.force_login(world["customer_user"])
    response = client.post("/chat/", {"body": "Hello there"})
    assert response.status_code == 302 and response["Location"] == "/chat/"
    assert Message.objects.get().body == "Hello there"
    response = client.post("/chat/", {"body": ""})
    assert response.status_code == 400
    assert "Write a message or attach a file." in response.content.decode()
    assert Message.objects.count() == 1


def test_opening_the_chat_marks_the_offices_replies_read(world, client):
    mine = chat_message_post(contact=world["customer"], author=world["customer_user"], body="Q")
    reply = message_queue(conversation=mine.conversation, body="A", author=world["mgr_north"].user)
    send_outbox()
    client.force_login(world["customer_user"])
    client.get("/chat/")
    reply.refresh_from_db()
    assert reply.status == MessageStatus.READ and reply.read_at is not None


def test_customer_without_a_contact_and_staff_get_no_customer_chat(world, client):
    from slotwise.tests_factories import UserFactory

    client.force_login(UserFactory())
    assert client.get("/chat/").status_code == 404
    client.force_login(world["mgr_north"].user)
    assert client.get("/chat/").status_code == 404
    assert client.get("/chat/thread/").status_code == 404
    client.logout()
    assert client.get("/chat/").status_code == 302


def test_navigation_entries(world, client):
    client.force_login(world["customer_user"])
    assert 'href="/chat/"' in client.get("/").content.decode()
    client.force_login(world["tech_north"].user)
    page = client.get("/").content.decode()
    assert 'href="/chat/office/"' in page and 'href="/chat/"' not in page
    client.force_login(world["mgr_north"].user)
    page = client.get("/").content.decode()
    assert 'href="/chat/office/"' not in page and 'href="/chat/"' not in page


# --- "Message the customer" from a booking -----------------------------------------------------------


@pytest.fixture
def booking(world):
    from slotwise.bookings.services import booking_create
    from slotwise.bookings.tests.conftest import future_slot, give_hours, make_type

    rep = world["rep_north"]
    give_hours(rep)
    return booking_create(
        type=make_type(world["org"]),
        staff=rep,
        contact=world["customer"],
        start=future_slot(world["org"]),
    )


def test_message_the_customer_opens_the_chat_assigned_to_the_rep(world, booking, client):
    client.force_login(world["rep_north"].user)
    page = client.get(f"/bookings/{booking.public_id}/")
    assert page.status_code == 200 and 'data-testid="message-customer"' in page.content.decode()
    response = client.post(f"/bookings/{booking.public_id}/message/")
    assert response.status_code == 302
    conversation = Conversation.objects.get(channel__kind="chat")
    assert conversation.assignee == world["rep_north"] and conversation.contact == world["customer"]
    assert str(conversation.public_id) in response["Location"]
    assert response["Location"].startswith("/inbox/")


def test_message_the_customer_uses_the_preferred_channel_when_there_is_one(world, booking):
    telegram = make_channel(world["org"], "console", {"medium": "telegram"}, name="Telegram")
    contact = world["customer"]
    Contact.objects.filter(pk=contact.pk).update(preferred_channel="telegram")
    booking.contact.refresh_from_db()
    contact.identities.create(organisation=world["org"], kind="telegram", external_id="4711")
    conversation = conversation_open_for_booking(booking=booking)
    assert (conversation.channel, conversation.address) == (telegram, "4711")
    assert conversation.assignee == world["rep_north"]
    # Without a Telegram identity the chat is used.
    contact.identities.filter(kind="telegram").delete()
    booking.contact.refresh_from_db()
    assert conversation_open_for_booking(booking=booking).channel.kind == "chat"


def test_booking_page_of_another_unit_is_404(world, booking, client):
    client.force_login(world["mgr_south"].user)
    assert client.get(f"/bookings/{booking.public_id}/").status_code == 404
    assert client.post(f"/bookings/{booking.public_id}/message/").status_code == 404
    client.force_login(world["customer_user"])  # customers have the confirmation page
    assert client.get(f"/bookings/{booking.public_id}/").status_code == 404
    assert Conversation.objects.count() == 0


def test_chat_conversation_is_not_created_by_reading(world):
    assert chat_conversation(contact=world["customer"], create=False) is None
    assert Conversation.objects.count() == 0
