"""The Telegram adapter against the local Bot API fake (no mocks of the adapter)."""

from __future__ import annotations

import json
import time

import pytest
from structlog.testing import capture_logs

from slotwise.messaging.channels import channels
from slotwise.messaging.channels.base import (
    ChannelError,
    ChannelNotConfigured,
    InboundMedia,
    InboundRejected,
    OutgoingMedia,
    OutgoingMessage,
)
from slotwise.messaging.channels.telegram.channel import TelegramChannel
from slotwise.messaging.fakes.telegram import DEFAULT_TOKEN, DEFAULT_WEBHOOK_SECRET

from .conftest import fixture, request_for

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


def test_registered():
    assert channels.get_class("telegram") is TelegramChannel
    assert TelegramChannel.medium == "telegram"


# --- send -------------------------------------------------------------------------------------


def test_send_text(channel, telegram_fake):
    result = channel.send(OutgoingMessage(to="1111111", text="Hello!", idempotency_key="k1"))
    assert result.status == "delivered"
    [request] = telegram_fake.requests
    assert request["method"] == "sendMessage"
    assert request["params"] == {"chat_id": "1111111", "text": "Hello!"}
    [sent] = telegram_fake.sent
    assert result.external_id == f"1111111:{sent['message_id']}"


def test_send_buttons_is_a_one_time_reply_keyboard(channel, telegram_fake):
    channel.send(OutgoingMessage(to="1111111", text="Which day?", buttons=("Friday", "Saturday")))
    markup = telegram_fake.requests[0]["params"]["reply_markup"]
    assert markup["keyboard"] == [[{"text": "Friday"}], [{"text": "Saturday"}]]
    assert markup["one_time_keyboard"] is True


def test_long_text_goes_out_in_parts(channel, telegram_fake):
    text = ("word " * 1000).strip() + "\n" + "x" * 10
    channel.send(OutgoingMessage(to="1111111", text=text))
    parts = [r["params"]["text"] for r in telegram_fake.requests]
    assert len(parts) == 2
    assert all(len(p) <= 4096 for p in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )


def test_send_photo_upload_with_caption_and_buttons(channel, telegram_fake):
    media = OutgoingMedia(filename="tap.png", content_type="image/png", content=PNG)
    channel.send(OutgoingMessage(to="1111111", text="Your tap", media=(media,), buttons=("OK",)))
    [request] = telegram_fake.requests
    assert request["method"] == "sendPhoto"
    assert request["params"]["caption"] == "Your tap"
    assert json.loads(request["params"]["reply_markup"])["keyboard"] == [[{"text": "OK"}]]
    assert request["files"]["photo"] == {
        "filename": "tap.png",
        "content_type": "image/png",
        "size": len(PNG),
    }
    [sent] = telegram_fake.sent
    assert telegram_fake.file_content(sent["photo"][-1]["file_id"]) == PNG


def test_send_document_upload(channel, telegram_fake):
    pdf = b"%PDF-1.4 hello"
    media = OutgoingMedia(filename="act.pdf", content_type="application/pdf", content=pdf)
    channel.send(OutgoingMessage(to="1111111", media=(media,)))
    [request] = telegram_fake.requests
    assert request["method"] == "sendDocument"
    assert "caption" not in request["params"]
    [sent] = telegram_fake.sent
    assert sent["document"]["file_name"] == "act.pdf"
    assert telegram_fake.file_content(sent["document"]["file_id"]) == pdf


def test_send_document_by_url_and_long_text_first(channel, telegram_fake):
    url = "https://slotwise.example/media/signed/act.pdf?sig=abc"
    media = OutgoingMedia(filename="act.pdf", content_type="application/pdf", url=url)
    channel.send(OutgoingMessage(to="1111111", text="t" * 1500, media=(media,), buttons=("Yes",)))
    first, second = telegram_fake.requests
    assert first["method"] == "sendMessage" and "reply_markup" not in first["params"]
    assert second["method"] == "sendDocument"
    assert second["params"]["document"] == url
    assert "reply_markup" in second["params"]


