"""Telegram through the whole pipeline: the inbound view, stored events, the worker's processing
into contact / conversation / message, attachments, and the outbox — with the Bot API fake as
Telegram and Django's test client as our web server."""

from __future__ import annotations

import io
import json
import time

import pytest

from slotwise.customers.models import Contact, Identity
from slotwise.messaging.media import attachment_fetch
from slotwise.messaging.models import (
    Attachment,
    AttachmentStatus,
    Conversation,
    InboundEvent,
    Message,
    MessageStatus,
)
from slotwise.messaging.outbox import message_queue
from slotwise.messaging.testing import make_channel, post_inbound, process_inbound, send_outbox
from slotwise.tests_factories import ContactFactory, OrganisationFactory

from .conftest import fixture

pytestmark = pytest.mark.django_db

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def org():
    return OrganisationFactory(country="SE", time_zone="Europe/Stockholm")


@pytest.fixture
def config(org, telegram_fake, telegram_env, client):
    config = make_channel(org, "telegram", telegram_fake.settings(), name="Telegram")

    def deliver(url, body, headers):
        secret = {SECRET_HEADER: headers[SECRET_HEADER]} if SECRET_HEADER in headers else {}
        return post_inbound(client, config, body, secret).status_code

    telegram_fake.deliver = deliver
    telegram_fake.webhook = {
        "url": "http://testserver/",
        "secret_token": telegram_env["TELEGRAM_WEBHOOK_SECRET"],
        "allowed_updates": [],
    }
    return config


def post(client, config, update, secret="slotwise-fake-webhook-secret"):
    headers = {SECRET_HEADER: secret} if secret else {}
    return post_inbound(client, config, json.dumps(update).encode(), headers)


def counts():
    return InboundEvent.objects.count(), Message.objects.count()


def jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "JPEG")
    return out.getvalue()


# --- inbound ----------------------------------------------------------------------------------


def test_text_fixture_lands_on_a_new_contact(client, config):
    assert post(client, config, fixture("message_text")).status_code == 200
    assert process_inbound() == 1
    message = Message.objects.get()
    assert (message.direction, message.status) == ("in", "received")
    assert message.body == "Hello, can I book a haircut on Friday?"
    assert message.provider_message_id == "1111111:1365"
    contact = message.contact
    assert (contact.first_name, contact.last_name) == ("Test", "Lastname")
    assert Identity.objects.filter(contact=contact, kind="telegram", external_id="1111111").exists()
    conversation = Conversation.objects.get()
    assert (conversation.channel, conversation.address) == (config, "1111111")


def test_own_contact_fixture_lands_on_the_known_contact(client, config, org):
    known = ContactFactory(organisation=org, phone="+46701234567")
    post(client, config, fixture("contact"))
    process_inbound()
    message = Message.objects.get()
    assert message.contact == known
    assert Identity.objects.filter(contact=known, kind="telegram", external_id="1111111").exists()
    assert Contact.objects.count() == 1


def test_start_fixture_keeps_the_link_parameter(client, config):
    post(client, config, fixture("start_param"))
    process_inbound()
    assert Message.objects.get().data["start"] == "link-5d1b3f9a"


def test_callback_fixture_answers_the_query(client, config):
    response = post(client, config, fixture("callback_query"))
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["method"] == "answerCallbackQuery"
    process_inbound()
    assert Message.objects.get().body == "friday"


def test_photo_fixture_is_fetched_and_stored(client, config, telegram_fake):
    picture = jpeg()
    telegram_fake.add_file(
        picture, mime_type="image/jpeg", kind="photos", file_id="AgACAgIAAxkBAAIBZmZ0_large_1280"
    )
    post(client, config, fixture("photo_caption"))
    process_inbound()
    message = Message.objects.get()
    assert (message.kind, message.body) == ("media", "This is the broken tap")
    attachment = Attachment.objects.get()
    assert attachment_fetch(attachment_id=attachment.pk) == "stored"
    attachment.refresh_from_db()
    assert attachment.status == AttachmentStatus.STORED
    assert attachment.content_type == "image/jpeg"
    assert attachment.file.read() == picture


