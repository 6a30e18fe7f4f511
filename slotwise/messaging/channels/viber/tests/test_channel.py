"""The Viber adapter against the local REST bot API fake (no mocks of the adapter)."""

from __future__ import annotations

import json
import time

import pytest

from slotwise.messaging.channels import channels
from slotwise.messaging.channels.base import (
    ChannelError,
    InboundMedia,
    InboundRejected,
    OutgoingMedia,
    OutgoingMessage,
)
from slotwise.messaging.channels.viber.channel import ViberChannel

from .conftest import USER, fixture, request_for, signed

JPEG = b"\xff\xd8\xff\xe0" + b"j" * 3000


def test_registered():
    assert channels.get_class("viber") is ViberChannel
    assert ViberChannel.medium == "viber"


# --- send -------------------------------------------------------------------------------------


def test_send_text(channel, ready):
    result = channel.send(OutgoingMessage(to=USER, text="Hello!", message_id="m-1"))
    [request] = ready.requests
    assert request["method"] == "send_message" and request["token_ok"]
    assert request["params"] == {
        "receiver": USER,
        "sender": {"name": "Slotwise"},
        "tracking_data": "m-1",
        "type": "text",
        "text": "Hello!",
    }
    [sent] = ready.sent
    assert result.external_id == str(sent["message_token"])
    assert result.status == "sent"


def test_send_buttons_is_a_reply_keyboard(channel, ready):
    channel.send(OutgoingMessage(to=USER, text="Which day?", buttons=("Friday", "Saturday")))
    keyboard = ready.requests[0]["params"]["keyboard"]
    assert keyboard["Type"] == "keyboard"
    assert [(b["ActionType"], b["ActionBody"], b["Text"]) for b in keyboard["Buttons"]] == [
        ("reply", "Friday", "Friday"),
        ("reply", "Saturday", "Saturday"),
    ]


def test_sender_avatar(viber_fake, viber_env, ready):
    settings = {**viber_fake.settings(), "sender_avatar": "https://slotwise.example/a.png"}
    ViberChannel(settings=settings).send(OutgoingMessage(to=USER, text="Hi"))
    assert ready.requests[0]["params"]["sender"] == {
        "name": "Slotwise",
        "avatar": "https://slotwise.example/a.png",
    }


def test_send_picture_with_its_caption(channel, ready):
    media = OutgoingMedia(
        filename="tap.jpg",
        content_type="image/jpeg",
        url="https://slotwise.example/m/tap.jpg?sig=1",
        content=JPEG,
    )
    channel.send(OutgoingMessage(to=USER, text="Your tap", media=(media,), buttons=("OK",)))
    [request] = ready.requests
    params = request["params"]
    assert params["type"] == "picture"
    assert params["text"] == "Your tap"
    assert params["media"] == "https://slotwise.example/m/tap.jpg?sig=1"
    assert params["keyboard"]["Buttons"][0]["ActionBody"] == "OK"


def test_send_file_asks_our_link_for_its_size(channel, ready):
    pdf = b"%PDF-1.4 " + b"p" * 1234
    link = ready.add_media(pdf, mime_type="application/pdf", file_name="act.pdf")
    media = OutgoingMedia(filename="act.pdf", content_type="application/pdf", url=link)
    channel.send(OutgoingMessage(to=USER, text="The act", media=(media,)))
    text, file = (r["params"] for r in ready.requests)
    assert (text["type"], text["text"]) == ("text", "The act")
    assert file["type"] == "file"
    assert (file["media"], file["size"], file["file_name"]) == (link, len(pdf), "act.pdf")


def test_large_picture_goes_as_a_file(channel, ready):
    big = b"\xff\xd8" + b"x" * (1024 * 1024 + 1)
    media = OutgoingMedia(
        filename="big.jpg", content_type="image/jpeg", url="https://s.example/b.jpg", content=big
    )
    channel.send(OutgoingMessage(to=USER, media=(media,)))
    assert ready.requests[0]["params"]["type"] == "file"


def test_media_needs_a_link(channel, ready):
    media = OutgoingMedia(filename="x.pdf", content_type="application/pdf", content=b"x")
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to=USER, media=(media,)))
    assert err.value.permanent
    assert ready.requests == []


