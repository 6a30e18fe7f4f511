"""The Instagram adapter against the local Graph API fake (never a mock of the adapter)."""

from __future__ import annotations

import io
import time

import pytest

from slotwise.messaging.channels.base import (
    ChannelError,
    InboundMedia,
    InboundRejected,
    InboundRequest,
    OutgoingMedia,
    OutgoingMessage,
    TemplateRef,
)
from slotwise.messaging.channels.instagram.channel import InstagramChannel

from .conftest import body, fixture, signed_request

IGSID = "6874123456789012"


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), "green").save(out, "PNG")
    return out.getvalue()


def sent(meta) -> list[dict]:
    return [r["json"] for r in meta.requests if r["path"].endswith("/messages")]


# --- sending ----------------------------------------------------------------------------------


def test_text_goes_to_the_account_with_the_token(meta, instagram):
    result = instagram.send(OutgoingMessage(to=IGSID, text="Hi! Friday 10:00 is free."))
    assert result.external_id in meta.instagram_sent
    request = meta.requests[-1]
    assert request["path"] == f"/v21.0/{meta.ig_user_id}/messages"
    assert request["token"] == meta.access_token
    assert request["json"] == {
        "recipient": {"id": IGSID},
        "message": {"text": "Hi! Friday 10:00 is free."},
    }


def test_without_an_account_id_it_sends_as_me(meta):
    settings = {**meta.instagram_settings(), "ig_user_id": ""}
    InstagramChannel(settings=settings).send(OutgoingMessage(to=IGSID, text="x"))
    assert meta.requests[-1]["path"] == "/v21.0/me/messages"


def test_long_text_is_split_by_bytes(meta, instagram):
    text = "å" * 700  # 1400 bytes
    instagram.send(OutgoingMessage(to=IGSID, text=text))
    parts = [p["message"]["text"] for p in sent(meta)]
    assert len(parts) == 2 and "".join(parts) == text
    assert all(len(p.encode()) <= 1000 for p in parts)


def test_attachments_by_url_then_the_text(meta, instagram):
    result = instagram.send(
        OutgoingMessage(
            to=IGSID,
            text="Here you are",
            media=(
                OutgoingMedia("a.jpg", "image/jpeg", url="https://example.org/a.jpg"),
                OutgoingMedia("b.pdf", "application/pdf", url="https://example.org/b.pdf"),
                OutgoingMedia("c.mp4", "video/mp4", url="https://example.org/c.mp4"),
            ),
        )
    )
    messages = [p["message"] for p in sent(meta)]
    assert messages[0] == {
        "attachment": {"type": "image", "payload": {"url": "https://example.org/a.jpg"}}
    }
    assert [m.get("attachment", {}).get("type") for m in messages] == [
        "image",
        "file",
        "video",
        None,
    ]
    assert meta.instagram_sent[result.external_id]["message"] == {"text": "Here you are"}


def test_media_without_a_link_fails_for_good(meta, instagram):
    with pytest.raises(ChannelError) as error:
        instagram.send(
            OutgoingMessage(to=IGSID, media=(OutgoingMedia("a.png", "image/png", content=png()),))
        )
    assert error.value.permanent and sent(meta) == []


def test_choices_are_quick_replies(meta, instagram):
    instagram.send(OutgoingMessage(to=IGSID, text="Which day?", buttons=("Mon", "Tue")))
    message = sent(meta)[-1]["message"]
    assert message["text"] == "Which day?"
    assert message["quick_replies"] == [
        {"content_type": "text", "title": "Mon", "payload": "Mon"},
        {"content_type": "text", "title": "Tue", "payload": "Tue"},
    ]


def test_long_choices_are_a_numbered_list(meta, instagram):
    instagram.send(
        OutgoingMessage(to=IGSID, text="Pick", buttons=("A very long choice indeed", "B"))
    )
    message = sent(meta)[-1]["message"]
    assert "quick_replies" not in message
    assert message["text"].splitlines()[-2:] == ["1. A very long choice indeed", "2. B"]


def test_a_template_alone_is_refused(meta, instagram):
    with pytest.raises(ChannelError) as error:
        instagram.send(OutgoingMessage(to=IGSID, template=TemplateRef("hello_world", "en_US")))
    assert error.value.permanent and sent(meta) == []


@pytest.mark.parametrize(
    ("kind", "broken", "permanent", "rate_limited"),
    [
        ("auth", True, True, False),
        ("window", False, True, False),  # code 10, subcode 2018278: this person only
        ("rate_limit", False, False, True),
        ("server", False, False, False),
        ("unavailable", False, False, False),
    ],
)
def test_error_mapping(meta, instagram, kind, broken, permanent, rate_limited):
    meta.fail_next(kind)
    with pytest.raises(ChannelError) as error:
        instagram.send(OutgoingMessage(to=IGSID, text="x"))
    assert (error.value.channel_broken, error.value.permanent, error.value.rate_limited) == (
        broken,
        permanent,
        rate_limited,
    )
    assert str(error.value).startswith("Instagram")


