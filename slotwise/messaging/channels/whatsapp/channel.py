"""WhatsApp through Meta's WhatsApp Cloud API (a Graph API product).

Settings (`ChannelConfig.settings`): ``phone_number_id`` (the business number's id in the Graph,
not the number), optionally ``waba_id`` (the WhatsApp Business Account, only for
`configure_webhook`), ``graph_url`` (default https://graph.facebook.com; tests and the demo point
it at `slotwise.messaging.fakes.meta`), ``api_version`` (default v21.0),
``max_event_age_seconds`` (default 24 h), and the NAMES of the environment variables holding
``access_token`` (a system-user token with whatsapp_business_messaging), ``app_secret`` (signs
the webhooks) and ``verify_token`` (our word for the subscription handshake).

**Sending.** ``POST {graph_url}/{version}/{phone_number_id}/messages`` with
``messaging_product: whatsapp``. A message with a `TemplateRef` goes as ``type: template`` (the
body parameters as text parameters) — the outbox chooses a template for first contact and
outside the 24-hour window (`window_hours`); here it is simply sent. Media go by ``link`` (the
signed URL of our stored file; uploaded first through ``/{phone_number_id}/media`` when we only
have the bytes), the text as the first file's caption when it fits; up to three quick-reply
choices become interactive reply buttons, more (or longer than a button title allows) a
numbered list in the text. The message's id is the ``wamid`` of the part that carries the text.

**No idempotency key.** The Cloud API takes none: if a worker dies after Meta accepted a message
and before the outbox recorded it, the retry sends it again. The dispatcher's lease makes this
rare; it can't be made impossible from our side.

**Webhooks** (one URL for messages and statuses, field ``messages``): GET is the subscription
handshake; POST must carry ``X-Hub-Signature-256`` over the raw body with the app secret.
Messages and statuses of another business number (one Meta app can serve several) are skipped,
and so are items older than ``max_event_age_seconds``; if every item of a call is stale the call
is rejected. Each message's ``wamid`` is its event id; a status's is ``wamid:status``.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Mapping
from typing import Any

import structlog
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..base import (
    Channel,
    ChannelError,
    FetchedMedia,
    InboundMedia,
    InboundMessage,
    InboundRejected,
    InboundRequest,
    InboundResult,
    OutgoingMedia,
    OutgoingMessage,
    SendResult,
    SettingField,
    StatusUpdate,
)
from . import graph

log = structlog.get_logger("slotwise.messaging.whatsapp")

SERVICE = "WhatsApp"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
MAX_BUTTONS = 3
#: media types WhatsApp shows inline (developers.facebook.com/docs/whatsapp/cloud-api/reference/
#: media#supported-media-types); anything else goes as a document.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
VIDEO_TYPES = frozenset({"video/mp4", "video/3gpp"})
AUDIO_TYPES = frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"})
INBOUND_MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
STATUSES = {"sent", "delivered", "read", "failed"}


def wa_address(value: str) -> str:
    """The ``to`` Meta wants: the phone number's digits (E.164 without the plus)."""
    return re.sub(r"\D", "", value or "")


def media_kind(content_type: str) -> str:
    content_type = graph.bare_type(content_type)
    if content_type in IMAGE_TYPES:
        return "image"
    if content_type in VIDEO_TYPES:
        return "video"
    if content_type in AUDIO_TYPES:
        return "audio"
    return "document"


def numbered(text: str, choices: tuple[str, ...]) -> str:
    """Choices a channel can't show as buttons, as a list the customer answers with a number."""
    lines = [f"{i}. {choice}" for i, choice in enumerate(choices, 1)]
    return "\n".join([text, "", *lines] if text else lines)


def chunks(text: str, limit: int) -> list[str]:
    """Split a long text into parts of at most `limit` characters, at a line or word break when
    there is one in the second half of the part."""
    parts = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        if cut < limit // 2:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


