"""Viber through the whole pipeline: the inbound view, stored events, the worker's processing
into contact / conversation / message, delivery receipts, attachments and the outbox — with the
REST bot API fake as Viber and Django's test client as our web server."""

from __future__ import annotations

import io
import json
import time

import pytest

from slotwise.customers.models import Contact, Identity
from slotwise.messaging.media import attachment_fetch
from slotwise.messaging.models import (
    Attachment,
    Conversation,
    InboundEvent,
    Message,
    MessageStatus,
)
from slotwise.messaging.outbox import message_queue
from slotwise.messaging.testing import make_channel, post_inbound, process_inbound, send_outbox
from slotwise.tests_factories import ContactFactory, OrganisationFactory

from .conftest import USER, fixture, signed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def org():
    return OrganisationFactory(country="SE", time_zone="Europe/Stockholm")


@pytest.fixture
def config(org, viber_fake, viber_env, client):
    config = make_channel(org, "viber", viber_fake.settings(), name="Viber")

    def deliver(url, body, headers):
        signature = {"X-Viber-Content-Signature": headers["X-Viber-Content-Signature"]}
        return post_inbound(client, config, body, signature).status_code

    viber_fake.deliver = deliver
    viber_fake.set_webhook_url("http://testserver/")
    return config


def post(client, config, event, *, token=None):
    body, headers = signed(event, token) if token else signed(event)
    return post_inbound(client, config, body, headers)


def counts():
    return InboundEvent.objects.count(), Message.objects.count()


def jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(out, "JPEG")
    return out.getvalue()


# --- inbound ----------------------------------------------------------------------------------


def test_conversation_started_fixture_opens_a_conversation(client, config):
    assert post(client, config, fixture("conversation_started")).status_code == 200
    assert process_inbound() == 1
    message = Message.objects.get()
    assert message.body == ""
    assert message.data["context"] == "link-5d1b3f9a"
    assert message.data["event"] == "conversation_started"
    contact = message.contact
    assert (contact.first_name, contact.last_name) == ("John", "McClane")
    assert Identity.objects.filter(contact=contact, kind="viber", external_id=USER).exists()
    # then the person writes: the same contact and conversation
    post(client, config, fixture("message_text"))
    process_inbound()
    assert Contact.objects.count() == 1 and Conversation.objects.count() == 1
    assert Message.objects.latest("id").body == "Can I book a haircut on Friday?"


def test_welcome_text_is_the_answer_to_conversation_started(client, config):
    config.settings = {**config.settings, "welcome_text": "Welcome to Slotwise!"}
    config.save()
    response = post(client, config, fixture("conversation_started"))
    assert json.loads(response.content)["text"] == "Welcome to Slotwise!"
    assert response["Content-Type"] == "application/json"


def test_contact_fixture_lands_on_the_known_contact(client, config, org):
    known = ContactFactory(organisation=org, phone="+972511123123")
    post(client, config, fixture("message_contact"))
    process_inbound()
    assert Message.objects.get().contact == known
    assert Identity.objects.filter(contact=known, kind="viber", external_id=USER).exists()


def test_picture_and_file_fixtures_become_attachments(client, config):
    post(client, config, fixture("message_picture"))
    post(client, config, fixture("message_file"))
    process_inbound()
    picture, file = Attachment.objects.order_by("id")
    assert (picture.filename, picture.content_type, picture.size) == (
        "tap.jpg",
        "image/jpeg",
        81235,
    )
    assert picture.source_ref.startswith("https://dl-media.viber.com/")
    assert (file.filename, file.content_type) == ("insurance-letter.pdf", "application/pdf")


def test_the_fake_user_picture_is_fetched_and_stored(client, config, viber_fake):
    picture = jpeg()
    assert (
        viber_fake.user_sends_picture("u9=", picture, caption="My car", name="Olga Ivanova") == 200
    )
    process_inbound()
    message = Message.objects.get()
    assert (message.kind, message.body) == ("media", "My car")
    assert (message.contact.first_name, message.contact.last_name) == ("Olga", "Ivanova")
    attachment = Attachment.objects.get()
    assert attachment_fetch(attachment_id=attachment.pk) == "stored"
    attachment.refresh_from_db()
    assert attachment.file.read() == picture


