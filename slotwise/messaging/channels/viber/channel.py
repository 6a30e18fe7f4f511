"""Viber through the REST bot API (https://developers.viber.com/docs/api/rest-bot-api/).

**Addresses.** A person on Viber is their Viber user id (``"01234567890A="``), unique per bot:
the identity's external id and `OutgoingMessage.to`. Viber never tells a bot a phone number
unless the person shares a contact.

**Out.** ``POST {api_url}/pa/send_message`` with ``X-Viber-Auth-Token``; every message names
the sender (``sender_name``, ``sender_avatar``) and carries our message id as ``tracking_data``.
Text (7000 characters a message; longer texts go out in parts), ``picture`` (JPEG/PNG up to 1 MB,
with the text as its description when it fits in 768 characters) and ``file`` (anything else, up
to 50 MB, with ``size`` and ``file_name``). Viber fetches media itself, so a file needs its URL
(`OutgoingMedia.url`); its size is the content's length, or the URL's ``Content-Length``.
`buttons` become a keyboard of ``ActionType: reply`` buttons on the last message: a press arrives
as an ordinary text message.

*Subscribers only.* Viber lets a bot write only to people subscribed to it (they wrote to the bot
or pressed "subscribe"). Someone who merely opened the chat from a deep link
(``conversation_started``, unsubscribed) can receive one thing: the welcome message returned in
the answer to that callback — the ``welcome_text`` setting. A bot's greeting queued through the
outbox to such a person fails with ``receiverNotSubscribed``; their first message subscribes them.

*No idempotency key.* Viber takes none: a request that timed out after Viber accepted it is sent
again when the outbox retries (connect errors are safe; read time-outs are not).

**Errors.** Viber answers HTTP 200 with ``{"status", "status_message"}`` (status 0 is ok; the
table is `STATUS`). The account or its token is unusable — 2 invalidAuthToken, 7 blocked, 8 not
found, 9 suspended, 10 webhookNotSet (sending needs a registered webhook), 15 not authorized, 23/24
out of free messages / balance → the channel is broken (disabled, the admin told). 12
tooManyRequests → rate limited. 5 receiverNotRegistered, 6 receiverNotSubscribed, 11
receiverNoSuitableDevice and the request errors (1 invalidUrl, 3 badData, 4 missingData, 13/14
API version …) → this message fails. Anything else ("general error", 5xx, network) → retried.

**In.** ``X-Viber-Content-Signature`` is the HMAC-SHA256 (hex) of the raw body under the auth
token, compared in constant time. `configure_webhook(url)` calls ``set_webhook`` with the
event types below; Viber answers it by posting a signed ``webhook`` event, which gets a 200 and
nothing else. Events:
- ``message`` (text, picture, video, file, contact, location, sticker, url): event id
  ``message:<message_token>``. A contact's phone number fills `sender_phone` in E.164 — that is
  what a "share phone" button sends; Viber cannot tell it from a friend's contact, so the number
  is taken as the sender's, as the product asks.
- ``conversation_started`` (the person opened the chat, e.g. from `deep_link`'s
  ``viber://pa?chatURI=…&context=…``): an empty text message with
  ``data={"event": "conversation_started", "context": …, "subscribed": …}`` so a bot can greet and
  read the link's payload; the answer is the ``welcome_text`` message when set.
- ``subscribed`` / ``unsubscribed``: empty text messages with ``data["event"]`` of that name, so the
  timeline shows the opt-in / opt-out and a bot knows the person can (no longer) be written to.
  Nothing is switched off automatically: sending to an unsubscribed person fails permanently
  anyway (status 6).
- ``delivered`` / ``seen`` / ``failed``: status updates (delivered / read / failed with Viber's
  ``desc``) of our message ``message_token``; event id ``<event>:<message_token>:<user_id>`` so
  that the delivered and the seen of one message are two events.
- Anything else is acknowledged and ignored.

Every event carries ``timestamp`` (epoch milliseconds); one older than `max_event_age_seconds`
(setting, default 24 hours) is rejected as a replayed capture.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import mimetypes
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import phonenumbers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from slotwise.core import http

from ..base import (
    Channel,
    ChannelError,
    ChannelNotConfigured,
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

DEFAULT_API_URL = "https://chatapi.viber.com"
MAX_TEXT = 7000
MAX_CAPTION = 768
MAX_PICTURE = 1024 * 1024
MAX_FILE = 50 * 1024 * 1024
MAX_SENDER_NAME = 28
PICTURE_TYPES = {"image/jpeg", "image/png"}
EVENT_TYPES = ("delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started")

#: Viber's status codes (the "Error Codes" table of the REST bot API).
STATUS = {
    0: "ok",
    1: "invalidUrl",
    2: "invalidAuthToken",
    3: "badData",
    4: "missingData",
    5: "receiverNotRegistered",
    6: "receiverNotSubscribed",
    7: "publicAccountBlocked",
    8: "publicAccountNotFound",
    9: "publicAccountSuspended",
    10: "webhookNotSet",
    11: "receiverNoSuitableDevice",
    12: "tooManyRequests",
    13: "apiVersionNotSupported",
    14: "incompatibleWithVersion",
    15: "publicAccountNotAuthorized",
    16: "inchatReplyMessageNotAllowed",
    17: "publicAccountIsNotInline",
    18: "noPublicChat",
    19: "cannotSendBroadcast",
    20: "broadcastNotAllowed",
    21: "unsupportedCountry",
    22: "paymentUnsupported",
    23: "freeMessagesExceeded",
    24: "noBalance",
}
#: the account (or its token, or its webhook) is unusable: disable the channel, tell the admin.
BROKEN = {2, 7, 8, 9, 10, 15, 23, 24}
#: this message can't be sent, retrying won't help.
PERMANENT = {1, 3, 4, 5, 6, 11, 13, 14, 16, 17, 18, 19, 20, 21, 22}
RATE_LIMITED = {12}

_STATUSES = {"delivered": "delivered", "seen": "read", "failed": "failed"}
_MEDIA_DEFAULT_TYPES = {"picture": "image/jpeg", "video": "video/mp4"}


def _timestamp_ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _e164(raw: Any) -> str:
    value = str(raw or "").strip().replace(" ", "").replace("-", "")
    if not value:
        return ""
    if not value.startswith("+"):
        value = "+" + value.lstrip("0")
    # A number the messenger has verified: take it when it is at least possible (the
    # metadata of `phonenumbers` lags behind new number ranges, e.g. Viber's own example).
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _chunks(text: str, size: int) -> list[str]:
    parts: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        if cut <= 0:
            cut = text.rfind(" ", 0, size)
        if cut <= 0:
            cut = size
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n ") if cut < size else text[cut:]
    if text:
        parts.append(text)
    return parts


class ViberChannel(Channel):
    kind = "viber"
    medium = "viber"
    verbose_name = gettext_lazy("Viber")
    settings_fields = (
        SettingField(
            "auth_token",
            gettext_lazy("Authentication token"),
            secret=True,
            help_text=gettext_lazy("The bot's token from the Viber Admin Panel."),
        ),
        SettingField(
            "sender_name",
            gettext_lazy("Sender name"),
            help_text=gettext_lazy("Shown above every message (28 characters at most)."),
        ),
        SettingField("sender_avatar", gettext_lazy("Sender avatar URL"), required=False),
        SettingField(
            "chat_uri",
            gettext_lazy("Bot URI"),
            required=False,
            help_text=gettext_lazy("The bot's URI, for viber://pa?chatURI=… links that open it."),
        ),
        SettingField(
            "welcome_text",
            gettext_lazy("Welcome message"),
            required=False,
            help_text=gettext_lazy(
                "Sent when someone opens the chat; Viber allows nothing else before they write."
            ),
        ),
        SettingField(
            "api_url",
            gettext_lazy("API address"),
            required=False,
            help_text=gettext_lazy("Leave empty for https://chatapi.viber.com."),
        ),
        SettingField(
            "max_event_age_seconds",
            gettext_lazy("Ignore events older than (seconds)"),
            required=False,
            help_text=gettext_lazy("Default 86400 (24 hours)."),
        ),
    )

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # The pipeline drops items older than this attribute too: keep both checks in step.
        self.max_event_age_seconds = self.max_age()  # type: ignore[misc]

    # --- configuration ---------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return (self.setting("api_url") or DEFAULT_API_URL).rstrip("/")

    def max_age(self) -> int | None:
        raw = self.setting("max_event_age_seconds")
        if raw:
            try:
                return int(raw)
            except ValueError:
                pass
        return self.max_event_age_seconds

    def sender(self) -> dict[str, str]:
        name = self.setting("sender_name").strip()
        if not name:
            raise ChannelNotConfigured(_("The Viber channel has no sender name."))
        sender = {"name": name[:MAX_SENDER_NAME]}
        if self.setting("sender_avatar"):
            sender["avatar"] = self.setting("sender_avatar")
        return sender

    def deep_link(self, context: str) -> str:
        """``viber://pa?chatURI=<uri>&context=<context>``: opens the bot's chat; Viber then posts
        ``conversation_started`` with this `context` (our link payload)."""
        chat_uri = self.setting("chat_uri")
        if not chat_uri:
            raise ChannelNotConfigured(_("The Viber channel has no bot URI."))
        return f"viber://pa?chatURI={quote(chat_uri, safe='')}&context={quote(context, safe='')}"

    # --- the API ---------------------------------------------------------------------------
    def _call(self, path: str, payload: dict[str, Any], client: httpx.Client | None = None):
        token = self.secret("auth_token")
        headers = {"X-Viber-Auth-Token": token}
        url = f"{self.api_url}/pa/{path}"
        try:
            if client is None:
                with http.client() as own:
                    response = own.post(url, json=payload, headers=headers)
            else:
                response = client.post(url, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise ChannelError(
                _("Viber could not be reached: %(error)s")
                % {"error": str(exc) or type(exc).__name__},
                code="network",
            ) from None
        return self._result(response)

    @staticmethod
    def _result(response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            message = _("Viber HTTP %(status)s: %(text)s") % {
                "status": response.status_code,
                "text": response.text[:200],
            }
            if response.status_code == 429:
                raise ChannelError(message, rate_limited=True, code="429")
            raise ChannelError(
                message,
                permanent=400 <= response.status_code < 500,
                code=str(response.status_code),
            )
        try:
            payload = response.json()
            status = int(payload["status"])
        except (ValueError, KeyError, TypeError):
            raise ChannelError(
                _("Viber answered something that is not its API: %(text)s")
                % {"text": response.text[:200]}
            ) from None
        if status == 0:
            return payload
        name = STATUS.get(status, "generalError")
        detail = str(payload.get("status_message") or name)
        message = _("Viber error %(status)s (%(name)s): %(detail)s") % {
            "status": status,
            "name": name,
            "detail": detail,
        }
        if status in BROKEN:
            raise ChannelError(
                _(
                    "Viber refused the bot account (%(name)s: %(detail)s). Check the token and the account in the Viber Admin Panel, then register the webhook again."
                )
                % {"name": name, "detail": detail},
                channel_broken=True,
                code=name,
            )
        if status in RATE_LIMITED:
            raise ChannelError(message, rate_limited=True, code=name)
        raise ChannelError(message, permanent=status in PERMANENT, code=name)

    # --- send ------------------------------------------------------------------------------
    def send(self, message: OutgoingMessage) -> SendResult:
        receiver = message.to.strip()
        if not receiver:
            raise ChannelError(_("No Viber user to send to."), permanent=True)
        base: dict[str, Any] = {"receiver": receiver, "sender": self.sender()}
        tracking = message.message_id or message.idempotency_key
        if tracking:
            base["tracking_data"] = tracking
        with http.client() as client:
            media_parts = [self._media_part(m, client) for m in message.media]
            steps: list[dict[str, Any]] = []
            text = message.text or ""
            if media_parts and media_parts[0]["type"] == "picture" and len(text) <= MAX_CAPTION:
                media_parts[0]["text"] = text
            else:
                steps += [{"type": "text", "text": part} for part in _chunks(text, MAX_TEXT)]
            steps += media_parts
            if not steps:
                raise ChannelError(_("Nothing to send: the message has no text."), permanent=True)
            if message.buttons:
                steps[-1]["keyboard"] = {
                    "Type": "keyboard",
                    "DefaultHeight": False,
                    "Buttons": [
                        {
                            "ActionType": "reply",
                            "ActionBody": b,
                            "Text": b,
                            "TextSize": "regular",
                            "Columns": 6,
                            "Rows": 1,
                        }
                        for b in message.buttons
                    ],
                }
            tokens = []
            for step in steps:
                answer = self._call("send_message", {**base, **step}, client)
                if answer.get("message_token") is None:
                    raise ChannelError(_("Viber answered without a message token."))
                tokens.append(str(answer["message_token"]))
        # The last part's token: its "delivered"/"seen" means the whole message arrived.
        return SendResult(external_id=tokens[-1], status="sent")

    def _media_part(self, media: OutgoingMedia, client: httpx.Client) -> dict[str, Any]:
        if not media.url:
            raise ChannelError(
                _("Viber needs a link to %(name)s; it has none.") % {"name": media.filename},
                permanent=True,
            )
        size = len(media.content) if media.content is not None else self._remote_size(media, client)
        content_type = (media.content_type or "").split(";")[0].strip().lower()
        if content_type in PICTURE_TYPES and size <= MAX_PICTURE:
            return {"type": "picture", "text": "", "media": media.url}
        if size > MAX_FILE:
            raise ChannelError(
                _("%(name)s is too large for Viber (50 MB at most).") % {"name": media.filename},
                permanent=True,
            )
        return {
            "type": "file",
            "media": media.url,
            "size": size,
            "file_name": (media.filename or "file")[:256],
        }

    @staticmethod
    def _remote_size(media: OutgoingMedia, client: httpx.Client) -> int:
        """Viber's file message needs the size: ask our own file link."""
        try:
            response = client.head(media.url, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise ChannelError(
                _("The file %(name)s could not be reached: %(error)s")
                % {"name": media.filename, "error": str(exc) or type(exc).__name__}
            ) from None
        length = response.headers.get("content-length", "")
        if response.status_code != 200 or not length.isdigit():
            raise ChannelError(
                _("The file %(name)s could not be reached (HTTP %(status)s).")
                % {"name": media.filename, "status": response.status_code}
            )
        return int(length)

    # --- webhook ---------------------------------------------------------------------------
    def configure_webhook(self, url: str) -> None:
        self._call(
            "set_webhook",
            {"url": url, "event_types": list(EVENT_TYPES), "send_name": True, "send_photo": False},
        )

    # --- in --------------------------------------------------------------------------------
    @staticmethod
    def sign(body: bytes, token: str) -> str:
        return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()

    def parse_inbound(self, request: InboundRequest) -> InboundResult:
        if request.method.upper() != "POST":
            raise InboundRejected("Viber posts callbacks", status=405)
        try:
            token = self.secret("auth_token")
        except ChannelNotConfigured as exc:
            raise InboundRejected(str(exc), status=503) from None
        given = request.header("x-viber-content-signature").strip().lower()
        if not given or not hmac.compare_digest(given, self.sign(request.body, token)):
            raise InboundRejected("bad signature")
        try:
            payload = json.loads(request.body)
            event = str(payload["event"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InboundRejected("malformed callback", status=400) from exc
        when = _timestamp_ms(payload.get("timestamp"))
        limit = self.max_age()
        if limit is not None:
            if when is None:
                raise InboundRejected("callback without a timestamp", status=400)
            if time.time() - when.timestamp() > limit:
                raise InboundRejected("stale callback")
        token_id = payload.get("message_token")
        if event == "webhook":
            return InboundResult()
        if event in _STATUSES:
            return self._status(event, payload, when)
        if event == "message":
            return self._message(payload, when)
        if event in ("conversation_started", "subscribed", "unsubscribed"):
            user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
            user_id = str(user.get("id") or payload.get("user_id") or "")
            if not user_id:
                raise InboundRejected("callback without a user", status=400)
            suffix = token_id if token_id is not None else f"{user_id}:{payload.get('timestamp')}"
            data: dict[str, Any] = {"event": event}
            if event == "conversation_started":
                data["context"] = str(payload.get("context") or "")
                data["subscribed"] = bool(payload.get("subscribed"))
            inbound = InboundMessage(
                event_id=f"{event}:{suffix}",
                sender=user_id,
                sender_name=str(user.get("name") or "")[:120],
                external_id=f"{event}:{suffix}",
                occurred_at=when,
                data=data,
            )
            welcome = self.setting("welcome_text")
            if event == "conversation_started" and welcome:
                body = {"sender": self.sender(), "type": "text", "text": welcome[:MAX_TEXT]}
                return InboundResult(
                    messages=(inbound,),
                    response_body=json.dumps(body).encode(),
                    content_type="application/json",
                )
            return InboundResult(messages=(inbound,))
        return InboundResult()

    @staticmethod
    def _status(event: str, payload: dict[str, Any], when: datetime | None) -> InboundResult:
        token_id = payload.get("message_token")
        user_id = str(payload.get("user_id") or "")
        if token_id is None:
            raise InboundRejected("status without a message token", status=400)
        return InboundResult(
            statuses=(
                StatusUpdate(
                    event_id=f"{event}:{token_id}:{user_id}",
                    external_id=str(token_id),
                    status=_STATUSES[event],
                    error=str(payload.get("desc") or "") if event == "failed" else "",
                    permanent=True,
                    occurred_at=when,
                ),
            )
        )

    @staticmethod
    def _message(payload: dict[str, Any], when: datetime | None) -> InboundResult:
        sender = payload.get("sender") if isinstance(payload.get("sender"), dict) else {}
        body = payload.get("message") if isinstance(payload.get("message"), dict) else {}
        token_id = payload.get("message_token")
        if not sender.get("id") or token_id is None:
            raise InboundRejected("message without a sender or token", status=400)
        kind = str(body.get("type") or "text")
        text = str(body.get("text") or "")
        media: list[InboundMedia] = []
        data: dict[str, Any] = {}
        sender_phone = ""
        if body.get("tracking_data"):
            data["tracking_data"] = str(body["tracking_data"])
        if kind in ("picture", "video", "file") and body.get("media"):
            filename = str(body.get("file_name") or "")
            content_type = (
                mimetypes.guess_type(filename)[0] if filename else None
            ) or _MEDIA_DEFAULT_TYPES.get(kind, "application/octet-stream")
            if not filename:
                ext = mimetypes.guess_extension(content_type) or ""
                filename = f"{kind}_{token_id}{ext}"
            size = body.get("size")
            media.append(
                InboundMedia(
                    ref=str(body["media"]),
                    content_type=content_type,
                    filename=filename[:200],
                    size=int(size) if isinstance(size, int | float) else None,
                )
            )
        elif kind == "contact" and isinstance(body.get("contact"), dict):
            contact = body["contact"]
            sender_phone = _e164(contact.get("phone_number"))
            data["contact"] = {
                "phone": sender_phone or str(contact.get("phone_number") or ""),
                "name": str(contact.get("name") or ""),
            }
        elif kind == "location" and isinstance(body.get("location"), dict):
            data["location"] = {
                "latitude": body["location"].get("lat"),
                "longitude": body["location"].get("lon"),
            }
        elif kind == "sticker":
            data["sticker"] = body.get("sticker_id")
        elif kind == "url":
            text = text or str(body.get("media") or "")
        if kind != "text":
            data["type"] = kind
        return InboundResult(
            messages=(
                InboundMessage(
                    event_id=f"message:{token_id}",
                    sender=str(sender["id"]),
                    text=text[:MAX_TEXT],
                    media=tuple(media),
                    sender_name=str(sender.get("name") or "")[:120],
                    sender_phone=sender_phone,
                    external_id=str(token_id),
                    occurred_at=when,
                    data=data,
                ),
            )
        )

    # --- media -----------------------------------------------------------------------------
    def fetch_media(self, media: InboundMedia) -> FetchedMedia:
        """Viber's media links are public (no token is sent with them) and live about an hour."""
        from slotwise.messaging.media import max_bytes

        limit = min(self.max_media_bytes, max_bytes())
        too_large = ChannelError(
            _("The file %(name)s is larger than %(limit)s MB.")
            % {"name": media.filename or "—", "limit": limit // (1024 * 1024)},
            permanent=True,
            code="too_large",
        )
        if media.size is not None and media.size > limit:
            raise too_large
        if urlsplit(media.ref).scheme not in ("http", "https"):
            raise ChannelError(
                _("Not a media link: %(ref)s") % {"ref": media.ref[:100]}, permanent=True
            )
        try:
            with http.client() as client, client.stream("GET", media.ref) as response:
                if response.status_code != 200:
                    raise ChannelError(
                        _("Viber refused the download of %(name)s (HTTP %(status)s).")
                        % {"name": media.filename or "—", "status": response.status_code},
                        permanent=response.status_code < 500,
                        code=str(response.status_code),
                    )
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > limit:
                    raise too_large
                content = bytearray()
                for chunk in response.iter_bytes():
                    content += chunk
                    if len(content) > limit:
                        raise too_large
                header_type = response.headers.get("content-type", "").split(";")[0].strip()
        except httpx.HTTPError as exc:
            raise ChannelError(
                _("Viber could not be reached: %(error)s")
                % {"error": str(exc) or type(exc).__name__},
                code="network",
            ) from None
        content_type = media.content_type or header_type or "application/octet-stream"
        return FetchedMedia(
            content=bytes(content), content_type=content_type, filename=media.filename
        )
