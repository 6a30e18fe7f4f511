"""The e-mail channel: SMTP out against a real aiosmtpd server, Mailgun's inbound webhook."""

import base64
import email
import email.policy

import httpx
import pytest
from django.core import mail

from slotwise.messaging.channels import channels
from slotwise.messaging.channels.base import (
    ChannelError,
    ChannelNotConfigured,
    InboundMedia,
    InboundRejected,
    InboundRequest,
    OutgoingMedia,
    OutgoingMessage,
)
from slotwise.messaging.channels.email.channel import EmailChannel
from slotwise.messaging.channels.email.mime import parse_mime, strip_quoted

from .conftest import fixture, free_port, signed_fields


def form_request(fields: dict, files: list[dict] = (), url="https://slotwise.example/in/"):
    """The multipart/form-data POST Mailgun makes."""
    uploads = [
        (f["name"], (f["filename"], base64.b64decode(f["content_base64"]), f["content_type"]))
        for f in files
    ]
    request = httpx.Request("POST", url, data=fields, files=uploads or None)
    body = request.read()
    if not uploads:
        # httpx sends a urlencoded body without files; Mailgun sends multipart always.
        request = httpx.Request("POST", url, data=fields, files={"_": ("", b"", "x/none")})
        body = request.read()
    return InboundRequest(
        method="POST",
        body=body,
        headers={"content-type": request.headers["content-type"]},
        query={},
        url=url,
    )


def mailgun_request(name: str, **sign):
    data = fixture(name)
    return form_request(signed_fields(data["fields"], **sign), data.get("files", []))


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_registry():
    assert channels.get_class("email") is EmailChannel
    assert EmailChannel.medium == "email"


# --- SMTP out ---------------------------------------------------------------------------------


def test_send_through_the_channels_own_smtp_server(channel, smtp_server):
    result = channel.send(
        OutgoingMessage(
            to="anna@example.com",
            subject="Your booking",
            text="See you on Friday åäö",
            media=(OutgoingMedia("receipt.pdf", "application/pdf", content=b"%PDF-1.4 test"),),
            idempotency_key="7d3c0f4e-1111-2222-3333-444455556666",
        )
    )
    assert result.external_id == "<7d3c0f4e-1111-2222-3333-444455556666@salon.example>"
    [(mail_from, rcpt_tos, raw)] = smtp_server.messages
    assert mail_from == "hello@salon.example"
    assert rcpt_tos == ["anna@example.com"]
    message = parsed(raw)
    assert message["Message-ID"] == result.external_id
    assert message["X-Slotwise-Idempotency-Key"] == "7d3c0f4e-1111-2222-3333-444455556666"
    assert message["Subject"] == "Your booking"
    assert message["Reply-To"] == "Salon Lina <hello@salon.example>"
    assert "See you on Friday åäö" in message.get_body(("plain",)).get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "receipt.pdf"
    assert attachment.get_content() == b"%PDF-1.4 test"


def test_without_host_djangos_default_mailer_sends(make_channel):
    channel = make_channel(host="", password_env="")
    channel.send(OutgoingMessage(to="anna@example.com", text="Hi", idempotency_key="k-1"))
    [sent] = mail.outbox
    assert sent.to == ["anna@example.com"]
    assert sent.extra_headers["Message-ID"] == "<k-1@salon.example>"


def test_refused_recipient_is_permanent(channel, smtp_server):
    smtp_server.refuse.add("nobody@example.com")
    with pytest.raises(ChannelError) as exc:
        channel.send(OutgoingMessage(to="nobody@example.com", text="x", idempotency_key="k"))
    assert exc.value.permanent and not exc.value.channel_broken


def test_wrong_password_breaks_the_channel(channel, smtp_server, monkeypatch):
    monkeypatch.setenv("SMTP_TEST_PASSWORD", "wrong")
    with pytest.raises(ChannelError) as exc:
        channel.send(OutgoingMessage(to="anna@example.com", text="x", idempotency_key="k"))
    assert exc.value.channel_broken
    assert smtp_server.messages == []


def test_missing_password_variable_is_not_configured(make_channel):
    channel = make_channel(password_env="NO_SUCH_VARIABLE")
    with pytest.raises(ChannelNotConfigured):
        channel.send(OutgoingMessage(to="anna@example.com", text="x", idempotency_key="k"))


