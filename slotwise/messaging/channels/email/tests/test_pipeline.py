"""E-mail through the whole pipeline: Mailgun's webhook and the local SMTP receiver into the
inbox, replies out through the outbox to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
import smtplib
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest

from slotwise.customers.models import Identity
from slotwise.messaging.channels.email.smtp_receiver import channel_deliverer, start_receiver
from slotwise.messaging.inbound import inbound_url
from slotwise.messaging.models import (
    Attachment,
    AttachmentStatus,
    Conversation,
    InboundEvent,
    Message,
    MessageStatus,
)
from slotwise.messaging.outbox import message_queue
from slotwise.messaging.testing import make_channel, process_inbound, send_outbox
from slotwise.tests_factories import ContactFactory, OrganisationFactory

from .conftest import PASSWORD_ENV, SIGNING_ENV, SIGNING_KEY, free_port
from .test_channel import mailgun_request


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def org(db):
    return OrganisationFactory(country="SE", time_zone="Europe/Stockholm")


@pytest.fixture
def config(org, smtp_server, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "right-password")
    monkeypatch.setenv(SIGNING_ENV, SIGNING_KEY)
    return make_channel(
        org,
        "email",
        {
            "from_address": "Salon Lina <hello@salon.example>",
            "host": "127.0.0.1",
            "port": str(smtp_server.port),
            "username": "slotwise",
            "password_env": PASSWORD_ENV,
            "webhook_signing_key_env": SIGNING_ENV,
        },
        name="E-mail",
    )


def post(client, config, request):
    return client.generic(
        "POST",
        urlsplit(inbound_url(config)).path,
        request.body,
        content_type=request.headers["content-type"],
    )


def counts():
    return InboundEvent.objects.count(), Message.objects.count()


@pytest.mark.django_db
def test_mailgun_fixture_lands_on_a_new_contact_with_its_attachment(client, config):
    response = post(client, config, mailgun_request("mailgun_inbound_mime"))
    assert response.status_code == 200
    assert process_inbound() == 1
    message = Message.objects.get()
    assert message.direction == "in" and message.channel == "email"
    assert message.subject == "Re: Your booking on Friday"
    assert message.body.startswith("Hej! Fredag passar bra.")
    assert message.provider_message_id == "<CAF=Yq2j8kL0b1xZ@mail.example.com>"
    contact = message.contact
    assert (contact.first_name, contact.last_name, contact.email) == (
        "Anna",
        "Berg",
        "anna.berg@example.com",
    )
    assert Identity.objects.filter(contact=contact, kind="email", external_id=contact.email)
    attachment = Attachment.objects.get()
    assert attachment.status == AttachmentStatus.STORED
    assert attachment.filename == "hair.png" and attachment.content_type == "image/png"


@pytest.mark.django_db
def test_a_known_address_lands_on_its_contact(client, config, org):
    known = ContactFactory(organisation=org, email="Anna.Berg@example.com")
    post(client, config, mailgun_request("mailgun_inbound_parsed"))
    post(client, config, mailgun_request("mailgun_inbound_mime"))
    process_inbound()
    anna = Message.objects.get(provider_message_id="<CAF=Yq2j8kL0b1xZ@mail.example.com>")
    assert anna.contact == known


@pytest.mark.django_db
def test_bad_signature_stale_and_replay(client, config):
    assert post(client, config, mailgun_request("mailgun_inbound_mime", key="x")).status_code == 403
    assert (
        post(client, config, mailgun_request("mailgun_inbound_mime", age=3600)).status_code == 403
    )
    process_inbound()
    assert counts() == (0, 0)
    for token in ("a" * 50, "b" * 50):  # Mailgun retrying, or someone replaying within 5 min
        assert (
            post(client, config, mailgun_request("mailgun_inbound_mime", token=token)).status_code
            == 200
        )
    process_inbound()
    assert counts() == (1, 1)


@pytest.mark.django_db
def test_reply_goes_out_by_smtp_with_the_outbox_key(client, config, smtp_server):
    post(client, config, mailgun_request("mailgun_inbound_mime"))
    process_inbound()
    reply = message_queue(
        conversation=Conversation.objects.get(),
        subject="Re: Your booking on Friday",
        body="Welcome on Friday!",
        attachments=[("map.pdf", "application/pdf", b"%PDF-1.4 map")],
    )
    assert send_outbox() == 1
    reply.refresh_from_db()
    assert reply.status == MessageStatus.SENT
    [(mail_from, rcpt_tos, raw)] = smtp_server.messages
    assert rcpt_tos == ["anna.berg@example.com"]
    sent = email.message_from_bytes(raw, policy=email.policy.default)
    assert (
        sent["Message-ID"]
        == reply.provider_message_id
        == (f"<{reply.idempotency_key}@salon.example>")
    )
    assert [a.get_filename() for a in sent.iter_attachments()] == ["map.pdf"]


@pytest.mark.django_db
def test_refused_recipient_fails_the_message_and_keeps_the_channel(config, smtp_server):
    smtp_server.refuse.add("gone@example.com")
    message = message_queue(channel_config=config, to="gone@example.com", subject="x", body="x")
    send_outbox()
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    config.refresh_from_db()
    assert config.disabled_at is None


@pytest.mark.django_db
def test_wrong_smtp_password_disables_the_channel(config, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    message_queue(channel_config=config, to="anna@example.com", subject="x", body="x")
    send_outbox()
    config.refresh_from_db()
    assert config.disabled_at is not None


@pytest.mark.django_db(transaction=True)
def test_smtp_receiver_feeds_the_inbox(config):
    port = free_port()
    controller = start_receiver(config, port=port)
    try:
        message = EmailMessage()
        message["From"] = "Carl <carl@example.net>"
        message["To"] = "hello@salon.example"
        message["Subject"] = "Hello"
        message["Message-ID"] = "<smtp-1@example.net>"
        message.set_content("Do you have time on Monday?")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(message)
            smtp.send_message(message)  # a resend: the inbox keeps one
    finally:
        controller.stop()
    process_inbound()
    stored = Message.objects.get()
    assert stored.body == "Do you have time on Monday?"
    assert stored.contact.email == "carl@example.net"
    assert stored.channel_config_id == config.pk
    assert InboundEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_channel_deliverer_stores_an_event(config):
    from slotwise.messaging.channels.email.mime import parse_mime

    deliver = channel_deliverer(config)
    deliver(parse_mime(b"From: d@example.com\r\nMessage-ID: <d1@x>\r\n\r\nhi\r\n"))
    assert InboundEvent.objects.filter(channel=config, event_id="email:<d1@x>").exists()


@pytest.mark.django_db(transaction=True)
def test_smtp_receiver_command(config):
    """`manage.py smtp_receiver` until SIGTERM: a mail sent meanwhile is in the inbox."""
    import io
    import os
    import signal
    import threading
    import time

    from django.core.management import call_command

    port = free_port()
    outcome = {}

    def customer():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
                    smtp.sendmail(
                        "eve@example.com",
                        ["hello@salon.example"],
                        b"From: Eve <eve@example.com>\r\nMessage-ID: <cmd-1@example.com>\r\n"
                        b"Subject: Hi\r\n\r\nHello from the command test\r\n",
                    )
                outcome["sent"] = True
                break
            except OSError:
                time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=customer, daemon=True).start()
    out = io.StringIO()
    call_command("smtp_receiver", port=port, channel=config.inbound_key, stdout=out)
    assert outcome.get("sent")
    assert "hello@salon.example" in out.getvalue()
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handler is back
    process_inbound()
    assert Message.objects.get().body == "Hello from the command test"


@pytest.mark.django_db
def test_smtp_receiver_command_needs_an_email_channel():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError):
        call_command("smtp_receiver", channel="no-such-key")