class WhatsAppChannel(Channel):
    kind = "whatsapp"
    medium = "whatsapp"
    verbose_name = _("WhatsApp (Meta Cloud API)")
    settings_fields = (
        SettingField(
            "phone_number_id",
            _("Phone number ID"),
            help_text=_("In Meta's WhatsApp Manager / App Dashboard → WhatsApp → API Setup."),
        ),
        SettingField(
            "access_token",
            _("Access token (environment variable)"),
            secret=True,
            help_text=_("A permanent system-user token with whatsapp_business_messaging."),
        ),
        SettingField(
            "app_secret",
            _("App secret (environment variable)"),
            secret=True,
            help_text=_("App Dashboard → App settings → Basic; it signs the webhooks."),
        ),
        SettingField(
            "verify_token",
            _("Webhook verify token (environment variable)"),
            secret=True,
            help_text=_("Any long random string; enter the same in the webhook settings at Meta."),
        ),
        SettingField(
            "waba_id",
            _("WhatsApp Business Account ID"),
            required=False,
            help_text=_("Only needed to register the webhook address from here."),
        ),
        SettingField("graph_url", _("Graph API URL"), required=False),
        SettingField("api_version", _("Graph API version"), required=False),
        SettingField(
            "max_event_age_seconds",
            _("Ignore webhook events older than (seconds)"),
            required=False,
        ),
    )
    window_hours = 24
    max_media_bytes = 16 * 1024 * 1024

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        age = self.setting("max_event_age_seconds")
        if age.strip():
            try:
                self.max_event_age_seconds = max(int(age), 1)
            except ValueError:
                log.warning("whatsapp bad max_event_age_seconds", value=age)

    # --- configuration ------------------------------------------------------------------------
    def _base(self) -> str:
        url = (self.setting("graph_url") or graph.DEFAULT_GRAPH_URL).rstrip("/")
        return f"{url}/{self.setting('api_version') or graph.DEFAULT_API_VERSION}"

    def _phone_number_id(self) -> str:
        value = self.setting("phone_number_id").strip()
        if not value:
            raise ChannelError(
                gettext("WhatsApp: the phone number ID is not set."),
                permanent=True,
                channel_broken=True,
            )
        return value

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return graph.call(
            method,
            f"{self._base()}/{path}",
            token=self.secret("access_token"),
            service=SERVICE,
            **kwargs,
        )

    # --- sending ------------------------------------------------------------------------------
    def send(self, message: OutgoingMessage) -> SendResult:
        to = wa_address(message.to)
        if not to:
            raise ChannelError(
                gettext("WhatsApp: %(address)s is not a phone number.") % {"address": message.to},
                permanent=True,
                code="bad_address",
            )
        parts, main = self._parts(message)
        ids = [self._post(to, part) for part in parts]
        return SendResult(external_id=ids[main])

    def _parts(self, message: OutgoingMessage) -> tuple[list[dict[str, Any]], int]:
        """The Cloud API messages one of ours becomes, and the index of the one that carries the
        text (its wamid is the message's)."""
        if message.template is not None:
            template: dict[str, Any] = {
                "name": message.template.name,
                "language": {"code": message.template.language},
            }
            if message.template.params:
                template["components"] = [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": str(p)} for p in message.template.params
                        ],
                    }
                ]
            return [{"type": "template", "template": template}], 0
        parts: list[dict[str, Any]] = []
        text, main = message.text.strip(), 0
        for media in message.media:
            kind = media_kind(media.content_type)
            item = self._media_object(media)
            if kind == "document" and media.filename:
                item["filename"] = media.filename
            if (
                not parts
                and text
                and kind != "audio"
                and len(text) <= CAPTION_LIMIT
                and not message.buttons
            ):
                item["caption"], text = text, ""
            parts.append({"type": kind, kind: item})
        buttons = tuple(b for b in message.buttons if b.strip())
        if buttons:
            titles = [b.strip() for b in buttons]
            fits = (
                text
                and len(titles) <= MAX_BUTTONS
                and len(set(titles)) == len(titles)
                and all(len(t) <= BUTTON_TITLE_LIMIT for t in titles)
                and len(text) <= CAPTION_LIMIT
            )
            if fits:
                main = len(parts)
                parts.append(
                    {
                        "type": "interactive",
                        "interactive": {
                            "type": "button",
                            "body": {"text": text},
                            "action": {
                                "buttons": [
                                    {
                                        "type": "reply",
                                        "reply": {"id": t[:BUTTON_ID_LIMIT], "title": t},
                                    }
                                    for t in titles
                                ]
                            },
                        },
                    }
                )
                return parts, main
            text = numbered(text, titles)
        if text:
            main = len(parts)
            for piece in chunks(text, TEXT_LIMIT):
                parts.append({"type": "text", "text": {"body": piece, "preview_url": False}})
        if not parts:
            raise ChannelError(
                gettext("WhatsApp: the message is empty."), permanent=True, code="empty"
            )
        return parts, main

    def _media_object(self, media: OutgoingMedia) -> dict[str, Any]:
        if media.url:
            return {"link": media.url}
        if media.content is None:
            raise ChannelError(
                gettext("WhatsApp: the file %(name)s has neither a link nor content.")
                % {"name": media.filename},
                permanent=True,
                code="no_media",
            )
        if len(media.content) > self.max_media_bytes:
            raise ChannelError(
                gettext("WhatsApp: the file %(name)s is too large.") % {"name": media.filename},
                permanent=True,
                code="too_large",
            )
        uploaded = self._call(
            "POST",
            f"{self._phone_number_id()}/media",
            data={"messaging_product": "whatsapp", "type": graph.bare_type(media.content_type)},
            files={
                "file": (
                    media.filename or "file",
                    media.content,
                    graph.bare_type(media.content_type) or "application/octet-stream",
                )
            },
        )
        if not uploaded.get("id"):
            raise ChannelError(gettext("WhatsApp: the upload returned no media id."))
        return {"id": str(uploaded["id"])}

    def _post(self, to: str, part: Mapping[str, Any]) -> str:
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        payload.update(part)
        body = self._call("POST", f"{self._phone_number_id()}/messages", payload=payload)
        try:
            return str(body["messages"][0]["id"])
        except (KeyError, IndexError, TypeError) as exc:
            raise ChannelError(
                gettext("WhatsApp accepted the message but returned no message id.")
            ) from exc

    # --- media --------------------------------------------------------------------------------
    def fetch_media(self, media: InboundMedia) -> FetchedMedia:
        """``GET /{media_id}`` → a short-lived URL, then GET that URL with the same token
        (developers.facebook.com/docs/whatsapp/cloud-api/reference/media#download-media). The
        declared size is checked before the download and the sha256 after it."""
        if not media.ref.isdigit():  # media ids are numbers; never let a ref pick a path
            raise ChannelError(
                gettext("WhatsApp: %(ref)s is not a media id.") % {"ref": media.ref[:40]},
                permanent=True,
            )
        token = self.secret("access_token")
        info = self._call(
            "GET", media.ref, params={"phone_number_id": self.setting("phone_number_id")}
        )
        url = str(info.get("url") or "")
        if not url:
            raise ChannelError(gettext("WhatsApp returned no download URL for the media."))
        try:
            declared = int(info.get("file_size") or 0)
        except (TypeError, ValueError):
            declared = 0
        if declared > self.max_media_bytes:
            raise ChannelError(
                gettext("WhatsApp: the file is larger than %(size)s MB.")
                % {"size": self.max_media_bytes // (1024 * 1024)},
                permanent=True,
                code="too_large",
            )
        content, served_type = graph.download(
            url, max_bytes=self.max_media_bytes, service=SERVICE, token=token
        )
        expected = str(info.get("sha256") or "").lower()
        if expected:
            if hashlib.sha256(content).hexdigest() != expected:
                raise ChannelError(gettext("WhatsApp: the downloaded file is damaged (sha256)."))
        content_type = (
            graph.bare_type(str(info.get("mime_type") or ""))
            or graph.bare_type(media.content_type)
            or served_type
            or "application/octet-stream"
        )
        filename = media.filename or _default_filename(media.ref, content_type)
        return FetchedMedia(content=content, content_type=content_type, filename=filename)

    # --- webhooks -----------------------------------------------------------------------------
    def configure_webhook(self, url: str) -> None:
        """With ``waba_id`` set: point this WhatsApp Business Account's webhooks at `url`
        (``POST /{waba_id}/subscribed_apps`` with ``override_callback_uri``, so several
        organisations can share one Meta app); Meta verifies the URL at once with the GET
        handshake. Without it the URL is entered in the App Dashboard."""
        waba_id = self.setting("waba_id").strip()
        if not waba_id:
            return None
        self._call(
            "POST",
            f"{waba_id}/subscribed_apps",
            payload={"override_callback_uri": url, "verify_token": self.secret("verify_token")},
        )
        return None

    def parse_inbound(self, request: InboundRequest) -> InboundResult:
        if request.method.upper() == "GET":
            return graph.handshake(request, self.secret("verify_token"))
        graph.check_signature(request, self.secret("app_secret"))
        payload = graph.json_object(request.body)
        if payload.get("object") != "whatsapp_business_account":
            return InboundResult()
        ours = self.setting("phone_number_id").strip()
        messages: list[InboundMessage] = []
        statuses: list[StatusUpdate] = []
        seen = stale = 0
        for entry in graph.as_list(payload.get("entry")):
            for change in graph.as_list(graph.as_dict(entry).get("changes")):
                change = graph.as_dict(change)
                if change.get("field") != "messages":
                    continue
                value = graph.as_dict(change.get("value"))
                number = str(graph.as_dict(value.get("metadata")).get("phone_number_id", ""))
                if ours and number and number != ours:
                    log.info("whatsapp webhook for another number", phone_number_id=number)
                    continue
                for error in graph.as_list(value.get("errors")):
                    log.warning("whatsapp webhook error", error=error)
                names = {
                    str(graph.as_dict(c).get("wa_id", "")): str(
                        graph.as_dict(graph.as_dict(c).get("profile")).get("name", "")
                    )
                    for c in graph.as_list(value.get("contacts"))
                }
                for item in graph.as_list(value.get("messages")):
                    seen += 1
                    parsed = self._message(graph.as_dict(item), names)
                    if parsed is None:
                        continue
                    if graph.is_stale(parsed.occurred_at, self.max_event_age_seconds):
                        stale += 1
                        continue
                    messages.append(parsed)
                for item in graph.as_list(value.get("statuses")):
                    seen += 1
                    update = self._status(graph.as_dict(item))
                    if update is None:
                        continue
                    if graph.is_stale(update.occurred_at, self.max_event_age_seconds):
                        stale += 1
                        continue
                    statuses.append(update)
        if seen and stale == seen:
            raise InboundRejected("stale event", status=403)
        return InboundResult(messages=tuple(messages), statuses=tuple(statuses))

    def _message(self, item: Mapping[str, Any], names: Mapping[str, str]) -> InboundMessage | None:
        wamid = str(item.get("id") or "")
        sender = wa_address(str(item.get("from") or ""))
        if not wamid or not sender:
            return None
        kind = str(item.get("type") or "")
        text, media = "", []
        data: dict[str, Any] = {"type": kind}
        context = graph.as_dict(item.get("context"))
        if context.get("id"):
            data["reply_to"] = str(context["id"])
        if kind == "text":
            text = str(graph.as_dict(item.get("text")).get("body", ""))
        elif kind in INBOUND_MEDIA_TYPES:
            obj = graph.as_dict(item.get(kind))
            if obj.get("id"):
                media.append(
                    InboundMedia(
                        ref=str(obj["id"]),
                        content_type=graph.bare_type(str(obj.get("mime_type", ""))),
                        filename=str(obj.get("filename", ""))[:200],
                    )
                )
            text = str(obj.get("caption", ""))
            if obj.get("voice"):
                data["voice"] = True
        elif kind == "interactive":
            interactive = graph.as_dict(item.get("interactive"))
            reply = graph.as_dict(interactive.get(str(interactive.get("type", ""))))
            text = str(reply.get("title", ""))
            data["button_id"] = str(reply.get("id", ""))
        elif kind == "button":  # a quick-reply button of a template
            button = graph.as_dict(item.get("button"))
            text = str(button.get("text", ""))
            data["button_id"] = str(button.get("payload", ""))
        elif kind == "reaction":
            reaction = graph.as_dict(item.get("reaction"))
            text = str(reaction.get("emoji", ""))
            if not text:  # a reaction taken back
                return None
            data["reaction_to"] = str(reaction.get("message_id", ""))
        elif kind == "location":
            location = graph.as_dict(item.get("location"))
            data["location"] = {
                k: location[k]
                for k in ("latitude", "longitude", "name", "address")
                if k in location
            }
            text = " ".join(
                str(x)
                for x in (
                    location.get("name", ""),
                    location.get("address", ""),
                    f"{location.get('latitude', '')},{location.get('longitude', '')}",
                )
                if x
            )
        elif kind == "contacts":
            shared = []
            for contact in graph.as_list(item.get("contacts")):
                contact = graph.as_dict(contact)
                name = str(graph.as_dict(contact.get("name")).get("formatted_name", ""))
                phones = [
                    str(graph.as_dict(p).get("phone", ""))
                    for p in graph.as_list(contact.get("phones"))
                ]
                shared.append(" ".join(x for x in (name, *phones) if x))
            text = "\n".join(shared)
        else:  # "unsupported", "system", "order" …: visible in the inbox, marked
            text = gettext("[a WhatsApp message of a kind Slotwise can't show: %(kind)s]") % {
                "kind": kind or "?"
            }
        return InboundMessage(
            event_id=graph.short_id(wamid),
            external_id=wamid,
            sender=sender,
            sender_phone=f"+{sender}",
            sender_name=names.get(sender, "")[:120],
            text=text[:TEXT_LIMIT],
            media=tuple(media),
            occurred_at=graph.occurred(item.get("timestamp")),
            data=data,
        )

    def _status(self, item: Mapping[str, Any]) -> StatusUpdate | None:
        wamid = str(item.get("id") or "")
        status = str(item.get("status") or "")
        if not wamid or status not in STATUSES:
            return None
        error, permanent, broken = "", True, False
        if status == "failed":
            errors = [graph.as_dict(e) for e in graph.as_list(item.get("errors"))] or [{}]
            first = errors[0]
            details = graph.as_dict(first.get("error_data")).get("details", "")
            verdict = graph.classify(
                code=first.get("code"),
                message=str(first.get("message") or first.get("title") or details or ""),
                service=SERVICE,
            )
            error, permanent, broken = verdict.message, verdict.permanent, verdict.channel_broken
        return StatusUpdate(
            event_id=graph.short_id(f"{wamid}:{status}"),
            external_id=wamid,
            status=status,
            error=error,
            permanent=permanent,
            channel_broken=broken,
            occurred_at=graph.occurred(item.get("timestamp")),
        )


def _default_filename(ref: str, content_type: str) -> str:
    extension = mimetypes.guess_extension(content_type) or ""
    safe = re.sub(r"[^A-Za-z0-9_-]", "", ref)[:24] or "file"
    return f"whatsapp-{safe}{extension}"
