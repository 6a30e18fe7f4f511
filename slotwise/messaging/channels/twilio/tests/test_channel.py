"""The Twilio SMS channel against the local Twilio fake (a real HTTP server on 127.0.0.1)."""

from urllib.parse import urlencode

import pytest

from slotwise.messaging.channels import channels
from slotwise.messaging.channels.base import (
    ChannelError,
    ChannelNotConfigured,
    InboundMedia,
    InboundRejected,
    OutgoingMedia,
    OutgoingMessage,
)
from slotwise.messaging.channels.twilio import api
from slotwise.messaging.channels.twilio.channel import EMPTY_TWIML, TwilioSmsChannel

from .conftest import INBOUND_URL, fixture_form, inbound_request


def signed(fake, url, form, *, token=None):
    body = urlencode(form).encode()
    signature = api.compute_signature(url, form, token or fake.auth_token)
    return inbound_request(url, body, {"X-Twilio-Signature": signature})


def test_registry_builds_the_channel(twilio_fake):
    cls = channels.get_class("twilio")
    assert cls is TwilioSmsChannel
    assert cls.medium == "phone"
    assert cls.max_event_age_seconds is None


# --- send -----------------------------------------------------------------------------------


def test_send_posts_the_documented_form(channel, twilio_fake):
    result = channel.send(
        OutgoingMessage(to="+46701234567", text="Hej å ä ö", idempotency_key="k1")
    )
    assert result.external_id.startswith("SM") and result.status == "sent"
    [request] = twilio_fake.requests
    assert request["path"] == f"/2010-04-01/Accounts/{twilio_fake.account_sid}/Messages.json"
    assert request["content_type"].startswith("application/x-www-form-urlencoded")
    assert request["idempotency"] == "k1"
    assert dict(request["form"]) == {
        "To": "+46701234567",
        "From": "+15005550006",
        "Body": "Hej å ä ö",
        "StatusCallback": INBOUND_URL + "?event=status",
    }


def test_same_idempotency_key_is_delivered_once(channel, twilio_fake):
    message = OutgoingMessage(to="+46701234567", text="once", idempotency_key="same")
    first = channel.send(message)
    second = channel.send(message)
    assert first.external_id == second.external_id
    assert twilio_fake.delivered_count() == 1
    assert twilio_fake.deliveries_by_key() == {"same": 1}
    assert twilio_fake.attempts_by_key() == {"same": 2}


def test_mms_repeats_media_url_and_buttons_go_into_the_text(channel, twilio_fake):
    channel.send(
        OutgoingMessage(
            to="+46701234567",
            text="Pick one",
            media=(
                OutgoingMedia("a.jpg", "image/jpeg", url="https://files.example/a.jpg?sig=1"),
                OutgoingMedia("b.pdf", "application/pdf", url="https://files.example/b.pdf"),
                OutgoingMedia("c.bin", "application/octet-stream", content=b"x"),  # no URL
            ),
            buttons=("Tuesday", "Friday"),
            idempotency_key="k2",
        )
    )
    form = twilio_fake.requests[0]["form"]
    assert [v for k, v in form if k == "MediaUrl"] == [
        "https://files.example/a.jpg?sig=1",
        "https://files.example/b.pdf",
    ]
    body = dict(form)["Body"]
    assert body.startswith("Pick one") and "Tuesday" in body and "Friday" in body
    [sent] = twilio_fake.sent()
    assert sent["num_media"] == "2"


def test_messaging_service_replaces_the_sender(make_channel, twilio_fake):
    channel = make_channel(messaging_service_sid=twilio_fake.messaging_service_sid)
    channel.send(OutgoingMessage(to="+46701234567", text="x", idempotency_key="k"))
    form = dict(twilio_fake.requests[0]["form"])
    assert form["MessagingServiceSid"] == twilio_fake.messaging_service_sid
    assert "From" not in form