def test_long_text_goes_out_in_parts(channel, ready):
    channel.send(OutgoingMessage(to=USER, text="word " * 3000))
    assert len(ready.requests) == 3
    assert all(len(r["params"]["text"]) <= 7000 for r in ready.requests)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "broken", "permanent", "rate_limited"),
    [
        (2, True, True, False),  # invalidAuthToken
        (7, True, True, False),  # publicAccountBlocked
        (10, True, True, False),  # webhookNotSet
        (1, False, True, False),  # invalidUrl
        (3, False, True, False),  # badData
        (5, False, True, False),  # receiverNotRegistered
        (6, False, True, False),  # receiverNotSubscribed
        (11, False, True, False),  # receiverNoSuitableDevice
        (12, False, False, True),  # tooManyRequests
        (99, False, False, False),  # a general error: retried
    ],
)
def test_status_mapping(channel, ready, status, broken, permanent, rate_limited):
    ready.fail_next(status)
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to=USER, text="Hi"))
    assert err.value.channel_broken is broken
    assert err.value.permanent is permanent
    assert err.value.rate_limited is rate_limited


def test_wrong_token_breaks_the_channel(channel, ready, monkeypatch):
    monkeypatch.setenv("VIBER_AUTH_TOKEN", "not-the-token")
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to=USER, text="Hi"))
    assert err.value.channel_broken and err.value.code == "invalidAuthToken"


def test_not_subscribed_is_permanent(channel, ready):
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to="someone-else=", text="Hi"))
    assert err.value.permanent and not err.value.channel_broken
    assert err.value.code == "receiverNotSubscribed"


def test_no_webhook_breaks_the_channel(channel, viber_fake):
    viber_fake.subscribed.add(USER)
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to=USER, text="Hi"))
    assert err.value.channel_broken and err.value.code == "webhookNotSet"


def test_http_errors_and_network(channel, ready):
    ready.fail_http(503)
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to=USER, text="Hi"))
    assert not err.value.permanent
    ready.stop()
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to=USER, text="Hi"))
    assert not err.value.permanent and err.value.code == "network"


# --- webhook registration ---------------------------------------------------------------------


def test_configure_webhook_passes_viber_handshake(channel, viber_fake):
    answered = []

    def deliver(url, body, headers):
        result = channel.parse_inbound(request_for(body, headers))
        answered.append(result)
        return result.response_status

    viber_fake.deliver = deliver
    channel.configure_webhook("https://slotwise.example/messaging/inbound/viber/abc/")
    assert viber_fake.webhook["url"] == "https://slotwise.example/messaging/inbound/viber/abc/"
    assert set(viber_fake.webhook["event_types"]) == {
        "delivered",
        "seen",
        "failed",
        "subscribed",
        "unsubscribed",
        "conversation_started",
    }
    [handshake] = answered
    assert handshake.messages == () and handshake.statuses == ()


def test_configure_webhook_fails_when_our_end_refuses(channel, viber_fake):
    viber_fake.deliver = lambda url, body, headers: 403
    with pytest.raises(ChannelError) as err:
        channel.configure_webhook("https://slotwise.example/messaging/inbound/viber/abc/")
    assert err.value.permanent and not err.value.channel_broken
    assert viber_fake.webhook is None


def test_deep_link(channel):
    assert channel.deep_link("link-5d1b3f9a") == (
        "viber://pa?chatURI=slotwisefake&context=link-5d1b3f9a"
    )
    assert channel.deep_link("a b&c").endswith("context=a%20b%26c")


# --- inbound ----------------------------------------------------------------------------------


def test_handshake(channel):
    result = channel.parse_inbound(request_for(fixture("webhook")))
    assert (result.messages, result.statuses, result.response_status) == ((), (), 200)


def test_conversation_started_carries_the_context(channel):
    result = channel.parse_inbound(request_for(fixture("conversation_started")))
    [msg] = result.messages
    assert msg.event_id == "conversation_started:4912661846655238145"
    assert (msg.sender, msg.sender_name, msg.text, msg.kind) == (
        USER,
        "John McClane",
        "",
        "text",
    )
    assert msg.data == {
        "event": "conversation_started",
        "context": "link-5d1b3f9a",
        "subscribed": False,
    }
    assert result.response_body == b""


