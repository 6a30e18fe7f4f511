"""Instagram Direct through Meta's Instagram messaging API (the Messenger Platform's Instagram
API with a Page token on graph.facebook.com, or the Instagram API with Instagram Login on
graph.instagram.com — the same request shapes; ``graph_url`` chooses).

Settings (`ChannelConfig.settings`): ``ig_user_id`` (the Instagram professional account's id;
empty sends to ``/me/messages``), ``graph_url`` (default https://graph.facebook.com),
``api_version`` (default v21.0), ``max_event_age_seconds`` (default 24 h), and the NAMES of the
environment variables holding ``access_token``, ``app_secret`` and ``verify_token``.

**Sending.** ``POST {graph_url}/{version}/{ig_user_id|me}/messages`` with ``recipient: {id:
IGSID}`` and ``message: {text}`` or ``message: {attachment: {type, payload: {url}}}`` (one call
per file, by the signed link of our stored file); quick-reply choices become ``quick_replies``
(at most 13 of at most 20 characters; otherwise a numbered list). Texts longer than Instagram's
1000 bytes are split. The answer's ``message_id`` of the text part is the message's id. Like
WhatsApp the API takes no idempotency key (a retry after a crash can send twice). Instagram
allows replies within 24 hours of the customer's last message; later ones fail permanently
(code 10, subcode 2018278) — there are no templates to fall back on.

**Webhooks** (object ``instagram``, field ``messages`` and optionally ``messaging_seen`` and
``messaging_postbacks``): GET is the subscription handshake; POST must carry
``X-Hub-Signature-256`` over the raw body with the app secret. ``entry[].messaging[]`` items with
``message`` become messages (echoes of our own — ``is_echo`` — edits, deletions and reactions are
skipped), ``postback`` (an ice-breaker or button) a message with its title, ``read`` a read status
of the message ``read.mid``. Items of another account and items older than
``max_event_age_seconds`` (``timestamp`` in milliseconds) are skipped; a call whose items are all
stale is rejected. The message id (``mid``) is the event id.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

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
    OutgoingMessage,
    SendResult,
    SettingField,
    StatusUpdate,
)
from ..whatsapp import graph
from ..whatsapp.channel import numbered

log = structlog.get_logger("slotwise.messaging.instagram")

SERVICE = "Instagram"
TEXT_BYTES = 1000
MAX_QUICK_REPLIES = 13
QUICK_REPLY_TITLE_LIMIT = 20
INBOUND_MEDIA_TYPES = ("image", "video", "audio", "file")


def attachment_type(content_type: str) -> str:
    kind = graph.bare_type(content_type).split("/", 1)[0]
    return kind if kind in ("image", "video", "audio") else "file"


def byte_chunks(text: str, limit: int) -> list[str]:
    """Split `text` into parts of at most `limit` UTF-8 bytes, at a line or word break when there
    is one in the second half of the part."""
    parts = []
    while len(text.encode()) > limit:
        end = len(text.encode()[:limit].decode("utf-8", errors="ignore"))
        cut = max(text.rfind("\n", 0, end), text.rfind(" ", 0, end))
        if cut < end // 2:
            cut = end
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


class InstagramChannel(Channel):
    kind = "instagram"
    medium = "instagram"
    verbose_name = _("Instagram Direct (Meta)")
    settings_fields = (
        SettingField(
            "ig_user_id",
            _("Instagram account ID"),
            required=False,
            help_text=_("The professional account's ID; empty: the account of the token (me)."),
        ),
        SettingField(
            "access_token",
            _("Access token (environment variable)"),
            secret=True,
            help_text=_("A Page or Instagram access token with instagram_manage_messages."),
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
        SettingField("graph_url", _("Graph API URL"), required=False),
        SettingField("api_version", _("Graph API version"), required=False),
        SettingField(
            "max_event_age_seconds",
            _("Ignore webhook events older than (seconds)"),
            required=False,
        ),
    )
    max_media_bytes = 25 * 1024 * 1024

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        age = self.setting("max_event_age_seconds")
        if age.strip():
            try:
                self.max_event_age_seconds = max(int(age), 1)
            except ValueError:
                log.warning("instagram bad max_event_age_seconds", value=age)

    def _base(self) -> str:
        url = (self.setting("graph_url") or graph.DEFAULT_GRAPH_URL).rstrip("/")
        return f"{url}/{self.setting('api_version') or graph.DEFAULT_API_VERSION}"

    # --- sending ------------------------------------------------------------------------------
    def send(self, message: OutgoingMessage) -> SendResult:
        to = message.to.strip()
        if not to:
            raise ChannelError(
                gettext("Instagram: the message has no recipient."),
                permanent=True,
                code="bad_address",
            )
        parts, main = self._parts(message)
        ids = [self._post(to, part) for part in parts]
        return SendResult(external_id=ids[main])

    def _parts(self, message: OutgoingMessage) -> tuple[list[dict[str, Any]], int]:
        parts: list[dict[str, Any]] = []
        for media in message.media:
            if not media.url:
                raise ChannelError(
                    gettext("Instagram: the file %(name)s has no link to send.")
                    % {"name": media.filename},
                    permanent=True,
                    code="no_media",
                )
            parts.append(
                {
                    "attachment": {
                        "type": attachment_type(media.content_type),
                        "payload": {"url": media.url},
                    }
                }
            )
        text = message.text.strip()
        if message.template is not None and not text:
            raise ChannelError(
                gettext("Instagram has no message templates: write the text itself."),
                permanent=True,
                code="template",
            )
        titles = [b.strip() for b in message.buttons if b.strip()]
        quick_replies = []
        if titles:
            fits = (
                len(titles) <= MAX_QUICK_REPLIES
                and len(set(titles)) == len(titles)
                and all(len(t) <= QUICK_REPLY_TITLE_LIMIT for t in titles)
                and text
            )
            if fits:
                quick_replies = [
                    {"content_type": "text", "title": t, "payload": t[:1000]} for t in titles
                ]
            else:
                text = numbered(text, tuple(titles))
        main = len(parts)
        if text:
            pieces = byte_chunks(text, TEXT_BYTES)
            for i, piece in enumerate(pieces):
                part: dict[str, Any] = {"text": piece}
                if quick_replies and i == len(pieces) - 1:
                    part["quick_replies"] = quick_replies
                parts.append(part)
        elif parts:
            main = 0
        if not parts:
            raise ChannelError(
                gettext("Instagram: the message is empty."), permanent=True, code="empty"
            )
        return parts, main

    def _post(self, to: str, message: Mapping[str, Any]) -> str:
        account = self.setting("ig_user_id").strip() or "me"
        body = graph.call(
            "POST",
            f"{self._base()}/{account}/messages",
            token=self.secret("access_token"),
            service=SERVICE,
            payload={"recipient": {"id": to}, "message": dict(message)},
        )
        if not body.get("message_id"):
            raise ChannelError(gettext("Instagram accepted the message but returned no id."))
        return str(body["message_id"])

    # --- media --------------------------------------------------------------------------------
    def fetch_media(self, media: InboundMedia) -> FetchedMedia:
        """The attachment's ``payload.url`` is a signed CDN link: a plain GET, without our token
        (it must not travel to a URL a payload names)."""
        if urlsplit(media.ref).scheme not in ("http", "https"):
            raise ChannelError(
                gettext("Instagram: the attachment has no download link."), permanent=True
            )
        content, served_type = graph.download(
            media.ref, max_bytes=self.max_media_bytes, service=SERVICE
        )
        content_type = served_type or graph.bare_type(media.content_type)
        if not content_type or content_type == "application/octet-stream":
            content_type = graph.bare_type(media.content_type) or "application/octet-stream"
        filename = media.filename or _filename(media.ref, content_type)
        return FetchedMedia(content=content, content_type=content_type, filename=filename)

    # --- webhooks -----------------------------------------------------------------------------
    def parse_inbound(self, request: InboundRequest) -> InboundResult:
        if request.method.upper() == "GET":
            return graph.handshake(request, self.secret("verify_token"))
        graph.check_signature(request, self.secret("app_secret"))
        payload = graph.json_object(request.body)
        if payload.get("object") != "instagram":
            return InboundResult()
        ours = self.setting("ig_user_id").strip()
        messages: list[InboundMessage] = []
        statuses: list[StatusUpdate] = []
        seen = stale = 0
        for entry in graph.as_list(payload.get("entry")):
            entry = graph.as_dict(entry)
            account = str(entry.get("id", ""))
            if ours and account and account != ours:
                log.info("instagram webhook for another account", account=account)
                continue
            for item in graph.as_list(entry.get("messaging")):
                item = graph.as_dict(item)
                parsed = self._item(item, account)
                if parsed is None:
                    continue
                seen += 1
                when = graph.occurred(item.get("timestamp"), milliseconds=True)
                if graph.is_stale(when, self.max_event_age_seconds):
                    stale += 1
                    continue
                if isinstance(parsed, StatusUpdate):
                    statuses.append(parsed)
                else:
                    messages.append(parsed)
        if seen and stale == seen:
            raise InboundRejected("stale event", status=403)
        return InboundResult(messages=tuple(messages), statuses=tuple(statuses))

    def _item(self, item: Mapping[str, Any], account: str) -> InboundMessage | StatusUpdate | None:
        sender = str(graph.as_dict(item.get("sender")).get("id", ""))
        when = graph.occurred(item.get("timestamp"), milliseconds=True)
        if not sender or (account and sender == account):
            return None  # our own account (echoes without is_echo, reads of their messages)
        read = graph.as_dict(item.get("read"))
        if read.get("mid"):
            mid = str(read["mid"])
            return StatusUpdate(
                event_id=graph.short_id(f"read:{mid}"),
                external_id=mid,
                status="read",
                occurred_at=when,
            )
        delivery = graph.as_dict(item.get("delivery"))
        if delivery:
            mids = [str(m) for m in graph.as_list(delivery.get("mids")) if m]
            # One status per call keeps the event id simple; Instagram sends no delivery events
            # today (Messenger does, for several messages at once): the first is enough.
            if mids:
                return StatusUpdate(
                    event_id=graph.short_id(f"delivered:{mids[0]}"),
                    external_id=mids[0],
                    status="delivered",
                    occurred_at=when,
                )
            return None
        postback = graph.as_dict(item.get("postback"))
        if postback:
            mid = str(postback.get("mid") or "")
            if not mid:
                return None
            return InboundMessage(
                event_id=graph.short_id(mid),
                external_id=mid,
                sender=sender,
                text=str(postback.get("title", ""))[:4096],
                occurred_at=when,
                data={"type": "postback", "button_id": str(postback.get("payload", ""))},
            )
        message = graph.as_dict(item.get("message"))
        mid = str(message.get("mid") or "")
        if not mid or message.get("is_echo") or message.get("is_deleted"):
            return None
        data: dict[str, Any] = {"type": "message"}
        quick_reply = graph.as_dict(message.get("quick_reply"))
        if quick_reply:
            data["button_id"] = str(quick_reply.get("payload", ""))
        reply_to = graph.as_dict(message.get("reply_to"))
        if reply_to.get("mid"):
            data["reply_to"] = str(reply_to["mid"])
        media, other = [], []
        for attachment in graph.as_list(message.get("attachments")):
            attachment = graph.as_dict(attachment)
            kind = str(attachment.get("type", ""))
            url = str(graph.as_dict(attachment.get("payload")).get("url", ""))
            if kind in INBOUND_MEDIA_TYPES and url:
                media.append(InboundMedia(ref=url, content_type=_type_hint(kind)))
            elif url:
                other.append({"type": kind, "url": url})
        if other:
            data["shared"] = other
        text = str(message.get("text", ""))
        if message.get("is_unsupported") or (not text and not media and not other):
            text = gettext("[an Instagram message of a kind Slotwise can't show]")
        elif not text and other:
            text = "\n".join(o["url"] for o in other)
        return InboundMessage(
            event_id=graph.short_id(mid),
            external_id=mid,
            sender=sender,
            text=text[:4096],
            media=tuple(media),
            occurred_at=when,
            data=data,
        )


def _type_hint(kind: str) -> str:
    # The webhook names only the kind; the CDN's Content-Type decides in fetch_media.
    return {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/mpeg"}.get(kind, "")


def _filename(url: str, content_type: str) -> str:
    path = urlsplit(url).path.rsplit("/", 1)[-1]
    name = re.sub(r"[^A-Za-z0-9._-]", "", path)[:80]
    if name and "." in name:
        return name
    extension = mimetypes.guess_extension(content_type) or ""
    return f"instagram{extension}"
