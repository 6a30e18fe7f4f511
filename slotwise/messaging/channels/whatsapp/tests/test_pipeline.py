"""WhatsApp through the whole pipeline: the inbound view, the stored events, the worker's
processing into contact / conversation / message, attachments, the outbox and the status
webhooks — with the Meta fake as the Graph API and Django's test client as our web server."""

from __future__ import annotations

import io
import time
from urllib.parse import urlencode

import pytest

from slotwise.customers.models import Contact, Identity
from slotwise.messaging.fakes.meta import sign
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
from slotwise.org.roles import Role
from slotwise.tests_factories import ContactFactory, OrganisationFactory, StaffFactory

from .conftest import body, fixture

pytestmark = pytest.mark.django_db

CUSTOMER = "16505551234"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def org():
    return OrganisationFactory(country="SE", time_zone="Europe/Stockholm")


@pytest.fixture
def config(org, meta, client):
    config = make_channel(org, "whatsapp", meta.whatsapp_settings(), name="WhatsApp")

    def sender(url, raw, headers):
        signature = {"X-Hub-Signature-256": headers["X-Hub-Signature-256"]}
        return post_inbound(client, config, raw, signature).status_code

    meta.webhook_sender = sender
    return config


def post(client, config, payload, *, secret=None):
    raw = body(payload) if isinstance(payload, dict) else payload
    signature = sign(raw, secret or "fake-meta-app-secret")
    return post_inbound(client, config, raw, {"X-Hub-Signature-256": signature})


def counts():
    return InboundEvent.objects.count(), Message.objects.count()


def jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(out, "JPEG")
    return out.getvalue()


# --- inbound ----------------------------------------------------------------------------------


def test_text_fixture_lands_on_a_new_contact(client, config):
    assert post(client, config, fixture("text_message.json")).status_code == 200
    assert process_inbound() == 1
    message = Message.objects.get()
    assert message.direction == "in" and message.status == MessageStatus.RECEIVED
    assert message.body == "Does it come in another color?"
    assert message.channel == "whatsapp" and message.channel_config == config
    assert message.provider_message_id.startswith("wamid.")
    contact = message.contact
    assert (contact.first_name, contact.last_name, contact.phone) == (
        "Sheena",
        "Nelson",
        f"+{CUSTOMER}",
    )
    assert Identity.objects.filter(contact=contact, kind="whatsapp", external_id=CUSTOMER).exists()
    conversation = Conversation.objects.get()
    assert (conversation.contact, conversation.address) == (contact, CUSTOMER)


def test_a_known_phone_number_lands_on_its_contact(client, config, org):
    known = ContactFactory(organisation=org, phone=f"+{CUSTOMER}")
    post(client, config, fixture("text_message.json"))
    process_inbound()
    assert Message.objects.get().contact == known
    assert Contact.objects.count() == 1


def test_replay_writes_one_message(client, config):
    payload = fixture("text_message.json")
    assert post(client, config, payload).status_code == 200
    assert post(client, config, payload).status_code == 200
    process_inbound()
    assert post(client, config, payload).status_code == 200  # after processing too
    process_inbound()
    assert counts() == (1, 1)


def test_bad_signature_writes_nothing(client, config):
    response = post(client, config, fixture("text_message.json"), secret="not the app secret")
    assert response.status_code == 403
    unsigned = post_inbound(client, config, body(fixture("text_message.json")))
    assert unsigned.status_code == 403
    process_inbound()
    assert counts() == (0, 0)


def test_stale_event_writes_nothing(client, config):
    old = fixture("text_message.json", timestamp=time.time() - 3 * 24 * 3600)
    assert post(client, config, old).status_code == 403
    process_inbound()
    assert counts() == (0, 0)


def test_channel_without_its_secrets_answers_503(client, config, monkeypatch):
    monkeypatch.delenv("META_APP_SECRET")
    assert post(client, config, fixture("text_message.json")).status_code == 503
    assert counts() == (0, 0)


def test_subscription_handshake(client, config, meta):
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    ok = post_inbound(
        client,
        config,
        b"",
        method="GET",
        query=urlencode({**query, "hub.verify_token": meta.verify_token}),
    )
    assert ok.status_code == 200 and ok.content == b"1158201444"
    wrong = post_inbound(
        client, config, b"", method="GET", query=urlencode({**query, "hub.verify_token": "x"})
    )
    assert wrong.status_code == 403
    assert counts() == (0, 0)


def test_image_fixture_is_fetched_and_stored(client, config, meta):
    content = jpeg()
    meta.add_media(content, "image/jpeg", media_id="1003383421387256")
    post(client, config, fixture("image_message.json"))
    process_inbound()
    message = Message.objects.get()
    assert message.body == "Black jacket" and message.kind == "media"
    attachment = Attachment.objects.get()
    assert attachment_fetch(attachment_id=attachment.pk) == "stored"
    attachment.refresh_from_db()
    assert attachment.status == AttachmentStatus.STORED
    assert attachment.content_type == "image/jpeg" and attachment.size == len(content)
    assert attachment.file.read() == content