def test_nothing_to_send_is_permanent(channel, twilio_fake):
    with pytest.raises(ChannelError) as exc:
        channel.send(OutgoingMessage(to="+46701234567", text="", idempotency_key="k"))
    assert exc.value.permanent and not exc.value.channel_broken
    assert twilio_fake.requests == []


def test_wrong_auth_token_breaks_the_channel(make_channel, monkeypatch):
    channel = make_channel()
    monkeypatch.setenv("TWILIO_TEST_AUTH_TOKEN", "wrong")
    with pytest.raises(ChannelError) as exc:
        channel.send(OutgoingMessage(to="+46701234567", text="x", idempotency_key="k"))
    assert exc.value.channel_broken and exc.value.permanent
    assert exc.value.code == "20003"


def test_sender_not_ours_breaks_the_channel(make_channel):
    channel = make_channel(from_number="+15550001111")
    with pytest.raises(ChannelError) as exc:
        channel.send(OutgoingMessage(to="+46701234567", text="x", idempotency_key="k"))
    assert exc.value.channel_broken
    assert exc.value.code == "21606"


@pytest.mark.parametrize(
    ("to", "code", "setup"),
    [
        ("+1", "21211", None),
        ("+46700000001", "21610", "unsubscribed"),
        ("+46800000001", "21614", "landlines"),
    ],
)
def test_recipient_errors_are_permanent_for_the_message_only(channel, twilio_fake, to, code, setup):
    if setup:
        getattr(twilio_fake, setup).add(to)
    with pytest.raises(ChannelError) as exc:
        channel.send(OutgoingMessage(to=to, text="x", idempotency_key="k"))
    assert exc.value.permanent and not exc.value.channel_broken and not exc.value.rate_limited
    assert exc.value.code == code
    assert f"Twilio error {code}" in str(exc.value)
    assert twilio_fake.delivered_count() == 0


def test_429_is_rate_limited_with_retry_after(channel, twilio_fake):
    twilio_fake.fail(429, retry_after=7)
    with pytest.raises(ChannelError) as exc:
        channel.send(OutgoingMessage(to="+46701234567", text="x", idempotency_key="k"))
    assert exc.value.rate_limited and not exc.value.permanent
    assert exc.value.retry_after == 7
    # the next try goes through, under the same key, once
    channel.send(OutgoingMessage(to="+46701234567", text="x", idempotency_key="k"))
    assert twilio_fake.deliveries_by_key() == {"k": 1}


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(channel, twilio_fake, status):
    twilio_fake.fail(status)
    with pytest.raises(ChannelError) as exc:
        channel.send(OutgoingMessage(to="+46701234567", text="x", idempotency_key="k"))
    assert not exc.value.permanent and not exc.value.rate_limited


def test_unreachable_is_transient(make_channel):
    channel = make_channel(api_url="http://127.0.0.1:9")
    with pytest.raises(ChannelError) as exc:
        channel.send(OutgoingMessage(to="+46701234567", text="x", idempotency_key="k"))
    assert not exc.value.permanent


def test_missing_secret_is_not_configured(twilio_fake):
    channel = TwilioSmsChannel(settings={**twilio_fake.settings("NO_SUCH_VAR")})
    assert "auth_token" in channel.missing_settings()
    with pytest.raises(ChannelNotConfigured):
        channel.send(OutgoingMessage(to="+46701234567", text="x", idempotency_key="k"))


def test_sender_or_service_is_required(twilio_fake, monkeypatch):
    monkeypatch.setenv("T", "x")
    channel = TwilioSmsChannel(settings={"account_sid": "AC1", "auth_token_env": "T"})
    assert channel.missing_settings() == ["from_number"]


# --- inbound ----------------------------------------------------------------------------------