# --- inbound ----------------------------------------------------------------------------------


def test_handshake(instagram, meta):
    query = {"hub.mode": "subscribe", "hub.verify_token": meta.verify_token, "hub.challenge": "42"}
    request = InboundRequest(method="GET", body=b"", headers={}, query=query, url="")
    assert instagram.parse_inbound(request).response_body == b"42"
    with pytest.raises(InboundRejected):
        instagram.parse_inbound(
            InboundRequest(
                method="GET",
                body=b"",
                headers={},
                query={**query, "hub.verify_token": "guess"},
                url="",
            )
        )


def test_text_fixture(instagram):
    (message,) = instagram.parse_inbound(signed_request(fixture("text_message.json"))).messages
    assert message.sender == IGSID
    assert message.text == "Hi! Do you have a slot on Friday?"
    assert message.external_id.startswith("aWdf") and len(message.event_id) <= 200
    assert not message.sender_phone
    assert abs(message.occurred_at.timestamp() - time.time()) < 5


def test_image_fixture_and_fetch(instagram, meta):
    content = png()
    url = meta.add_instagram_asset(content, "image/png")
    payload = fixture("image_message.json", url=url)
    (message,) = instagram.parse_inbound(signed_request(payload)).messages
    (media,) = message.media
    assert media.ref == url and message.text == ""
    fetched = instagram.fetch_media(media)
    assert (fetched.content, fetched.content_type) == (content, "image/png")
    assert fetched.filename == "instagram.png"
    # The CDN link is fetched without our token.
    assert meta.requests[-1]["path"] == "/ig_messaging_cdn/"
    assert meta.requests[-1]["token"] == ""


def test_fetch_too_large_or_gone(instagram, meta, monkeypatch):
    monkeypatch.setattr(InstagramChannel, "max_media_bytes", 100)
    url = meta.add_instagram_asset(b"x" * 500, "video/mp4")
    with pytest.raises(ChannelError) as error:
        instagram.fetch_media(InboundMedia(ref=url))
    assert error.value.permanent and error.value.code == "too_large"
    with pytest.raises(ChannelError) as gone:
        instagram.fetch_media(InboundMedia(ref=f"{meta.url}/ig_messaging_cdn/?asset_id=nope"))
    assert gone.value.permanent
    with pytest.raises(ChannelError):
        instagram.fetch_media(InboundMedia(ref="file:///etc/passwd"))


def test_echoes_edits_and_our_own_messages_are_skipped(instagram, meta):
    echo = meta.instagram_text(IGSID, "ours")
    item = echo["entry"][0]["messaging"][0]
    item["message"]["is_echo"] = True
    item["sender"], item["recipient"] = item["recipient"], item["sender"]
    edit = meta.instagram_text(IGSID, "x")
    edit["entry"][0]["messaging"][0].pop("message")
    edit["entry"][0]["messaging"][0]["message_edit"] = {"mid": "m", "text": "y", "num_edit": 1}
    for payload in (echo, edit):
        result = instagram.parse_inbound(signed_request(payload))
        assert not result.messages and not result.statuses


def test_read_and_postback(instagram, meta):
    mid = instagram.send(OutgoingMessage(to=IGSID, text="Book now?")).external_id
    (update,) = instagram.parse_inbound(signed_request(meta.instagram_read(IGSID, mid))).statuses
    assert (update.external_id, update.status) == (mid, "read")
    postback = meta.instagram_text(IGSID, "x")
    item = postback["entry"][0]["messaging"][0]
    item.pop("message")
    item["postback"] = {"mid": "pb-1", "title": "Book a visit", "payload": "BOOK"}
    (message,) = instagram.parse_inbound(signed_request(postback)).messages
    assert (message.text, message.data["button_id"], message.event_id) == (
        "Book a visit",
        "BOOK",
        "pb-1",
    )


def test_quick_reply_answer(instagram, meta):
    payload = meta.instagram_text(IGSID, "Mon")
    payload["entry"][0]["messaging"][0]["message"]["quick_reply"] = {"payload": "Mon"}
    (message,) = instagram.parse_inbound(signed_request(payload)).messages
    assert message.data["button_id"] == "Mon"


def test_bad_signature_and_stale(instagram):
    raw = body(fixture("text_message.json"))
    for request in (
        signed_request(raw, signature=""),
        signed_request(raw, secret="wrong"),
    ):
        with pytest.raises(InboundRejected):
            instagram.parse_inbound(request)
    with pytest.raises(InboundRejected):
        instagram.parse_inbound(
            signed_request(fixture("text_message.json", timestamp=time.time() - 2 * 24 * 3600))
        )


def test_another_account_and_other_objects_are_ignored(instagram):
    payload = fixture("text_message.json")
    payload["entry"][0]["id"] = "1784100000000000"
    assert not instagram.parse_inbound(signed_request(payload)).messages
    payload = fixture("text_message.json")
    payload["object"] = "page"
    assert not instagram.parse_inbound(signed_request(payload)).messages
