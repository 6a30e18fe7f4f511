"""The WhatsApp adapter against the local Graph API fake (never a mock of the adapter)."""

from __future__ import annotations

import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

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
from slotwise.messaging.channels.whatsapp.channel import WhatsAppChannel
from slotwise.messaging.fakes.meta import MetaFake

from .conftest import body, fixture, signed_request

TO = "+46 70 123 45 67"
WA_ID = "46701234567"


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, "PNG")
    return out.getvalue()


def sent(meta: MetaFake) -> list[dict]:
    return [r["json"] for r in meta.requests if r["path"].endswith("/messages")]


# --- sending ----------------------------------------------------------------------------------


def test_text_is_sent_with_the_bearer_token(meta, whatsapp):
    result = whatsapp.send(OutgoingMessage(to=TO, text="Hej Anna!", idempotency_key="k1"))
    assert result.external_id.startswith("wamid.") and result.status == "sent"
    request = meta.requests[-1]
    assert request["path"] == f"/v21.0/{meta.phone_number_id}/messages"
    assert request["token"] == meta.access_token
    assert request["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "type": "text",
        "text": {"body": "Hej Anna!", "preview_url": False},
    }
    assert meta.whatsapp_sent[result.external_id]["to"] == WA_ID


def test_long_text_is_split(meta, whatsapp):
    text = ("word " * 1000).strip()  # 4999 characters
    whatsapp.send(OutgoingMessage(to=TO, text=text))
    bodies = [p["text"]["body"] for p in sent(meta)]
    assert len(bodies) == 2 and all(len(b) <= 4096 for b in bodies)
    assert " ".join(bodies) == text


def test_template_with_body_parameters(meta, whatsapp):
    meta.templates = {"appointment_reminder": {"sv": 2}}
    template = TemplateRef(name="appointment_reminder", language="sv", params=("Anna", "14:00"))
    result = whatsapp.send(OutgoingMessage(to=TO, text="ignored", template=template))
    assert result.external_id in meta.whatsapp_sent
    assert sent(meta)[-1]["type"] == "template"
    assert sent(meta)[-1]["template"] == {
        "name": "appointment_reminder",
        "language": {"code": "sv"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Anna"}, {"type": "text", "text": "14:00"}],
            }
        ],
    }
    # A template Meta doesn't know (or with the wrong parameters) fails for good.
    with pytest.raises(ChannelError) as wrong:
        whatsapp.send(OutgoingMessage(to=TO, template=TemplateRef("appointment_reminder", "sv")))
    assert wrong.value.permanent and not wrong.value.channel_broken
    assert wrong.value.code == "132000"


def test_template_without_parameters_has_no_components(meta, whatsapp):
    whatsapp.send(OutgoingMessage(to=TO, template=TemplateRef("hello_world", "en_US")))
    assert sent(meta)[-1]["template"] == {"name": "hello_world", "language": {"code": "en_US"}}


def test_media_by_link_with_the_text_as_caption(meta, whatsapp):
    message = OutgoingMessage(
        to=TO,
        text="Your receipt and a photo",
        media=(
            OutgoingMedia("photo.jpg", "image/jpeg", url="https://example.org/m/1?t=x"),
            OutgoingMedia("receipt.pdf", "application/pdf", url="https://example.org/m/2?t=y"),
            OutgoingMedia("note.ogg", "audio/ogg; codecs=opus", url="https://example.org/m/3"),
            OutgoingMedia("clip.mp4", "video/mp4", url="https://example.org/m/4"),
        ),
    )
    result = whatsapp.send(message)
    payloads = sent(meta)
    assert [p["type"] for p in payloads] == ["image", "document", "audio", "video"]
    assert payloads[0]["image"] == {
        "link": "https://example.org/m/1?t=x",
        "caption": "Your receipt and a photo",
    }
    assert payloads[1]["document"] == {
        "link": "https://example.org/m/2?t=y",
        "filename": "receipt.pdf",
    }
    assert payloads[2]["audio"] == {"link": "https://example.org/m/3"}
    # The message's id is the part that carries the text.
    assert meta.whatsapp_sent[result.external_id]["payload"]["type"] == "image"


def test_audio_only_gets_the_text_separately(meta, whatsapp):
    whatsapp.send(
        OutgoingMessage(
            to=TO,
            text="Listen",
            media=(OutgoingMedia("a.mp3", "audio/mpeg", url="https://example.org/a.mp3"),),
        )
    )
    assert [p["type"] for p in sent(meta)] == ["audio", "text"]