@pytest.mark.parametrize(
    ("reply", "permanent"), [("554 5.7.1 Spam", True), ("451 4.3.0 Later", False)]
)
def test_data_refusals(channel, smtp_server, reply, permanent):
    smtp_server.data_reply = reply
    with pytest.raises(ChannelError) as exc:
        channel.send(OutgoingMessage(to="anna@example.com", text="x", idempotency_key="k"))
    assert exc.value.permanent is permanent
    assert not exc.value.channel_broken


def test_unreachable_server_is_transient(make_channel):
    channel = make_channel(port=str(free_port()))
    with pytest.raises(ChannelError) as exc:
        channel.send(OutgoingMessage(to="anna@example.com", text="x", idempotency_key="k"))
    assert not exc.value.permanent


def test_not_an_address_is_permanent(channel):
    with pytest.raises(ChannelError) as exc:
        channel.send(OutgoingMessage(to="+46701234567", text="x", idempotency_key="k"))
    assert exc.value.permanent


# --- Mailgun in -------------------------------------------------------------------------------


def test_mailgun_raw_mime_fixture(channel):
    result = channel.parse_inbound(mailgun_request("mailgun_inbound_mime"))
    [item] = result.messages
    assert item.event_id == "email:<CAF=Yq2j8kL0b1xZ@mail.example.com>"
    assert item.sender == item.sender_email == "anna.berg@example.com"
    assert item.sender_name == "Anna Berg"
    assert item.text == "Hej! Fredag passar bra. Här är bilden på frisyren jag vill ha.\n\nAnna"
    assert item.data["subject"] == "Re: Your booking on Friday"
    assert item.data["in_reply_to"] == "<3f2b6c1e-0d4a-4b8e-9c7f-1a2b3c4d5e6f@salon.example>"
    assert item.data["to"] == ["hello@salon.example"]
    assert item.occurred_at is not None
    [media] = item.media
    assert (media.filename, media.content_type) == ("hair.png", "image/png")
    assert media.ref.startswith("data:image/png;base64,")
    fetched = channel.fetch_media(media)
    assert fetched.content.startswith(b"\x89PNG")
    assert fetched.filename == "hair.png" and fetched.content_type == "image/png"


def test_mailgun_parsed_fixture(channel):
    [item] = channel.parse_inbound(mailgun_request("mailgun_inbound_parsed")).messages
    assert item.event_id == "email:<20250115123958.1234.5678@example.org>"
    assert item.sender == "bob@example.org"
    assert item.text == "Hi, how much is a haircut for a child?"  # Mailgun's stripped-text
    assert item.data["subject"] == "Question about prices"
    [media] = item.media
    assert media.filename == "price-list.png"
    assert channel.fetch_media(media).content.startswith(b"\x89PNG")


def test_bad_signature_is_rejected(channel):
    with pytest.raises(InboundRejected) as exc:
        channel.parse_inbound(mailgun_request("mailgun_inbound_mime", key="not-our-key"))
    assert exc.value.status == 403


def test_missing_signature_is_rejected(channel):
    fields = {k: v for k, v in fixture("mailgun_inbound_mime")["fields"].items()}
    fields.pop("signature")
    with pytest.raises(InboundRejected):
        channel.parse_inbound(form_request(fields))


def test_stale_timestamp_is_rejected(channel):
    with pytest.raises(InboundRejected):
        channel.parse_inbound(mailgun_request("mailgun_inbound_mime", age=301))
    # within the window it is fine; the window is a setting
    assert channel.parse_inbound(mailgun_request("mailgun_inbound_mime", age=200)).messages


def test_max_age_setting(make_channel):
    channel = make_channel(max_age_seconds="60")
    assert channel.max_event_age_seconds == 60
    with pytest.raises(InboundRejected):
        channel.parse_inbound(mailgun_request("mailgun_inbound_mime", age=90))


def test_replay_has_the_same_event_id(channel):
    first = channel.parse_inbound(mailgun_request("mailgun_inbound_mime", token="a" * 50))
    again = channel.parse_inbound(mailgun_request("mailgun_inbound_mime", token="b" * 50))
    assert first.messages[0].event_id == again.messages[0].event_id