def test_document_fixture_keeps_its_name(client, config, meta):
    meta.add_media(b"%PDF-1.4\n%fake\n", "application/pdf", media_id="2399004647157183")
    post(client, config, fixture("document_message.json"))
    process_inbound()
    attachment = Attachment.objects.get()
    assert attachment_fetch(attachment_id=attachment.pk) == "stored"
    attachment.refresh_from_db()
    assert (attachment.filename, attachment.content_type) == (
        "lucky-shrub-invoice.pdf",
        "application/pdf",
    )


def test_a_file_of_a_refused_type_is_kept_as_rejected(client, config, meta):
    payload = meta.whatsapp_media(
        CUSTOMER,
        b"MZ\x90\x00binary",
        "application/x-msdownload",
        kind="document",
        filename="setup.exe",
    )
    post(client, config, payload)
    process_inbound()
    attachment = Attachment.objects.get()
    assert attachment_fetch(attachment_id=attachment.pk) == "rejected"
    attachment.refresh_from_db()
    assert attachment.status == AttachmentStatus.REJECTED and not attachment.file


def test_button_reply_fixture(client, config):
    post(client, config, fixture("button_reply.json"))
    process_inbound()
    message = Message.objects.get()
    assert message.body == "Change" and message.data["button_id"] == "change-appointment"


# --- outbox and statuses ----------------------------------------------------------------------


def _conversation(client, config, meta) -> Conversation:
    post(client, config, meta.whatsapp_text(CUSTOMER, "Hi", name="Anna Berg"))
    process_inbound()
    return Conversation.objects.get()


def test_reply_is_sent_and_followed_to_read(client, config, meta):
    conversation = _conversation(client, config, meta)
    reply = message_queue(conversation=conversation, body="Welcome!")
    assert send_outbox() == 1
    reply.refresh_from_db()
    assert reply.status == MessageStatus.SENT
    assert meta.whatsapp_sent[reply.provider_message_id]["payload"]["text"]["body"] == "Welcome!"
    assert meta.deliver(meta.whatsapp_status(reply.provider_message_id, "delivered")) == 200
    process_inbound()
    reply.refresh_from_db()
    assert reply.status == MessageStatus.DELIVERED and reply.delivered_at is not None
    meta.deliver(meta.whatsapp_status(reply.provider_message_id, "read"))
    meta.deliver(meta.whatsapp_status(reply.provider_message_id, "sent"))  # late: no step back
    process_inbound()
    reply.refresh_from_db()
    assert reply.status == MessageStatus.READ and reply.read_at is not None


def test_template_goes_out_as_a_template(config, meta, org):
    message = message_queue(
        channel_config=config,
        to=f"+{CUSTOMER}",
        template={"name": "appointment_reminder", "language": "sv", "params": ["Anna", "14:00"]},
    )
    send_outbox()
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    payload = meta.whatsapp_sent[message.provider_message_id]["payload"]
    assert payload["template"]["name"] == "appointment_reminder"
    assert payload["template"]["components"][0]["parameters"][1] == {
        "type": "text",
        "text": "14:00",
    }


def test_buttons_and_attachments_go_out(client, config, meta):
    conversation = _conversation(client, config, meta)
    message_queue(conversation=conversation, body="Yes or no?", buttons=["Yes", "No"])
    message_queue(
        conversation=conversation,
        body="Your photo",
        attachments=[("photo.jpg", "image/jpeg", jpeg())],
    )
    send_outbox()
    payloads = [s["payload"] for s in meta.whatsapp_sent.values()]
    assert payloads[0]["interactive"]["action"]["buttons"][1]["reply"]["title"] == "No"
    image = payloads[1]["image"]
    assert image["caption"] == "Your photo"
    assert "/messaging/media/" in image["link"] and "t=" in image["link"]


def test_not_on_whatsapp_fails_by_status_webhook(client, config, meta):
    meta.not_on_whatsapp.add("46700000000")
    message = message_queue(channel_config=config, to="+46700000000", body="Hello")
    send_outbox()
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    meta.flush()
    process_inbound()
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and "131026" in message.last_error
    config.refresh_from_db()
    assert config.disabled_at is None  # one customer's number doesn't break the channel


def test_expired_token_disables_the_channel_and_tells_the_admin(config, meta, org):
    StaffFactory(unit__organisation=org, roles=[Role.ORG_ADMIN], user__email="admin@example.org")
    meta.fail_next("auth")
    message = message_queue(channel_config=config, to=f"+{CUSTOMER}", body="x")
    send_outbox()
    message.refresh_from_db()
    config.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert config.disabled_at is not None and "190" in config.disabled_reason
    notice = Message.objects.get(purpose="channel.disabled")
    assert notice.to == "admin@example.org" and "access token" in notice.body


def test_rate_limit_waits_without_counting(config, meta):
    meta.fail_next("rate_limit")
    message = message_queue(channel_config=config, to=f"+{CUSTOMER}", body="x")
    send_outbox()
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.attempts == 0
    assert message.next_attempt_at > message.created_at


def test_server_error_retries(config, meta):
    meta.fail_next("server")
    message = message_queue(channel_config=config, to=f"+{CUSTOMER}", body="x")
    send_outbox()
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.attempts == 1
    assert "131000" in message.last_error