def test_inbound_sms_fixture(channel, twilio_fake):
    form = fixture_form("inbound_sms")
    result = channel.parse_inbound(signed(twilio_fake, INBOUND_URL, form))
    [message] = result.messages
    assert message.event_id == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    assert message.external_id == message.event_id
    assert message.sender == message.sender_phone == "+46701234567"
    assert message.text == "Hej! Kan jag boka en tid på fredag?"
    assert message.media == ()
    assert message.data["to"] == "+15005550006"
    assert result.statuses == ()
    assert result.response_body == EMPTY_TWIML
    assert result.content_type == "text/xml"


def test_inbound_mms_fixture_and_media_fetch(channel, twilio_fake):
    form = fixture_form("inbound_mms")
    # The fixture's MediaUrl is Twilio's; the same path on the fake serves the picture.
    media_sid = form["MediaUrl0"].rsplit("/", 1)[1]
    picture = b"\xff\xd8\xff\xe0" + b"jpeg" * 1000
    form["MediaUrl0"] = twilio_fake.add_media(
        picture, "image/jpeg", message_sid=form["MessageSid"], media_sid=media_sid
    )
    [message] = channel.parse_inbound(signed(twilio_fake, INBOUND_URL, form)).messages
    assert message.text == "Here is the broken part"
    [media] = message.media
    assert media.content_type == "image/jpeg" and media.ref == form["MediaUrl0"]
    fetched = channel.fetch_media(media)
    assert fetched.content == picture
    assert fetched.content_type == "image/jpeg"


def test_media_fetch_requires_twilio_credentials(channel, twilio_fake, monkeypatch):
    url = twilio_fake.add_media(b"x", "image/png")
    monkeypatch.setenv("TWILIO_TEST_AUTH_TOKEN", "wrong")
    with pytest.raises(ChannelError) as exc:
        channel.fetch_media(InboundMedia(ref=url))
    assert exc.value.channel_broken


def test_media_over_the_limit_is_not_downloaded(channel, twilio_fake, monkeypatch):
    monkeypatch.setattr(TwilioSmsChannel, "max_media_bytes", 1000)
    url = twilio_fake.add_media(b"x" * 5000, "image/png")
    with pytest.raises(ChannelError) as exc:
        channel.fetch_media(InboundMedia(ref=url, content_type="image/png"))
    assert exc.value.permanent


def test_media_ref_must_be_a_url(channel):
    with pytest.raises(ChannelError):
        channel.fetch_media(InboundMedia(ref="file:///etc/passwd"))


def test_fake_posts_a_signed_inbound_sms(channel, twilio_fake, to_channel):
    record = twilio_fake.send_inbound_sms(
        INBOUND_URL, from_="+46709998877", body="Hello", media=[(b"GIF89a", "image/gif")]
    )
    assert record["status"] == 200
    [result] = to_channel
    [message] = result.messages
    assert message.sender == "+46709998877" and message.text == "Hello"
    assert channel.fetch_media(message.media[0]).content == b"GIF89a"


@pytest.mark.parametrize(
    ("name", "status", "permanent", "error_part"),
    [
        ("status_delivered", "delivered", True, ""),
        ("status_undelivered_30003", "failed", True, "30003"),
    ],
)
def test_status_callback_fixtures(channel, twilio_fake, name, status, permanent, error_part):
    form = fixture_form(name)
    url = INBOUND_URL + "?event=status"
    result = channel.parse_inbound(signed(twilio_fake, url, form))
    assert result.messages == ()
    [update] = result.statuses
    assert update.external_id == form["MessageSid"]
    assert update.status == status
    assert update.event_id == f"status:{form['MessageSid']}:{form['MessageStatus']}"
    assert update.permanent is permanent
    assert error_part in update.error
    assert result.response_body == EMPTY_TWIML


def test_status_callback_without_the_query_is_still_a_status(channel, twilio_fake):
    form = fixture_form("status_delivered")
    [update] = channel.parse_inbound(signed(twilio_fake, INBOUND_URL, form)).statuses
    assert update.status == "delivered"