def test_media_without_a_link_is_uploaded_first(meta, whatsapp):
    content = png()
    whatsapp.send(
        OutgoingMessage(to=TO, media=(OutgoingMedia("p.png", "image/png", content=content),))
    )
    upload = next(r for r in meta.requests if r["path"].endswith("/media"))
    assert upload["form"]["messaging_product"] == "whatsapp"
    media_id = sent(meta)[-1]["image"]["id"]
    assert meta.media[media_id]["content"] == content


def test_up_to_three_choices_are_reply_buttons(meta, whatsapp):
    whatsapp.send(
        OutgoingMessage(to=TO, text="Which day suits you?", buttons=("Mon", "Tue", "Wed"))
    )
    interactive = sent(meta)[-1]["interactive"]
    assert interactive["type"] == "button"
    assert interactive["body"] == {"text": "Which day suits you?"}
    assert [b["reply"]["title"] for b in interactive["action"]["buttons"]] == ["Mon", "Tue", "Wed"]


@pytest.mark.parametrize(
    "buttons",
    [("A", "B", "C", "D"), ("A choice far too long for a button", "B")],
)
def test_more_or_longer_choices_are_a_numbered_list(meta, whatsapp, buttons):
    whatsapp.send(OutgoingMessage(to=TO, text="Pick one", buttons=buttons))
    payload = sent(meta)[-1]
    assert payload["type"] == "text"
    lines = payload["text"]["body"].splitlines()
    assert lines[0] == "Pick one" and lines[2] == f"1. {buttons[0]}"


def test_empty_message_and_bad_address_fail_for_good(meta, whatsapp):
    for message in (OutgoingMessage(to=TO), OutgoingMessage(to="not a number", text="x")):
        with pytest.raises(ChannelError) as error:
            whatsapp.send(message)
        assert error.value.permanent and not error.value.channel_broken
    assert sent(meta) == []


# --- errors -----------------------------------------------------------------------------------


def test_expired_token_breaks_the_channel(meta, whatsapp):
    meta.fail_next("auth")
    with pytest.raises(ChannelError) as error:
        whatsapp.send(OutgoingMessage(to=TO, text="x"))
    assert error.value.channel_broken and error.value.permanent and error.value.code == "190"
    assert "access token" in str(error.value)


def test_wrong_token_breaks_the_channel(meta, monkeypatch):
    monkeypatch.setenv("OTHER_TOKEN", "EAAG-not-the-token")
    channel = WhatsAppChannel(
        settings={**meta.whatsapp_settings(), "access_token_env": "OTHER_TOKEN"}
    )
    with pytest.raises(ChannelError) as error:
        channel.send(OutgoingMessage(to=TO, text="x"))
    assert error.value.channel_broken


def test_missing_secret_is_a_broken_channel(meta, monkeypatch):
    monkeypatch.delenv("META_ACCESS_TOKEN")
    with pytest.raises(ChannelError) as error:
        WhatsAppChannel(settings=meta.whatsapp_settings()).send(OutgoingMessage(to=TO, text="x"))
    assert error.value.channel_broken


@pytest.mark.parametrize("kind", ["rate_limit", "pair_rate_limit"])
def test_rate_limits_back_off(meta, whatsapp, kind):
    meta.fail_next(kind)
    with pytest.raises(ChannelError) as error:
        whatsapp.send(OutgoingMessage(to=TO, text="x"))
    assert error.value.rate_limited and not error.value.permanent
    if kind == "rate_limit":  # HTTP 429 with Retry-After
        assert error.value.retry_after == 1.0
    # The next call goes through.
    assert whatsapp.send(OutgoingMessage(to=TO, text="x")).external_id


@pytest.mark.parametrize("kind", ["server", "unavailable"])
def test_server_errors_are_transient(meta, whatsapp, kind):
    meta.fail_next(kind)
    with pytest.raises(ChannelError) as error:
        whatsapp.send(OutgoingMessage(to=TO, text="x"))
    assert not error.value.permanent and not error.value.rate_limited


def test_unreachable_graph_is_transient(meta):
    settings = {**meta.whatsapp_settings(), "graph_url": "http://127.0.0.1:1"}
    with pytest.raises(ChannelError) as error:
        WhatsAppChannel(settings=settings).send(OutgoingMessage(to=TO, text="x"))
    assert not error.value.permanent


def test_undeliverable_as_a_synchronous_error_is_permanent(meta, whatsapp):
    meta.not_on_whatsapp.add(WA_ID)
    meta.undeliverable = "error"
    with pytest.raises(ChannelError) as error:
        whatsapp.send(OutgoingMessage(to=TO, text="x"))
    assert error.value.permanent and not error.value.channel_broken
    assert error.value.code == "131026" and "not on WhatsApp" in str(error.value)