def test_media_without_content_or_link_is_permanent(channel):
    media = OutgoingMedia(filename="x.pdf", content_type="application/pdf")
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to="1111111", media=(media,)))
    assert err.value.permanent


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "description", "expect"),
    [
        (401, "Unauthorized", {"channel_broken": True, "permanent": True}),
        (404, "Not Found", {"channel_broken": True, "permanent": True}),
        (
            403,
            "Forbidden: bot was blocked by the user",
            {"channel_broken": False, "permanent": True},
        ),
        (400, "Bad Request: chat not found", {"channel_broken": False, "permanent": True}),
        (500, "Internal Server Error", {"channel_broken": False, "permanent": False}),
    ],
)
def test_error_mapping(channel, telegram_fake, code, description, expect):
    telegram_fake.fail_next(code, description)
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to="1111111", text="Hi"))
    assert err.value.channel_broken is expect["channel_broken"]
    assert err.value.permanent is expect["permanent"]
    assert err.value.rate_limited is False
    assert err.value.code == str(code)


def test_rate_limited_with_retry_after(channel, telegram_fake):
    telegram_fake.fail_next(429, retry_after=17)
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to="1111111", text="Hi"))
    assert err.value.rate_limited and not err.value.permanent
    assert err.value.retry_after == 17


def test_wrong_token_breaks_the_channel(channel, telegram_fake, monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "999:AAwrongwrongwrong")
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to="1111111", text="Hi"))
    assert err.value.channel_broken


def test_blocked_user_is_permanent_not_broken(channel, telegram_fake):
    telegram_fake.blocked.add("1111111")
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to="1111111", text="Hi"))
    assert err.value.permanent and not err.value.channel_broken


def test_gateway_page_and_network_errors_are_transient(channel, telegram_fake):
    telegram_fake.fail_http(502)
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to="1111111", text="Hi"))
    assert not err.value.permanent
    telegram_fake.stop()
    with pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to="1111111", text="Hi"))
    assert not err.value.permanent and err.value.code == "network"


def test_missing_token_variable(telegram_fake, monkeypatch):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    channel = TelegramChannel(settings=telegram_fake.settings())
    with pytest.raises(ChannelNotConfigured):
        channel.send(OutgoingMessage(to="1", text="Hi"))
    assert "bot_token" in channel.missing_settings()


def test_the_token_is_never_logged_nor_in_errors(channel, telegram_fake):
    telegram_fake.fail_next(400, "Bad Request: chat not found")
    with capture_logs() as logs, pytest.raises(ChannelError) as err:
        channel.send(OutgoingMessage(to="1111111", text="Hi"))
    assert DEFAULT_TOKEN not in str(err.value)
    http_lines = [entry for entry in logs if entry["event"] == "outbound_http"]
    assert http_lines and all(DEFAULT_TOKEN not in str(entry) for entry in logs)
    assert "/bot***/sendMessage" in http_lines[0]["url"]


# --- webhook registration ---------------------------------------------------------------------


def test_configure_webhook(channel, telegram_fake):
    channel.configure_webhook("https://slotwise.example/messaging/inbound/telegram/abc/")
    assert telegram_fake.webhook == {
        "url": "https://slotwise.example/messaging/inbound/telegram/abc/",
        "secret_token": DEFAULT_WEBHOOK_SECRET,
        "allowed_updates": ["message", "edited_message", "callback_query"],
    }


def test_configure_webhook_refuses_a_secret_telegram_would_refuse(channel, monkeypatch):
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "has spaces!")
    with pytest.raises(ChannelError) as err:
        channel.configure_webhook("https://slotwise.example/x/")
    assert err.value.permanent


def test_deep_link(channel):
    assert (
        channel.deep_link("link-5d1b3f9a") == "https://t.me/slotwise_fake_bot?start=link-5d1b3f9a"
    )
    with pytest.raises(ValueError):
        channel.deep_link("not allowed/chars")


# --- inbound ----------------------------------------------------------------------------------


def test_text_message(channel):
    result = channel.parse_inbound(request_for(fixture("message_text")))
    [msg] = result.messages
    assert msg.event_id == "update:10000"
    assert msg.sender == "1111111"
    assert msg.sender_name == "Test Lastname"
    assert msg.text == "Hello, can I book a haircut on Friday?"
    assert msg.external_id == "1111111:1365"
    assert msg.occurred_at is not None
    assert result.response_status == 200