def test_conversation_started_answers_the_welcome_message(viber_fake, viber_env):
    channel = ViberChannel(settings={**viber_fake.settings(), "welcome_text": "Hi! Write to us."})
    result = channel.parse_inbound(request_for(fixture("conversation_started")))
    assert json.loads(result.response_body) == {
        "sender": {"name": "Slotwise"},
        "type": "text",
        "text": "Hi! Write to us.",
    }
    assert result.content_type == "application/json"


def test_text_message(channel):
    [msg] = channel.parse_inbound(request_for(fixture("message_text"))).messages
    assert msg.event_id == "message:4912661846655238146"
    assert msg.external_id == "4912661846655238146"
    assert (msg.sender, msg.text) == (USER, "Can I book a haircut on Friday?")
    assert msg.data == {"tracking_data": "tracking data"}
    assert msg.occurred_at is not None


def test_picture(channel):
    [msg] = channel.parse_inbound(request_for(fixture("message_picture"))).messages
    assert msg.text == "This is the broken tap"
    [media] = msg.media
    assert media.ref.startswith("https://dl-media.viber.com/")
    assert (media.content_type, media.filename, media.size) == ("image/jpeg", "tap.jpg", 81235)


def test_picture_without_name_or_size(channel):
    event = fixture("message_picture")
    del event["message"]["file_name"], event["message"]["size"]
    [media] = channel.parse_inbound(request_for(event)).messages[0].media
    assert media.content_type == "image/jpeg" and media.size is None
    assert media.filename.endswith(".jpg")


def test_file(channel):
    [msg] = channel.parse_inbound(request_for(fixture("message_file"))).messages
    [media] = msg.media
    assert (media.content_type, media.filename, media.size) == (
        "application/pdf",
        "insurance-letter.pdf",
        48213,
    )


def test_contact_fills_the_phone(channel):
    [msg] = channel.parse_inbound(request_for(fixture("message_contact"))).messages
    assert msg.sender_phone == "+972511123123"
    assert msg.data["contact"] == {"phone": "+972511123123", "name": "John McClane"}


def test_delivered_seen_failed(channel):
    delivered, seen, failed = (
        channel.parse_inbound(request_for(fixture(name))).statuses[0]
        for name in ("delivered", "seen", "failed")
    )
    assert (delivered.status, seen.status, failed.status) == ("delivered", "read", "failed")
    assert delivered.external_id == seen.external_id == "4912661846655238145"
    assert len({delivered.event_id, seen.event_id, failed.event_id}) == 3
    assert delivered.event_id == "delivered:4912661846655238145:01234567890A="
    assert failed.error == "failure description" and failed.permanent


def test_subscribed_and_unsubscribed(channel):
    [sub] = channel.parse_inbound(request_for(fixture("subscribed"))).messages
    [unsub] = channel.parse_inbound(request_for(fixture("unsubscribed"))).messages
    assert (sub.sender, sub.data["event"], sub.text) == (USER, "subscribed", "")
    assert (unsub.sender, unsub.data["event"]) == (USER, "unsubscribed")
    assert unsub.event_id == "unsubscribed:4912661846655238151"


def test_unknown_events_are_ignored(channel):
    result = channel.parse_inbound(request_for(fixture("webhook", event="client_status")))
    assert result.messages == () and result.statuses == ()


@pytest.mark.parametrize("signature", ["", "00" * 32, "nothex"])
def test_bad_signature_is_rejected(channel, signature):
    body, _ = signed(fixture("message_text"))
    headers = {"X-Viber-Content-Signature": signature} if signature else {}
    with pytest.raises(InboundRejected) as err:
        channel.parse_inbound(request_for(body, headers))
    assert err.value.status == 403


def test_signature_under_another_token_is_rejected(channel):
    body, headers = signed(fixture("message_text"), token="someone-elses-token")
    with pytest.raises(InboundRejected):
        channel.parse_inbound(request_for(body, headers))


def test_a_changed_body_is_rejected(channel):
    body, headers = signed(fixture("message_text"))
    with pytest.raises(InboundRejected):
        channel.parse_inbound(request_for(body.replace(b"Friday", b"Monday"), headers))


def test_stale_event_is_rejected(channel):
    old = int((time.time() - 24 * 3600 - 60) * 1000)
    with pytest.raises(InboundRejected):
        channel.parse_inbound(request_for(fixture("message_text", timestamp=old)))


def test_malformed_body(channel):
    with pytest.raises(InboundRejected) as err:
        channel.parse_inbound(request_for(*signed(b"{oops")))
    assert err.value.status == 400