def test_invalid_payload_is_permanent(meta, whatsapp):
    with pytest.raises(ChannelError) as error:
        whatsapp.send(
            OutgoingMessage(to=TO, media=(OutgoingMedia("x.jpg", "image/jpeg", url="ftp://x"),))
        )
    assert error.value.permanent and error.value.code == "131009"


# --- statuses caused by sending ---------------------------------------------------------------


def _receive(channel):
    """A webhook_sender that hands each webhook to the channel (as the inbound view would)."""
    results = []

    def sender(url, raw, headers):
        request = InboundRequest(
            method="POST",
            body=raw,
            headers={k.lower(): v for k, v in headers.items()},
            query={},
            url=url,
        )
        results.append(channel.parse_inbound(request))
        return 200

    return sender, results


def test_not_on_whatsapp_is_accepted_then_fails_by_webhook(meta, whatsapp):
    meta.not_on_whatsapp.add(WA_ID)
    meta.webhook_sender, results = _receive(whatsapp)
    wamid = whatsapp.send(OutgoingMessage(to=TO, text="x")).external_id
    assert meta.flush()
    (update,) = results[0].statuses
    assert (update.external_id, update.status) == (wamid, "failed")
    assert update.permanent and not update.channel_broken
    assert "131026" in update.error and "not on WhatsApp" in update.error
    assert update.event_id == f"{wamid}:failed"


def test_outside_the_window_only_a_template_goes_through(meta, whatsapp):
    meta.enforce_window = True
    meta.webhook_sender, results = _receive(whatsapp)
    whatsapp.send(OutgoingMessage(to=TO, text="free-form"))
    whatsapp.send(OutgoingMessage(to=TO, template=TemplateRef("hello_world", "en_US")))
    meta.flush()
    (update,) = results[0].statuses
    assert update.status == "failed" and "131047" in update.error and update.permanent
    assert len(results) == 1  # the template got no failure


def test_delivery_statuses(meta, whatsapp):
    meta.auto_statuses = ("sent", "delivered", "read")
    meta.webhook_sender, results = _receive(whatsapp)
    wamid = whatsapp.send(OutgoingMessage(to=TO, text="x")).external_id
    meta.flush()
    updates = [s for r in results for s in r.statuses]
    assert [(u.external_id, u.status) for u in updates] == [
        (wamid, "sent"),
        (wamid, "delivered"),
        (wamid, "read"),
    ]
    assert len({u.event_id for u in updates}) == 3
    assert all(u.occurred_at is not None and not u.error for u in updates)


# --- inbound ----------------------------------------------------------------------------------


def test_handshake_echoes_the_challenge(whatsapp, meta):
    request = InboundRequest(
        method="GET",
        body=b"",
        headers={},
        query={
            "hub.mode": "subscribe",
            "hub.verify_token": meta.verify_token,
            "hub.challenge": "1158201444",
        },
        url="http://testserver/x/",
    )
    result = whatsapp.parse_inbound(request)
    assert result.response_body == b"1158201444" and not result.messages
    for query in (
        {**request.query, "hub.verify_token": "guess"},
        {**request.query, "hub.mode": "unsubscribe"},
        {"hub.challenge": "1"},
    ):
        with pytest.raises(InboundRejected) as rejected:
            whatsapp.parse_inbound(
                InboundRequest(method="GET", body=b"", headers={}, query=query, url="")
            )
        assert rejected.value.status == 403


def test_text_fixture(whatsapp):
    result = whatsapp.parse_inbound(signed_request(fixture("text_message.json")))
    (message,) = result.messages
    assert message.sender == "16505551234"
    assert message.sender_phone == "+16505551234"
    assert message.sender_name == "Sheena Nelson"
    assert message.text == "Does it come in another color?"
    assert message.event_id == message.external_id
    assert message.event_id.startswith("wamid.")
    assert abs(message.occurred_at.timestamp() - time.time()) < 5
    assert not result.statuses


def test_image_and_document_fixtures(whatsapp):
    (image,) = whatsapp.parse_inbound(signed_request(fixture("image_message.json"))).messages
    assert image.text == "Black jacket"
    assert image.media == (InboundMedia(ref="1003383421387256", content_type="image/jpeg"),)
    (document,) = whatsapp.parse_inbound(signed_request(fixture("document_message.json"))).messages
    (media,) = document.media
    assert (media.ref, media.content_type, media.filename) == (
        "2399004647157183",
        "application/pdf",
        "lucky-shrub-invoice.pdf",
    )
    assert document.text == "Lucky Shrub Invoice"