def test_signing_key_is_required(make_channel):
    channel = make_channel(webhook_signing_key_env="NOT_SET_ANYWHERE")
    with pytest.raises(ChannelNotConfigured):
        channel.parse_inbound(mailgun_request("mailgun_inbound_mime"))


def test_urlencoded_mailgun_post_is_understood(channel):
    fields = signed_fields(fixture("mailgun_inbound_mime")["fields"])
    request = httpx.Request("POST", "https://x/", data=fields)
    inbound = InboundRequest(
        method="POST",
        body=request.read(),
        headers={"content-type": request.headers["content-type"]},
        query={},
        url="https://x/",
    )
    assert channel.parse_inbound(inbound).messages[0].sender == "anna.berg@example.com"


def test_fetch_media_only_takes_data_refs(channel):
    with pytest.raises(ChannelError):
        channel.fetch_media(InboundMedia(ref="https://evil.example/x.png"))
    with pytest.raises(ChannelError):
        channel.fetch_media(InboundMedia(ref="data:image/png;base64,!!!"))


def test_signature_is_mailguns():
    # Mailgun: hex HMAC-SHA256 over timestamp + token with the webhook signing key.
    import hashlib
    import hmac

    from slotwise.messaging.channels.email import mailgun

    expected = hmac.new(b"k", b"1700000000tok", hashlib.sha256).hexdigest()
    assert mailgun.sign("k", "1700000000", "tok") == expected


# --- parsing ----------------------------------------------------------------------------------


def test_parse_mime_without_message_id_uses_the_content_hash():
    raw = b"From: x@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
    item = parse_mime(raw)
    assert item.event_id.startswith("email:sha256:")
    assert item.event_id == parse_mime(raw).event_id
    assert item.text == "hello"


def test_parse_mime_without_from_is_rejected():
    with pytest.raises(InboundRejected):
        parse_mime(b"Subject: hi\r\n\r\nhello\r\n")


def test_html_only_mail_becomes_text():
    raw = (
        b"From: x@example.com\r\nMessage-ID: <h@x>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Hello <b>there</b></p>\r\n"
    )
    assert parse_mime(raw).text == "Hello there"


def test_big_attachment_is_skipped_and_noted(monkeypatch):
    from slotwise.messaging.channels.email import mime

    monkeypatch.setattr(mime, "INLINE_LIMIT", 10)
    message = email.message.EmailMessage()
    message["From"] = "x@example.com"
    message["Message-ID"] = "<big@x>"
    message.set_content("see attached")
    message.add_attachment(b"x" * 100, maintype="application", subtype="pdf", filename="big.pdf")
    item = parse_mime(message.as_bytes())
    assert item.media == ()
    assert item.data["skipped_attachments"] == [
        {"filename": "big.pdf", "size": 100, "reason": "too large"}
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes please\n\nOn Mon, 1 Jan 2025, Salon <a@b> wrote:\n> Do you want it?\n", "Yes please"),
        ("Ja tack\n\nDen 1 jan. 2025 skrev Salon <a@b>:\n> Vill du?\n", "Ja tack"),
        ("Ok\n-----Original Message-----\nFrom: a\n", "Ok"),
        (
            "Sure\n\nOn Wed, 15 Jan 2025 at 11:02, Salon Lina <\nhello@salon.example> wrote:\n> Hi\n",
            "Sure",
        ),
        ("Bra\n\nOp wo 15 jan. 2025 om 11:02 schreef Salon <a@b>:\n> Hoi\n", "Bra"),
        ("Да\n\n15.01.2025, 11:02, Иван <ivan@example.ru> написал(а):\n> Привет\n", "Да"),
        ("Here is what she wrote:\nthe rest", "Here is what she wrote:\nthe rest"),
        ("We wrote: the list below\nstays", "We wrote: the list below\nstays"),
        ("Fine\n> quoted\n> more\n", "Fine"),
        ("> only a quote\n", "> only a quote"),
        ("Plain text with no quote", "Plain text with no quote"),
    ],
)
def test_strip_quoted(text, expected):
    assert strip_quoted(text) == expected