def test_unsubscribed_is_kept_on_the_timeline(client, config):
    post(client, config, fixture("message_text"))
    post(client, config, fixture("unsubscribed"))
    process_inbound()
    last = Message.objects.latest("id")
    assert last.data["event"] == "unsubscribed" and last.body == ""
    assert Contact.objects.count() == 1


@pytest.mark.parametrize("token", ["", "someone-elses-token"])
def test_bad_signature_writes_nothing(client, config, token):
    if token:
        response = post(client, config, fixture("message_text"), token=token)
    else:
        body, _headers = signed(fixture("message_text"))
        response = post_inbound(client, config, body, {})
    assert response.status_code == 403
    assert counts() == (0, 0)


def test_stale_event_writes_nothing(client, config):
    old = int((time.time() - 25 * 3600) * 1000)
    assert post(client, config, fixture("message_text", timestamp=old)).status_code == 403
    assert counts() == (0, 0)


def test_replayed_event_is_ignored(client, config):
    event = fixture("message_text")
    post(client, config, event)
    process_inbound()
    assert post(client, config, event).status_code == 200
    assert process_inbound() == 0
    assert counts() == (1, 1)


# --- outbox and receipts ----------------------------------------------------------------------


def _conversation(client, config, viber_fake):
    viber_fake.user_says(USER, "Hi", name="John McClane")
    process_inbound()
    return Conversation.objects.get()


def test_reply_goes_out_and_receipts_move_it_on(client, config, viber_fake):
    conversation = _conversation(client, config, viber_fake)
    reply = message_queue(conversation=conversation, body="Friday 10:00?", buttons=["Yes", "No"])
    assert send_outbox() == 1
    reply.refresh_from_db()
    assert reply.status == MessageStatus.SENT
    [sent] = viber_fake.sent
    assert reply.provider_message_id == str(sent["message_token"])
    assert sent["tracking_data"] == str(reply.public_id)
    assert [b["ActionBody"] for b in sent["keyboard"]["Buttons"]] == ["Yes", "No"]
    # the recorded-shape receipts, for this message's token
    token = sent["message_token"]
    post(client, config, fixture("delivered", message_token=token))
    post(client, config, fixture("seen", message_token=token))
    process_inbound()
    reply.refresh_from_db()
    assert reply.status == MessageStatus.READ
    assert reply.delivered_at is not None and reply.read_at is not None


def test_failed_receipt_fails_the_message(client, config, viber_fake):
    conversation = _conversation(client, config, viber_fake)
    reply = message_queue(conversation=conversation, body="Hello")
    send_outbox()
    token = viber_fake.sent[0]["message_token"]
    post(client, config, fixture("failed", message_token=token))
    process_inbound()
    reply.refresh_from_db()
    assert reply.status == MessageStatus.FAILED


def test_receipts_from_the_fake(client, config, viber_fake):
    conversation = _conversation(client, config, viber_fake)
    reply = message_queue(conversation=conversation, body="Hello")
    send_outbox()
    token = viber_fake.sent[0]["message_token"]
    assert viber_fake.receipt(token, USER, "delivered") == 200
    process_inbound()
    reply.refresh_from_db()
    assert reply.status == MessageStatus.DELIVERED


def test_invalid_token_disables_the_channel(client, config, viber_fake):
    conversation = _conversation(client, config, viber_fake)
    viber_fake.fail_next(2)
    message = message_queue(conversation=conversation, body="Hello")
    send_outbox()
    message.refresh_from_db()
    config.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert config.disabled_at is not None and "invalidAuthToken" in config.disabled_reason


def test_unsubscribed_receiver_fails_the_message_only(client, config, viber_fake):
    conversation = _conversation(client, config, viber_fake)
    viber_fake.subscribed.discard(USER)
    message = message_queue(conversation=conversation, body="Hello")
    send_outbox()
    message.refresh_from_db()
    config.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert "receiverNotSubscribed" in message.last_error
    assert config.disabled_at is None


def test_too_many_requests_backs_off_without_an_attempt(client, config, viber_fake):
    conversation = _conversation(client, config, viber_fake)
    viber_fake.fail_next(12)
    message = message_queue(conversation=conversation, body="Hello")
    send_outbox()
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.attempts == 0