def test_document_fixture_that_is_not_a_pdf_is_rejected(client, config, telegram_fake):
    telegram_fake.add_file(
        b"MZ\x90\x00 not a pdf",
        mime_type="application/pdf",
        file_name="insurance-letter.pdf",
        file_id="BQACAgIAAxkBAAIBZ2Z0_document_pdf",
    )
    post(client, config, fixture("document"))
    process_inbound()
    attachment = Attachment.objects.get()
    assert attachment_fetch(attachment_id=attachment.pk) == "rejected"
    attachment.refresh_from_db()
    assert attachment.status == AttachmentStatus.REJECTED and not attachment.file


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
def test_bad_secret_writes_nothing(client, config, secret):
    response = post(client, config, fixture("message_text"), secret=secret)
    assert response.status_code == 403
    assert counts() == (0, 0)


def test_stale_update_writes_nothing(client, config):
    update = fixture("message_text", date=int(time.time()) - 25 * 3600)
    assert post(client, config, update).status_code == 403
    assert counts() == (0, 0)


def test_replayed_update_is_ignored(client, config):
    update = fixture("message_text")
    assert post(client, config, update).status_code == 200
    process_inbound()
    before = counts()
    assert post(client, config, update).status_code == 200
    assert process_inbound() == 0
    assert counts() == before == (1, 1)


def test_the_fake_user_through_the_view(client, config, telegram_fake):
    assert telegram_fake.user_says(5005, "Hi there", first_name="Olga") == 200
    assert telegram_fake.user_sends_photo(5005, jpeg(), caption="My car") == 200
    process_inbound()
    contact = Contact.objects.get()
    assert contact.first_name == "Olga"
    assert list(Message.objects.order_by("id").values_list("body", flat=True)) == [
        "Hi there",
        "My car",
    ]
    assert attachment_fetch(attachment_id=Attachment.objects.get().pk) == "stored"


# --- outbox -----------------------------------------------------------------------------------


def _conversation(client, config):
    post(client, config, fixture("message_text"))
    process_inbound()
    return Conversation.objects.get()


def test_reply_with_buttons_and_a_photo_goes_out(client, config, telegram_fake):
    conversation = _conversation(client, config)
    reply = message_queue(
        conversation=conversation,
        body="Here is our salon",
        buttons=["Book", "Later"],
        attachments=[("salon.jpg", "image/jpeg", jpeg())],
    )
    assert send_outbox() == 1
    reply.refresh_from_db()
    assert reply.status == MessageStatus.DELIVERED
    [request] = telegram_fake.requests
    assert request["method"] == "sendPhoto"
    assert request["params"]["chat_id"] == "1111111"
    assert request["params"]["caption"] == "Here is our salon"
    assert json.loads(request["params"]["reply_markup"])["keyboard"] == [
        [{"text": "Book"}],
        [{"text": "Later"}],
    ]
    [sent] = telegram_fake.sent
    assert reply.provider_message_id == f"1111111:{sent['message_id']}"


def test_revoked_token_disables_the_channel(client, config, telegram_fake):
    conversation = _conversation(client, config)
    telegram_fake.fail_next(401)
    message = message_queue(conversation=conversation, body="Hello")
    send_outbox()
    message.refresh_from_db()
    config.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert config.disabled_at is not None and "token" in config.disabled_reason


def test_blocked_bot_fails_the_message_only(client, config, telegram_fake):
    conversation = _conversation(client, config)
    telegram_fake.blocked.add("1111111")
    message = message_queue(conversation=conversation, body="Hello")
    send_outbox()
    message.refresh_from_db()
    config.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert "blocked" in message.last_error
    assert config.disabled_at is None


def test_rate_limit_waits_retry_after_without_counting_an_attempt(client, config, telegram_fake):
    conversation = _conversation(client, config)
    telegram_fake.fail_next(429, retry_after=30)
    message = message_queue(conversation=conversation, body="Hello")
    send_outbox()
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.attempts == 0
    assert (message.next_attempt_at - message.updated_at).total_seconds() > 25