def test_a_replay_has_the_same_event_id(channel):
    event = fixture("message_text")
    assert (
        channel.parse_inbound(request_for(event)).messages[0].event_id
        == channel.parse_inbound(request_for(event)).messages[0].event_id
    )


# --- the fake as the user, through the adapter ------------------------------------------------


@pytest.fixture
def inbox(viber_fake, channel):
    parsed = []

    def deliver(url, body, headers):
        try:
            parsed.append(channel.parse_inbound(request_for(body, headers)))
        except InboundRejected as exc:
            return exc.status
        return 200

    viber_fake.deliver = deliver
    channel.configure_webhook("https://slotwise.example/messaging/inbound/viber/abc/")
    parsed.clear()  # the handshake
    return parsed


def test_fake_user_picture_round_trip(viber_fake, channel, inbox):
    assert viber_fake.user_sends_picture("u1=", JPEG, caption="Look") == 200
    [msg] = inbox[0].messages
    assert msg.sender == "u1=" and msg.text == "Look"
    fetched = channel.fetch_media(msg.media[0])
    assert fetched.content == JPEG and fetched.content_type == "image/jpeg"


def test_fake_user_file_round_trip(viber_fake, channel, inbox):
    pdf = b"%PDF-1.7 " + b"p" * 300
    viber_fake.user_sends_file("u1=", pdf, file_name="plan.pdf", mime_type="application/pdf")
    fetched = channel.fetch_media(inbox[0].messages[0].media[0])
    assert (fetched.content, fetched.content_type, fetched.filename) == (
        pdf,
        "application/pdf",
        "plan.pdf",
    )


def test_fake_deep_link_then_message_then_reply_with_receipts(viber_fake, channel, inbox):
    viber_fake.auto_receipts = True
    viber_fake.conversation_started("u2=", context="link-abc", name="Olga")
    # not subscribed yet: Viber allows nothing but the welcome message
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to="u2=", text="Welcome!"))
    assert err.value.code == "receiverNotSubscribed"
    viber_fake.user_says("u2=", "Hello", name="Olga")
    result = channel.send(OutgoingMessage(to="u2=", text="Welcome!"))
    deadline = time.time() + 5
    while len(inbox) < 4 and time.time() < deadline:
        time.sleep(0.05)
    started, hello, delivered, seen = inbox
    assert started.messages[0].data["context"] == "link-abc"
    assert hello.messages[0].text == "Hello" and hello.messages[0].sender_name == "Olga"
    assert [s.statuses[0].status for s in (delivered, seen)] == ["delivered", "read"]
    assert {s.statuses[0].external_id for s in (delivered, seen)} == {result.external_id}


def test_fake_contact_and_unsubscribe(viber_fake, channel, inbox):
    viber_fake.user_shares_contact("u3=", "+46 70 123 45 67")
    viber_fake.user_unsubscribes("u3=")
    contact, gone = inbox
    assert contact.messages[0].sender_phone == "+46701234567"
    assert gone.messages[0].data == {"event": "unsubscribed"}


def test_fake_signs_with_the_token_only(viber_fake, channel, inbox, monkeypatch):
    monkeypatch.setenv("VIBER_AUTH_TOKEN", "rotated")
    assert viber_fake.user_says("u1=", "hi") == 403
    assert inbox == []


def test_oversized_media_is_refused_before_download(channel, viber_fake):
    media = InboundMedia(ref=f"{viber_fake.api_url}/media/x/big.mp4", size=17 * 1024 * 1024)
    with pytest.raises(ChannelError) as err:
        channel.fetch_media(media)
    assert err.value.permanent and err.value.code == "too_large"


def test_oversized_media_without_a_declared_size(viber_fake, viber_env):
    channel = ViberChannel(settings=viber_fake.settings())
    channel.max_media_bytes = 1000
    url = viber_fake.add_media(b"z" * 5000, mime_type="video/mp4", file_name="v.mp4")
    with pytest.raises(ChannelError) as err:
        channel.fetch_media(InboundMedia(ref=url))
    assert err.value.code == "too_large"


def test_expired_media_link_is_permanent(channel, viber_fake):
    with pytest.raises(ChannelError) as err:
        channel.fetch_media(InboundMedia(ref=f"{viber_fake.api_url}/media/gone/x.jpg"))
    assert err.value.permanent and not err.value.channel_broken
