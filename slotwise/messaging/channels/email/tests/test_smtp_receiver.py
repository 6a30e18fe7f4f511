"""The local SMTP receiver: a real aiosmtpd server on 127.0.0.1, mail sent with smtplib."""

import smtplib
from email.message import EmailMessage
from types import SimpleNamespace

import pytest

from slotwise.messaging.channels.email.smtp_receiver import channel_addresses, start_receiver

from .conftest import free_port


def mail(sender="Anna <anna@example.com>", to="hello@salon.example", message_id="<r1@example.com>"):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "Booking"
    if message_id:
        message["Message-ID"] = message_id
    message.set_content("Can I come on Friday?\n\nOn Mon, Salon wrote:\n> Hello\n")
    message.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="a.pdf")
    return message


@pytest.fixture
def receiver():
    received = []
    port = free_port()
    config = SimpleNamespace(
        settings={
            "from_address": "Salon <Hello@Salon.example>",
            "inbound_addresses": "bookings@salon.example",
        }
    )
    controller = start_receiver(config, port=port, deliver=received.append)
    yield SimpleNamespace(port=port, received=received)
    controller.stop()


def test_channel_addresses():
    config = SimpleNamespace(
        settings={
            "from_address": "Salon <Hello@Salon.example>",
            "inbound_addresses": "a@x.se, B@y.se",
        }
    )
    assert channel_addresses(config) == {"hello@salon.example", "a@x.se", "b@y.se"}


def test_mail_for_the_channel_is_parsed_and_delivered(receiver):
    with smtplib.SMTP("127.0.0.1", receiver.port) as smtp:
        smtp.send_message(mail())
        smtp.send_message(mail(to="bookings@salon.example", message_id="<r2@example.com>"))
    first, second = receiver.received
    assert first.event_id == "email:<r1@example.com>"
    assert first.sender == "anna@example.com" and first.sender_name == "Anna"
    assert first.text == "Can I come on Friday?"
    assert first.data["subject"] == "Booking"
    assert first.occurred_at is None  # no age check for mail handed over by SMTP
    [media] = first.media
    assert media.filename == "a.pdf" and media.ref.startswith("data:application/pdf;base64,")
    assert second.event_id == "email:<r2@example.com>"


def test_mail_for_another_address_is_refused(receiver):
    with smtplib.SMTP("127.0.0.1", receiver.port) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.send_message(mail(to="someone@else.example"))
    assert receiver.received == []


def test_mail_without_from_is_refused(receiver):
    raw = b"To: hello@salon.example\r\nSubject: x\r\n\r\nbody\r\n"
    with smtplib.SMTP("127.0.0.1", receiver.port) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as exc:
            smtp.sendmail("bounce@example.com", ["hello@salon.example"], raw)
    assert exc.value.smtp_code == 550
    assert receiver.received == []


def test_storage_failure_asks_the_sender_to_retry():
    def broken(item):
        raise RuntimeError("database down")

    port = free_port()
    config = SimpleNamespace(settings={"from_address": "hello@salon.example"})
    controller = start_receiver(config, port=port, deliver=broken)
    try:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            with pytest.raises(smtplib.SMTPDataError) as exc:
                smtp.send_message(mail())
        assert exc.value.smtp_code == 451
    finally:
        controller.stop()