def test_button_reply_fixture(whatsapp):
    (message,) = whatsapp.parse_inbound(signed_request(fixture("button_reply.json"))).messages
    assert message.text == "Change"
    assert message.data["button_id"] == "change-appointment"
    assert message.data["reply_to"].startswith("wamid.")


def test_status_fixtures(whatsapp):
    (delivered,) = whatsapp.parse_inbound(signed_request(fixture("status_delivered.json"))).statuses
    assert delivered.status == "delivered" and not delivered.error
    (failed,) = whatsapp.parse_inbound(
        signed_request(fixture("status_failed_131026.json"))
    ).statuses
    assert failed.status == "failed" and failed.permanent and not failed.channel_broken
    assert failed.external_id == delivered.external_id
    assert failed.event_id != delivered.event_id


def test_template_quick_reply_button(whatsapp, meta):
    payload = meta.whatsapp_text("16505551234", "x")
    item = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del item["text"]
    item.update(type="button", button={"text": "Yes", "payload": "confirm-42"})
    (message,) = whatsapp.parse_inbound(signed_request(payload)).messages
    assert (message.text, message.data["button_id"]) == ("Yes", "confirm-42")


def test_unsupported_message_is_shown_marked(whatsapp, meta):
    payload = meta.whatsapp_text("16505551234", "x")
    item = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del item["text"]
    item.update(
        type="unsupported",
        errors=[{"code": 131051, "title": "Message type unknown", "message": "x"}],
    )
    (message,) = whatsapp.parse_inbound(signed_request(payload)).messages
    assert "unsupported" in message.text


def test_bad_signatures_are_rejected(whatsapp):
    raw = body(fixture("text_message.json"))
    for request in (
        signed_request(raw, signature=""),  # none
        signed_request(raw, secret="another app's secret"),
        signed_request(raw, signature="sha1=" + "0" * 40),
        signed_request(raw + b" ", signature=signed_request(raw).header("x-hub-signature-256")),
    ):
        with pytest.raises(InboundRejected) as rejected:
            whatsapp.parse_inbound(request)
        assert rejected.value.status == 403


def test_stale_events_are_rejected(whatsapp):
    old = time.time() - 25 * 3600
    with pytest.raises(InboundRejected):
        whatsapp.parse_inbound(signed_request(fixture("text_message.json", timestamp=old)))
    with pytest.raises(InboundRejected):
        whatsapp.parse_inbound(signed_request(fixture("status_delivered.json", timestamp=old)))


def test_a_stale_item_in_a_fresh_batch_is_dropped(whatsapp, meta):
    payload = meta.whatsapp_text("16505551234", "new")
    stale = meta.whatsapp_text("16505551234", "old", timestamp=time.time() - 2 * 24 * 3600)
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"] += stale["entry"][0]["changes"][0]["value"]["messages"]
    (message,) = whatsapp.parse_inbound(signed_request(payload)).messages
    assert message.text == "new"


def test_max_event_age_is_a_setting(meta):
    channel = WhatsAppChannel(settings={**meta.whatsapp_settings(), "max_event_age_seconds": "60"})
    assert channel.max_event_age_seconds == 60
    with pytest.raises(InboundRejected):
        channel.parse_inbound(
            signed_request(fixture("text_message.json", timestamp=time.time() - 120))
        )


def test_replay_gives_the_same_event_ids(whatsapp):
    request = signed_request(fixture("text_message.json"))
    first = whatsapp.parse_inbound(request).messages
    again = whatsapp.parse_inbound(request).messages
    assert [m.event_id for m in first] == [m.event_id for m in again]


def test_another_business_number_is_ignored(whatsapp):
    payload = fixture("text_message.json")
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    result = whatsapp.parse_inbound(signed_request(payload))
    assert not result.messages and not result.statuses


def test_other_objects_and_fields_are_ignored(whatsapp):
    assert not whatsapp.parse_inbound(signed_request({"object": "page", "entry": []})).messages
    payload = fixture("text_message.json")
    payload["entry"][0]["changes"][0]["field"] = "message_template_status_update"
    assert not whatsapp.parse_inbound(signed_request(payload)).messages


def test_malformed_body_is_400(whatsapp):
    with pytest.raises(InboundRejected) as rejected:
        whatsapp.parse_inbound(signed_request(b"not json"))
    assert rejected.value.status == 400


