"""Twilio SMS through the whole pipeline: the inbound view, stored events, the worker's processing
into contact / conversation / message, MMS attachments, the outbox and the status callbacks —
with the Twilio fake as the API and Django's test client as our web server."""

from __future__ import annotations

import io
from urllib.parse import urlencode, urlsplit

import pytest
from django.utils import timezone

from slotwise.customers.models import Identity
from slotwise.messaging.channels.twilio import api
from slotwise.messaging.inbound import inbound_url
from slotwise.messaging.media import attachment_fetch
from slotwise.messaging.models import (
    Attachment,
    ChannelConfig,
    Conversation,
    InboundEvent,
    Message,
    MessageStatus,
)
from slotwise.messaging.outbox import message_queue
from slotwise.messaging.testing import make_channel, process_inbound, send_outbox
from slotwise.tests_factories import ContactFactory, OrganisationFactory

from .conftest import TOKEN_ENV, fixture_form

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def site(settings, tmp_path):
    # Twilio signs the URL it calls; the test client is http://testserver.
    settings.SITE_URL = "http://testserver"
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def org():
    return OrganisationFactory(country="SE", time_zone="Europe/Stockholm")


def http_post(client, url: str, body: bytes, headers: dict[str, str]):
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    extra.pop("HTTP_CONTENT_TYPE", None)
    return client.generic("POST", path, body, content_type=FORM, **extra)


@pytest.fixture
def config(org, twilio_fake, client, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, twilio_fake.auth_token)
    config = make_channel(org, "twilio", twilio_fake.settings(TOKEN_ENV), name="SMS")
    twilio_fake.deliver = lambda url, body, headers: (
        http_post(client, url, body, headers).status_code
    )
    return config


def post(client, config, form, *, query="", token=None, twilio_fake=None):
    url = inbound_url(config) + (f"?{query}" if query else "")
    signature = api.compute_signature(url, form, token or twilio_fake.auth_token)
    return http_post(client, url, urlencode(form).encode(), {"X-Twilio-Signature": signature})


def counts():
    return InboundEvent.objects.count(), Message.objects.count()


def jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(out, "JPEG")
    return out.getvalue()


def test_inbound_sms_fixture_lands_on_a_new_contact(client, config, twilio_fake):
    response = post(client, config, fixture_form("inbound_sms"), twilio_fake=twilio_fake)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Response/>" in response.content
    assert process_inbound() == 1
    message = Message.objects.get()
    assert message.direction == "in" and message.status == MessageStatus.RECEIVED
    assert message.body == "Hej! Kan jag boka en tid på fredag?"
    assert message.channel == "phone" and message.channel_config == config
    assert message.provider_message_id == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    contact = message.contact
    assert contact.phone == "+46701234567"
    assert Identity.objects.filter(contact=contact, kind="phone", external_id="+46701234567")
    assert Conversation.objects.get().address == "+46701234567"


def test_a_known_number_lands_on_its_contact(client, config, twilio_fake, org):
    known = ContactFactory(organisation=org, phone="+46701234567")
    post(client, config, fixture_form("inbound_sms"), twilio_fake=twilio_fake)
    process_inbound()
    assert Message.objects.get().contact == known


def test_replay_writes_one_message(client, config, twilio_fake):
    form = fixture_form("inbound_sms")
    assert post(client, config, form, twilio_fake=twilio_fake).status_code == 200
    assert post(client, config, form, twilio_fake=twilio_fake).status_code == 200
    process_inbound()
    assert post(client, config, form, twilio_fake=twilio_fake).status_code == 200
    process_inbound()
    assert counts() == (1, 1)


def test_bad_signature_writes_nothing(client, config, twilio_fake):
    response = post(client, config, fixture_form("inbound_sms"), token="not-the-auth-token")
    assert response.status_code == 403
    unsigned = client.post(
        urlsplit(inbound_url(config)).path,
        urlencode(fixture_form("inbound_sms")),
        content_type=FORM,
    )
    assert unsigned.status_code == 403
    process_inbound()
    assert counts() == (0, 0)


def test_mms_picture_is_fetched_and_stored(client, config, twilio_fake):
    record = twilio_fake.send_inbound_sms(
        inbound_url(config), from_="+46709998877", body="Photo", media=[(jpeg(), "image/jpeg")]
    )
    assert record["status"] == 200
    process_inbound()
    message = Message.objects.get()
    assert message.kind == "media"
    attachment = Attachment.objects.get()
    assert attachment.source_ref.startswith(twilio_fake.url)
    assert attachment_fetch(attachment_id=attachment.pk) == "stored"
    attachment.refresh_from_db()
    assert attachment.content_type == "image/jpeg"
    assert attachment.file.read() == jpeg()


def test_reply_goes_out_and_follows_status_callbacks(client, config, twilio_fake):
    post(client, config, fixture_form("inbound_sms"), twilio_fake=twilio_fake)
    process_inbound()
    conversation = Conversation.objects.get()
    reply = message_queue(conversation=conversation, body="Fredag 10:00 fungerar!")
    assert send_outbox() == 1
    reply.refresh_from_db()
    assert reply.status == MessageStatus.SENT
    [sent] = twilio_fake.sent()
    assert reply.provider_message_id == sent["sid"]
    assert sent["to"] == "+46701234567" and sent["body"] == "Fredag 10:00 fungerar!"
    assert twilio_fake.deliveries_by_key() == {str(reply.idempotency_key): 1}
    twilio_fake.advance(sent["sid"])
    assert [c["status"] for c in twilio_fake.callbacks] == [200, 200]
    process_inbound()
    reply.refresh_from_db()
    assert reply.status == MessageStatus.DELIVERED and reply.delivered_at is not None


def test_undelivered_status_fixture_fails_the_message(client, config, twilio_fake, org):
    contact = ContactFactory(organisation=org, phone="+46701234567")
    message = message_queue(channel_config=config, contact=contact, to="+46701234567", body="x")
    send_outbox()
    message.refresh_from_db()
    form = {**fixture_form("status_undelivered_30003"), "MessageSid": message.provider_message_id}
    form["SmsSid"] = message.provider_message_id
    assert (
        post(client, config, form, query="event=status", twilio_fake=twilio_fake).status_code == 200
    )
    process_inbound()
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert "30003" in message.last_error


def test_unsubscribed_recipient_fails_without_retry(config, twilio_fake, org):
    twilio_fake.unsubscribed.add("+46700000001")
    message = message_queue(channel_config=config, to="+46700000001", body="x")
    send_outbox()
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert "21610" in message.last_error
    config.refresh_from_db()
    assert config.disabled_at is None


def test_revoked_token_disables_the_channel(config, twilio_fake, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "revoked")
    message = message_queue(channel_config=config, to="+46701234567", body="x")
    send_outbox()
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    config = ChannelConfig.objects.get(pk=config.pk)
    assert config.disabled_at is not None and "20003" in config.disabled_reason


def test_server_error_is_retried_with_the_same_key(config, twilio_fake):
    twilio_fake.fail(503)
    message = message_queue(channel_config=config, to="+46701234567", body="x")
    send_outbox()
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.attempts == 1
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    send_outbox()
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    key = str(message.idempotency_key)
    assert twilio_fake.attempts_by_key() == {key: 2}
    assert twilio_fake.deliveries_by_key() == {key: 1}
