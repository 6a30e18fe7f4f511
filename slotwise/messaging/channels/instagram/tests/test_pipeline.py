"""Instagram through the whole pipeline: fixtures posted to the inbound view land on the right
contact; forgeries, stale and replayed events write nothing; replies go out through the outbox
and read receipts move them on."""

from __future__ import annotations

import io
import time

import pytest

from slotwise.customers.models import Identity
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
from slotwise.tests_factories import OrganisationFactory

from .conftest import body, fixture

pytestmark = pytest.mark.django_db

IGSID = "6874123456789012"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def config(meta, client):
    org = OrganisationFactory(country="NL")
    config = make_channel(org, "instagram", meta.instagram_settings(), name="Instagram")

    def sender(url, raw, headers):
        signature = {"X-Hub-Signature-256": headers["X-Hub-Signature-256"]}
        return post_inbound(client, config, raw, signature).status_code

    meta.webhook_sender = sender
    return config


def post(client, config, payload, *, secret="fake-meta-app-secret"):
    raw = body(payload)
    return post_inbound(client, config, raw, {"X-Hub-Signature-256": sign(raw, secret)})


def counts():
    return InboundEvent.objects.count(), Message.objects.count()


def test_text_fixture_lands_on_a_contact_once(client, config):
    payload = fixture("text_message.json")
    assert post(client, config, payload).status_code == 200
    assert post(client, config, payload).status_code == 200  # a replay
    process_inbound()
    message = Message.objects.get()
    assert message.direction == "in" and message.body == "Hi! Do you have a slot on Friday?"
    assert message.channel == "instagram"
    assert Identity.objects.filter(
        contact=message.contact, kind="instagram", external_id=IGSID
    ).exists()
    assert Conversation.objects.get().address == IGSID
    assert counts() == (1, 1)


def test_forged_and_stale_write_nothing(client, config):
    assert post(client, config, fixture("text_message.json"), secret="x").status_code == 403
    old = fixture("text_message.json", timestamp=time.time() - 2 * 24 * 3600)
    assert post(client, config, old).status_code == 403
    process_inbound()
    assert counts() == (0, 0)


def test_image_fixture_is_fetched(client, config, meta):
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (6, 6), "white").save(out, "JPEG")
    url = meta.add_instagram_asset(out.getvalue(), "image/jpeg")
    post(client, config, fixture("image_message.json", url=url))
    process_inbound()
    attachment = Attachment.objects.get()
    assert attachment.source_ref == url
    assert attachment_fetch(attachment_id=attachment.pk) == "stored"
    attachment.refresh_from_db()
    assert attachment.status == AttachmentStatus.STORED
    assert attachment.content_type == "image/jpeg"


def test_reply_goes_out_and_is_read(client, config, meta):
    post(client, config, fixture("text_message.json"))
    process_inbound()
    reply = message_queue(
        conversation=Conversation.objects.get(), body="Yes, 10:00?", buttons=["Yes", "No"]
    )
    send_outbox()
    reply.refresh_from_db()
    assert reply.status == MessageStatus.SENT
    sent = meta.instagram_sent[reply.provider_message_id]
    assert sent["recipient"] == IGSID and len(sent["message"]["quick_replies"]) == 2
    assert meta.deliver(meta.instagram_read(IGSID, reply.provider_message_id)) == 200
    process_inbound()
    reply.refresh_from_db()
    assert reply.status == MessageStatus.READ


def test_expired_token_disables_the_channel(config, meta):
    meta.fail_next("auth")
    message = message_queue(channel_config=config, to=IGSID, body="x")
    send_outbox()
    message.refresh_from_db()
    config.refresh_from_db()
    assert message.status == MessageStatus.FAILED and config.disabled_at is not None