def test_photo_with_caption_takes_the_largest_size(channel):
    [msg] = channel.parse_inbound(request_for(fixture("photo_caption"))).messages
    assert msg.text == "This is the broken tap"
    [media] = msg.media
    assert media.ref == "AgACAgIAAxkBAAIBZmZ0_large_1280"
    assert media.content_type == "image/jpeg"
    assert media.size == 117235


def test_document(channel):
    [msg] = channel.parse_inbound(request_for(fixture("document"))).messages
    [media] = msg.media
    assert (media.filename, media.content_type, media.size) == (
        "insurance-letter.pdf",
        "application/pdf",
        48213,
    )
    assert msg.text == "The letter from my insurer"


def test_own_contact_fills_the_phone(channel):
    [msg] = channel.parse_inbound(request_for(fixture("contact"))).messages
    assert msg.sender_phone == "+46701234567"
    assert msg.data["contact"]["own"] is True


def test_someone_elses_contact_is_only_data(channel):
    update = fixture("contact")
    update["message"]["contact"]["user_id"] = 2222222
    [msg] = channel.parse_inbound(request_for(update)).messages
    assert msg.sender_phone == ""
    assert msg.data["contact"] == {"phone": "+46701234567", "name": "Test Lastname", "own": False}


def test_callback_query_is_the_data_and_answers_the_query(channel):
    result = channel.parse_inbound(request_for(fixture("callback_query")))
    [msg] = result.messages
    assert (msg.event_id, msg.sender, msg.text) == ("update:10004", "1111111", "friday")
    assert json.loads(result.response_body) == {
        "method": "answerCallbackQuery",
        "callback_query_id": "4382bfdwdsb323b2d9",
    }
    assert result.content_type == "application/json"


def test_callback_query_on_an_old_message_is_not_stale(channel):
    update = fixture("callback_query")
    update["callback_query"]["message"]["date"] = 1441645570
    assert channel.parse_inbound(request_for(update)).messages


def test_start_parameter(channel):
    [msg] = channel.parse_inbound(request_for(fixture("start_param"))).messages
    assert msg.text == "/start link-5d1b3f9a"
    assert msg.data["start"] == "link-5d1b3f9a"


def test_edited_message_is_a_new_message_marked_edited(channel):
    update = fixture("message_text")
    edited = update.pop("message")
    edited["date"] = int(time.time()) - 30 * 3600
    edited["edit_date"] = int(time.time())
    edited["text"] = "Saturday, not Friday"
    update["edited_message"] = edited
    update["update_id"] = 10010
    [msg] = channel.parse_inbound(request_for(update)).messages
    assert msg.text == "Saturday, not Friday"
    assert msg.data["edited"] is True and msg.event_id == "update:10010"


def test_groups_and_other_updates_are_ignored(channel):
    update = fixture("message_text")
    update["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Team"}
    assert channel.parse_inbound(request_for(update)).messages == ()
    other = {"update_id": 10020, "my_chat_member": {"chat": {"id": 1, "type": "private"}}}
    result = channel.parse_inbound(request_for(other))
    assert result.messages == () and result.response_status == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-telegram-bot-api-secret-token": "wrong"},
        {"x-telegram-bot-api-secret-token": DEFAULT_WEBHOOK_SECRET + "x"},
    ],
)
def test_bad_secret_is_rejected(channel, headers):
    with pytest.raises(InboundRejected) as err:
        channel.parse_inbound(request_for(fixture("message_text"), headers))
    assert err.value.status == 403


def test_stale_update_is_rejected(channel):
    update = fixture("message_text", date=int(time.time()) - 24 * 3600 - 60)
    with pytest.raises(InboundRejected):
        channel.parse_inbound(request_for(update))


def test_max_age_setting(telegram_fake, telegram_env):
    channel = TelegramChannel(settings={**telegram_fake.settings(), "max_event_age_seconds": "60"})
    update = fixture("message_text", date=int(time.time()) - 120)
    with pytest.raises(InboundRejected):
        channel.parse_inbound(request_for(update))


