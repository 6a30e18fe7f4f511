"""The core pipeline through the offline console channel: inbound webhook → stored event →
contact, conversation and message; replays and forgeries write nothing; the outbox sends,
retries, fails over to the next channel and disables a broken channel."""

import json

import pytest

from slotwise.customers.models import Contact, Identity
from slotwise.messaging.channels.base import ChannelError, SendResult
from slotwise.messaging.channels.console.channel import ConsoleChannel
from slotwise.messaging.models import Conversation, InboundEvent, Message, MessageStatus
from slotwise.messaging.outbox import message_queue
from slotwise.messaging.testing import make_channel, post_inbound, process_inbound, send_outbox
from slotwise.tests_factories import ContactFactory, OrganisationFactory

pytestmark = pytest.mark.django_db

SECRET = "console-secret"


@pytest.fixture
def console(monkeypatch):
    monkeypatch.setenv("CONSOLE_SECRET", SECRET)
    org = OrganisationFactory(country="SE")
    return make_channel(org, "console", {"medium": "telegram", "secret_env": "CONSOLE_SECRET"})


def _post(client, config, payload, secret=SECRET):
    body = json.dumps(payload).encode()
    return post_inbound(
        client, config, body, {"X-Console-Signature": ConsoleChannel.sign(body, secret)}
    )


def test_inbound_message_lands_on_a_new_contact_once(client, console):
    payload = {"from": "4711", "text": "Hello", "id": "m1", "name": "Anna Berg"}
    assert _post(client, console, payload).status_code == 200
    assert _post(client, console, payload).status_code == 200  # a replay
    assert InboundEvent.objects.count() == 1
    assert process_inbound() == 1
    message = Message.objects.get()
    assert message.direction == "in" and message.body == "Hello"
    contact = message.contact
    assert (contact.first_name, contact.last_name) == ("Anna", "Berg")
    assert Identity.objects.filter(contact=contact, kind="telegram", external_id="4711").exists()
    conversation = Conversation.objects.get()
    assert conversation.unread_count == 1 and conversation.waiting_since is not None
    # The next message of the same sender lands on the same contact and conversation.
    _post(client, console, {"from": "4711", "text": "Again", "id": "m2"})
    process_inbound()
    assert Contact.objects.count() == 1
    assert Conversation.objects.get().unread_count == 2


def test_forged_inbound_writes_nothing(client, console):
    response = _post(client, console, {"from": "1", "text": "x", "id": "m9"}, secret="wrong")
    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0 and Message.objects.count() == 0


def test_unknown_key_is_404(client, console):
    console.inbound_key = "nope"
    assert _post(client, console, {"from": "1", "id": "x"}).status_code == 404


def test_reply_is_sent_by_the_outbox(client, console):
    _post(client, console, {"from": "4711", "text": "Hi", "id": "m1"})
    process_inbound()
    conversation = Conversation.objects.get()
    reply = message_queue(conversation=conversation, body="Welcome!")
    assert reply.status == MessageStatus.QUEUED
    assert send_outbox() == 1
    reply.refresh_from_db()
    assert reply.status == MessageStatus.DELIVERED
    assert reply.provider_message_id == f"console-{reply.idempotency_key}"
    assert send_outbox() == 0  # nothing is sent twice


def test_transient_error_retries_then_permanent_falls_back(monkeypatch, console):
    contact = ContactFactory(organisation=console.organisation, phone="+46701234567")
    sms = make_channel(console.organisation, "console", {"medium": "sms"}, name="sms")
    calls = []

    def failing_send(self, message):
        if message.to != "4711":
            return SendResult(external_id="sms-1")
        calls.append(message.idempotency_key)
        if len(calls) == 1:
            raise ChannelError("timeout")
        raise ChannelError("blocked", permanent=True)

    monkeypatch.setattr(ConsoleChannel, "send", failing_send)
    message = message_queue(
        channel_config=console,
        contact=contact,
        to="4711",
        body="Your code",
        fallback=[[sms.pk, "+46701234567"]],
    )
    send_outbox()
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.attempts == 1
    Message.objects.filter(pk=message.pk).update(next_attempt_at=message.created_at)
    send_outbox()
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert len(calls) == 2 and len(set(calls)) == 1  # the retry used the same key
    fallback = Message.objects.exclude(pk=message.pk).get()
    assert (fallback.channel_config, fallback.to) == (sms, "+46701234567")
    assert fallback.contact == contact and fallback.body == "Your code"
    send_outbox()
    fallback.refresh_from_db()
    assert fallback.status == MessageStatus.SENT


def test_broken_channel_is_disabled(monkeypatch, console):
    def broken(self, message):
        raise ChannelError("token revoked", channel_broken=True)

    monkeypatch.setattr(ConsoleChannel, "send", broken)
    message_queue(channel_config=console, to="4711", body="x")
    message_queue(channel_config=console, to="4712", body="y")
    send_outbox()
    console.refresh_from_db()
    assert console.disabled_at is not None and "token revoked" in console.disabled_reason
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.FAILED}