# --- media ------------------------------------------------------------------------------------


def test_fetch_media(meta, whatsapp):
    content = png()
    payload = meta.whatsapp_media("16505551234", content, "image/png", caption="Licence")
    (message,) = whatsapp.parse_inbound(signed_request(payload)).messages
    (media,) = message.media
    fetched = whatsapp.fetch_media(media)
    assert fetched.content == content and fetched.content_type == "image/png"
    assert fetched.filename.startswith("whatsapp-") and fetched.filename.endswith(".png")
    download = meta.requests[-1]
    assert download["path"] == "/whatsapp_business/attachments/"
    assert download["token"] == meta.access_token


def test_fetch_document_keeps_its_name(meta, whatsapp):
    payload = meta.whatsapp_media(
        "16505551234", b"%PDF-1.4 x", "application/pdf", kind="document", filename="cv.pdf"
    )
    (message,) = whatsapp.parse_inbound(signed_request(payload)).messages
    fetched = whatsapp.fetch_media(message.media[0])
    assert (fetched.filename, fetched.content_type) == ("cv.pdf", "application/pdf")


def test_fetch_media_too_large(meta, whatsapp, monkeypatch):
    monkeypatch.setattr(WhatsAppChannel, "max_media_bytes", 1000)
    media_id = meta.add_media(b"x" * 2000, "video/mp4")
    with pytest.raises(ChannelError) as error:
        whatsapp.fetch_media(InboundMedia(ref=media_id))
    assert error.value.permanent and error.value.code == "too_large"
    # Nothing was downloaded: the declared size was enough.
    assert not any(r["path"].startswith("/whatsapp_business/") for r in meta.requests)


def test_fetch_media_checks_the_hash(meta, whatsapp):
    media_id = meta.add_media(b"original", "image/jpeg")
    meta.media[media_id]["content"] = b"tampered"
    with pytest.raises(ChannelError) as error:
        whatsapp.fetch_media(InboundMedia(ref=media_id))
    assert not error.value.permanent


def test_fetch_unknown_media_is_permanent(meta, whatsapp):
    for ref in ("123456789", "me/messages?x=", "../v1.0/123"):
        with pytest.raises(ChannelError) as error:
            whatsapp.fetch_media(InboundMedia(ref=ref))
        assert error.value.permanent
    assert len(meta.requests) == 1  # only the numeric id was asked for


# --- webhook registration ---------------------------------------------------------------------


def test_configure_webhook_is_verified_by_meta(meta, whatsapp, monkeypatch):
    """With a WABA id the URL is registered through subscribed_apps; Meta verifies it with the
    GET handshake against our endpoint (here a tiny server in front of parse_inbound)."""

    class Endpoint(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            query = dict(parse_qsl(urlsplit(self.path).query))
            request = InboundRequest(method="GET", body=b"", headers={}, query=query, url="")
            try:
                status, answer = 200, whatsapp.parse_inbound(request).response_body
            except InboundRejected as exc:
                status, answer = exc.status, b"rejected"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/messaging/inbound/whatsapp/k/"
    try:
        whatsapp.configure_webhook(url)
        assert meta.callback_override == url
        # A verify token our endpoint doesn't know: Meta's check fails, nothing changes.
        monkeypatch.setenv("WRONG_VERIFY", "not ours")
        wrong = WhatsAppChannel(
            settings={**meta.whatsapp_settings(), "verify_token_env": "WRONG_VERIFY"}
        )
        with pytest.raises(ChannelError) as error:
            wrong.configure_webhook(url + "?other")
        assert error.value.permanent and error.value.code == "2200"
        assert meta.callback_override == url
    finally:
        server.shutdown()
        server.server_close()


def test_configure_webhook_without_waba_is_a_no_op(meta):
    settings = {k: v for k, v in meta.whatsapp_settings().items() if k != "waba_id"}
    WhatsAppChannel(settings=settings).configure_webhook("http://127.0.0.1:9/x/")
    assert meta.requests == []


def test_no_idempotency_at_meta_and_the_fake_is_thread_safe(meta, whatsapp):
    """The Cloud API takes no idempotency key: the same message sent again is a new message
    (documented on the channel). 24 sends from 8 threads are all recorded."""
    from concurrent.futures import ThreadPoolExecutor

    message = OutgoingMessage(to=TO, text="same", idempotency_key="same-key")
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: whatsapp.send(message).external_id, range(24)))
    assert len(set(ids)) == 24
    assert len(meta.whatsapp_sent) == 24 and len(sent(meta)) == 24