def test_malformed_body(channel):
    with pytest.raises(InboundRejected) as err:
        channel.parse_inbound(request_for(b"{not json"))
    assert err.value.status == 400


def test_a_replay_has_the_same_event_id(channel):
    update = fixture("message_text")
    first = channel.parse_inbound(request_for(update)).messages[0]
    again = channel.parse_inbound(request_for(update)).messages[0]
    assert first.event_id == again.event_id


def test_missing_webhook_secret_variable_rejects(telegram_fake, monkeypatch):
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
    channel = TelegramChannel(settings=telegram_fake.settings())
    with pytest.raises(InboundRejected) as err:
        channel.parse_inbound(request_for(fixture("message_text")))
    assert err.value.status == 503


# --- the fake as the user, through the adapter ------------------------------------------------


@pytest.fixture
def inbox(telegram_fake, channel):
    """The fake posts updates straight into the adapter; what it parsed is collected."""
    parsed = []

    def deliver(url, body, headers):
        try:
            parsed.append(channel.parse_inbound(request_for(body, headers)))
        except InboundRejected as exc:
            return exc.status
        return 200

    telegram_fake.deliver = deliver
    channel.configure_webhook("https://slotwise.example/messaging/inbound/telegram/abc/")
    return parsed


def test_fake_user_photo_round_trip(telegram_fake, channel, inbox):
    photo = b"\xff\xd8\xff\xe0" + b"j" * 5000
    assert telegram_fake.user_sends_photo(4242, photo, caption="Look") == 200
    [msg] = inbox[0].messages
    assert msg.sender == "4242" and msg.text == "Look"
    fetched = channel.fetch_media(msg.media[0])
    assert fetched.content == photo
    assert fetched.content_type == "image/jpeg"


def test_fake_user_document_round_trip(telegram_fake, channel, inbox):
    pdf = b"%PDF-1.7 " + b"p" * 300
    telegram_fake.user_sends_document(4242, pdf, file_name="plan.pdf", mime_type="application/pdf")
    [media] = inbox[0].messages[0].media
    fetched = channel.fetch_media(media)
    assert (fetched.content, fetched.content_type, fetched.filename) == (
        pdf,
        "application/pdf",
        "plan.pdf",
    )


def test_fake_user_start_contact_and_press(telegram_fake, channel, inbox):
    telegram_fake.user_starts(4242, "abc123", first_name="Olga")
    telegram_fake.user_shares_contact(4242, "+31612345678")
    telegram_fake.user_presses(4242, "yes")
    start, contact, press = (r.messages[0] for r in inbox)
    assert start.data["start"] == "abc123" and start.sender_name == "Olga"
    assert contact.sender_phone == "+31612345678"
    assert press.text == "yes"
    assert len({start.event_id, contact.event_id, press.event_id}) == 3


def test_fake_posts_with_the_registered_secret_only(telegram_fake, channel, inbox, monkeypatch):
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "rotated-secret")
    assert telegram_fake.user_says(4242, "hi") == 403
    assert inbox == []


def test_oversized_media_is_refused_before_download(channel, telegram_fake):
    media = InboundMedia(ref="whatever", filename="big.mp4", size=21 * 1024 * 1024)
    with pytest.raises(ChannelError) as err:
        channel.fetch_media(media)
    assert err.value.permanent and err.value.code == "too_large"
    assert telegram_fake.requests == []


def test_oversized_media_without_a_declared_size(telegram_fake, telegram_env):
    channel = TelegramChannel(settings=telegram_fake.settings())
    channel.max_media_bytes = 1000
    info = telegram_fake.add_file(b"z" * 5000, mime_type="video/mp4", file_name="v.mp4")
    with pytest.raises(ChannelError) as err:
        channel.fetch_media(InboundMedia(ref=info["file_id"]))
    assert err.value.code == "too_large"


def test_unknown_file_id_is_permanent(channel):
    with pytest.raises(ChannelError) as err:
        channel.fetch_media(InboundMedia(ref="nope"))
    assert err.value.permanent and not err.value.channel_broken