def test_send_then_status_callbacks_from_the_fake(channel, twilio_fake, to_channel):
    sent = channel.send(OutgoingMessage(to="+46701234567", text="x", idempotency_key="k"))
    twilio_fake.set_status(sent.external_id, "queued")
    twilio_fake.advance(sent.external_id)
    twilio_fake.set_status(sent.external_id, "read")
    statuses = [s for r in to_channel for s in r.statuses]
    assert [s.status for s in statuses] == ["sent", "delivered", "read"]
    assert {s.external_id for s in statuses} == {sent.external_id}
    assert len({s.event_id for s in statuses}) == 3


def test_failed_status_with_transient_error_and_suspended_account(channel, twilio_fake, to_channel):
    sent = channel.send(OutgoingMessage(to="+46701234567", text="x", idempotency_key="k"))
    twilio_fake.set_status(sent.external_id, "failed", error_code=30008)
    twilio_fake.set_status(sent.external_id, "failed", error_code=30002)
    first, second = (r.statuses[0] for r in to_channel)
    assert first.status == "failed" and first.permanent is False
    assert second.channel_broken is True


def test_replayed_callback_has_the_same_event_id(channel, twilio_fake):
    form = fixture_form("inbound_sms")
    request = signed(twilio_fake, INBOUND_URL, form)
    assert (
        channel.parse_inbound(request).messages[0].event_id
        == channel.parse_inbound(request).messages[0].event_id
    )


def test_bad_signature_is_rejected(channel, twilio_fake):
    form = fixture_form("inbound_sms")
    with pytest.raises(InboundRejected) as exc:
        channel.parse_inbound(signed(twilio_fake, INBOUND_URL, form, token="not-the-token"))
    assert exc.value.status == 403


def test_missing_signature_is_rejected(channel):
    body = urlencode(fixture_form("inbound_sms")).encode()
    with pytest.raises(InboundRejected):
        channel.parse_inbound(inbound_request(INBOUND_URL, body, {}))


def test_tampered_body_is_rejected(channel, twilio_fake):
    form = fixture_form("inbound_sms")
    request = signed(twilio_fake, INBOUND_URL, form)
    tampered = request.body.replace(b"fredag", b"lordag")
    with pytest.raises(InboundRejected):
        channel.parse_inbound(inbound_request(INBOUND_URL, tampered, dict(request.headers)))


def test_signature_for_another_url_is_rejected(channel, twilio_fake):
    form = fixture_form("inbound_sms")
    request = signed(twilio_fake, "https://slotwise.example/messaging/inbound/twilio/other/", form)
    with pytest.raises(InboundRejected):
        channel.parse_inbound(inbound_request(INBOUND_URL, request.body, dict(request.headers)))


def test_signature_over_the_url_with_default_port_is_accepted(channel, twilio_fake):
    form = fixture_form("inbound_sms")
    with_port = INBOUND_URL.replace("slotwise.example", "slotwise.example:443")
    request = signed(twilio_fake, with_port, form)
    assert channel.parse_inbound(inbound_request(INBOUND_URL, request.body, dict(request.headers)))


def test_another_account_is_rejected(channel, twilio_fake):
    form = {**fixture_form("inbound_sms"), "AccountSid": "AC" + "9" * 32}
    with pytest.raises(InboundRejected):
        channel.parse_inbound(signed(twilio_fake, INBOUND_URL, form))


def test_get_webhook_signed_over_the_url(channel, twilio_fake):
    form = fixture_form("inbound_sms")
    url = INBOUND_URL + "?" + urlencode(form)
    signature = api.compute_signature(url, {}, twilio_fake.auth_token)
    request = inbound_request(url, b"", {"X-Twilio-Signature": signature}, method="GET")
    [message] = channel.parse_inbound(request).messages
    assert message.sender == "+46701234567"


def test_compute_signature_matches_twilios_documented_example():
    # Twilio's "Webhooks security" page: this URL and these parameters under the auth token
    # 12345 give the signature below.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    assert api.compute_signature(url, params, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
