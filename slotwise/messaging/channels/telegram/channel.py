"""Telegram through the Bot API (https://core.telegram.org/bots/api), one bot per channel.

**Addresses.** A person on Telegram is the id of their private chat with the bot (the same number
as their user id), as a string: that is the identity's external id and `OutgoingMessage.to`.
Group chats are ignored: Slotwise talks to people, and a bot added to a group would otherwise
pour a whole group into one "contact".

**Out.** ``POST {api_url}/bot<token>/sendMessage`` (plain text, no parse mode, so nothing a
manager types is read as markup; texts over 4096 characters go out as several messages),
``sendPhoto`` for JPEG/PNG up to 10 MB and ``sendDocument`` for anything else up to 50 MB —
uploaded (multipart) when we have the bytes, else by URL (Telegram fetches it). The text rides as
the caption of the first file when it fits (1024 characters). `buttons` become a reply keyboard
(``one_time_keyboard``) on the last message: a press arrives as an ordinary text message.

*No idempotency key.* The Bot API takes none, so a request that timed out after Telegram had
accepted it is sent again when the outbox retries: the person may see that message twice. Only
read time-outs do this (connect errors mean nothing was sent); there is no way to ask Telegram
whether a message went out.

*No delivery receipts.* The Bot API never says that a message reached a device or was read;
``ok: true`` means Telegram has it and will deliver it, so `send` reports ``delivered`` — no
status would ever move it further.

**Errors** (``{"ok": false, "error_code", "description", "parameters": {"retry_after"}}``):
401/404 — the token is wrong or revoked (the token is part of the URL) → the channel is broken;
403 (bot blocked by the user, user deactivated, can't initiate a conversation) → this message
fails, the channel is fine; 429 → rate limited, ``retry_after`` seconds; other 4xx ("chat not
found", "message is too long") → permanent; 5xx, non-JSON answers and network errors → retried.

**In.** `configure_webhook(url)` calls ``setWebhook`` with ``secret_token`` (the webhook secret)
and ``allowed_updates``; Telegram then sends that secret in ``X-Telegram-Bot-Api-Secret-Token``
on every update, compared in constant time. Every update's event id is ``update:<update_id>``.
- ``message``: text, a photo (the largest size) or a file with its caption, a sticker (its emoji),
  a location, a contact. A contact the sender shares *of themselves* (``contact.user_id`` = the
  sender, what a "share my phone number" button sends) fills `sender_phone` in E.164; someone
  else's contact is only data. ``/start <param>`` (a deep link, `deep_link`) puts the parameter in
  ``data["start"]``.
- ``edited_message``: treated as a new message marked ``data["edited"] = True`` (with Telegram's
  message id): the inbox shows the correction and a bot sees the corrected answer; ignoring edits
  would leave a manager acting on a text the customer has since changed.
- ``callback_query`` (an inline button, which only other tools' messages carry): its ``data`` as
  text; the webhook answer is an ``answerCallbackQuery`` call so the person's button stops
  spinning.
- Anything else (channel posts, membership changes, polls) is acknowledged and ignored.

A message (or edit) older than `max_event_age_seconds` (setting, default 24 hours — as long as
Telegram keeps an undelivered update) is rejected: it is a capture being replayed. A callback
query carries no time of its own (only the time of the message its button belongs to, which may
be old), so it is guarded by its update id alone.

Secrets never leave this module in clear: the token is part of every API URL, so the outbound
log line is written here with the token masked, and error texts are scrubbed of it.
"""

from __future__ import annotations

import hmac
import json
import mimetypes
import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import phonenumbers
import structlog
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
)

log = structlog.get_logger("slotwise.messaging.telegram")

DEFAULT_API_URL = "https://api.telegram.org"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_PHOTO_UPLOAD = 10 * 1024 * 1024
MAX_DOCUMENT_UPLOAD = 50 * 1024 * 1024
#: what bots may download through getFile (Telegram's limit).
MAX_DOWNLOAD = 20 * 1024 * 1024
PHOTO_TYPES = {"image/jpeg", "image/png"}
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
#: Telegram's rule for setWebhook's secret_token (and a deep link's start parameter).
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_START_PARAM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_START = re.compile(r"^/start(?:@\w+)?(?:\s+(\S+))?\s*$")
_TOKEN_IN_PATH = re.compile(r"/(file/)?bot[^/]+/")
#: the media keys of a Message that carry a file (animation first: Telegram also sets document).
_FILE_KEYS = ("animation", "document", "video", "audio", "voice", "video_note")
_DEFAULT_TYPES = {
    "video": "video/mp4",
    "audio": "audio/mpeg",
    "voice": "audio/ogg",
    "video_note": "video/mp4",
    "animation": "video/mp4",
}


def _mask(url: httpx.URL | str) -> str:
    return _TOKEN_IN_PATH.sub(lambda m: f"/{m.group(1) or ''}bot***/", str(url))


def _log_response(response: httpx.Response) -> None:
    # slotwise.core.http's log line, with the bot token (part of the path) masked.
    request = response.request
    log.info(
        "outbound_http",
        method=request.method,
        url=_mask(request.url.copy_with(query=None)),
        status=response.status_code,
    )


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _e164(raw: Any) -> str:
    """Telegram sends a contact's number in international form, usually without the '+'."""
    value = str(raw or "").strip().replace(" ", "")
    if not value:
        return ""
    if not value.startswith("+"):
        value = "+" + value
    # A number the messenger has verified: take it when it is at least possible (the
    # metadata of `phonenumbers` lags behind new number ranges, e.g. Viber's own example).
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _name(person: dict[str, Any]) -> str:
    first = str(person.get("first_name") or "")
    last = str(person.get("last_name") or "")
    return " ".join(p for p in (first, last) if p)[:120]


def _chunks(text: str, size: int) -> list[str]:
    """Split a long text at line breaks (or spaces) where possible."""
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


class TelegramChannel(Channel):
    kind = "telegram"
    medium = "telegram"
    verbose_name = gettext_lazy("Telegram")
    settings_fields = (
        SettingField(
            "bot_token",
            gettext_lazy("Bot token"),
            secret=True,
            help_text=gettext_lazy("The token @BotFather gave you for the bot."),
        ),
        SettingField(
            "webhook_secret",
            gettext_lazy("Webhook secret"),
            secret=True,
            help_text=gettext_lazy(
                "Any random string of 1–256 letters, digits, '_' or '-'; Telegram sends it with "
                "every update so we know the call is genuine."
            ),
        ),
        SettingField(
            "bot_username",
            gettext_lazy("Bot user name"),
            required=False,
            help_text=gettext_lazy("Without the @; used for t.me links that open the bot."),
        ),
        SettingField(
            "api_url",
            gettext_lazy("Bot API address"),
            required=False,
            help_text=gettext_lazy("Leave empty for https://api.telegram.org."),
        ),
        SettingField(
            "max_event_age_seconds",
            gettext_lazy("Ignore messages older than (seconds)"),
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

    def deep_link(self, start_param: str) -> str:
        """``https://t.me/<bot>?start=<param>``: opens the bot; pressing Start sends
        ``/start <param>``, which arrives with ``data["start"] = param``."""
        username = self.setting("bot_username").lstrip("@")
        if not username:
            raise ChannelNotConfigured(_("The Telegram channel has no bot user name."))
        if not _START_PARAM.match(start_param):
            raise ValueError("a Telegram start parameter is 1-64 characters A-Z, a-z, 0-9, _ and -")
        return f"https://t.me/{username}?start={start_param}"

    # --- the API ---------------------------------------------------------------------------
    def _client(self) -> httpx.Client:
        client = http.client()
        client.event_hooks = {"request": [], "response": [_log_response]}
        return client

    def _scrub(self, text: str, token: str) -> str:
        return _mask(text.replace(token, "***"))

    def _call(
        self,
        method: str,
        *,
        data: dict[str, Any] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        client: httpx.Client | None = None,
    ) -> Any:
        """One Bot API call; returns ``result`` or raises `ChannelError` by Telegram's rules."""
        token = self.secret("bot_token")
        url = f"{self.api_url}/bot{token}/{method}"
        try:
            if client is None:
                with self._client() as own:
                    response = self._post(own, url, data, files)
            else:
                response = self._post(client, url, data, files)
        except httpx.HTTPError as exc:
            raise ChannelError(
                _("Telegram could not be reached: %(error)s")
                % {"error": self._scrub(str(exc) or type(exc).__name__, token)},
                code="network",
            ) from None
        return self._result(response, token)

    @staticmethod
    def _post(client: httpx.Client, url: str, data, files) -> httpx.Response:
        if files:
            # multipart: every other parameter is a form field (reply_markup as JSON text).
            form = {
                k: (json.dumps(v) if isinstance(v, (dict, list)) else str(v))
                for k, v in (data or {}).items()
            }
            return client.post(url, data=form, files=files)
        return client.post(url, json=data or {})

    def _result(self, response: httpx.Response, token: str) -> Any:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get("ok") is True:
            return payload.get("result")
        status = response.status_code
        if isinstance(payload, dict):
            code = int(payload.get("error_code") or status)
            description = str(payload.get("description") or "")
            parameters = payload.get("parameters") or {}
        else:
            code, description, parameters = status, response.text[:200], {}
        message = _("Telegram error %(code)s: %(description)s") % {
            "code": code,
            "description": self._scrub(description, token),
        }
        if code in (401, 404):
            raise ChannelError(
                _(
                    "Telegram rejected the bot token (%(description)s). Check the token in the channel settings."
                )
                % {"description": self._scrub(description, token)},
                channel_broken=True,
                code=str(code),
            )
        if code == 429:
            retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
            raise ChannelError(
                message,
                rate_limited=True,
                code="429",
                retry_after=float(retry_after) if retry_after is not None else None,
            )
        if 400 <= code < 500:
            raise ChannelError(message, permanent=True, code=str(code))
        raise ChannelError(message, code=str(code))

    # --- send ------------------------------------------------------------------------------
    def send(self, message: OutgoingMessage) -> SendResult:
        chat_id = message.to.strip()
        if not chat_id:
            raise ChannelError(_("No Telegram chat to send to."), permanent=True)
        steps: list[tuple[str, dict[str, Any], dict[str, tuple[str, bytes, str]] | None]] = []
        text = message.text or ""
        caption = ""
        if message.media and len(text) <= MAX_CAPTION:
            caption = text
        else:
            for part in _chunks(text, MAX_TEXT):
                steps.append(("sendMessage", {"chat_id": chat_id, "text": part}, None))
        for i, media in enumerate(message.media):
            steps.append(self._media_step(chat_id, media, caption if i == 0 else ""))
        if not steps:
            raise ChannelError(_("Nothing to send: the message has no text."), permanent=True)
        if message.buttons:
            steps[-1][1]["reply_markup"] = {
                "keyboard": [[{"text": b[:100]}] for b in message.buttons],
                "one_time_keyboard": True,
                "resize_keyboard": True,
            }
        ids = []
        with self._client() as client:
            for method, data, files in steps:
                result = self._call(method, data=data, files=files, client=client)
                if not isinstance(result, dict) or "message_id" not in result:
                    raise ChannelError(_("Telegram answered without a message id."))
                chat = result.get("chat") or {}
                ids.append(f"{chat.get('id', chat_id)}:{result['message_id']}")
        # The last part's id, as for Viber (where that part's receipt means all of it arrived).
        return SendResult(external_id=ids[-1], status="delivered")

    def _media_step(self, chat_id: str, media: OutgoingMedia, caption: str):
        content_type = (media.content_type or "").split(";")[0].strip().lower()
        size = len(media.content) if media.content is not None else None
        as_photo = content_type in PHOTO_TYPES and (size is None or size <= MAX_PHOTO_UPLOAD)
        method, field = ("sendPhoto", "photo") if as_photo else ("sendDocument", "document")
        data: dict[str, Any] = {"chat_id": chat_id}
        if caption:
            data["caption"] = caption
        if media.content is not None:
            if size is not None and size > MAX_DOCUMENT_UPLOAD:
                raise ChannelError(
                    _("%(name)s is too large for Telegram (50 MB at most).")
                    % {"name": media.filename},
                    permanent=True,
                )
            files = {
                field: (
                    media.filename or "file",
                    media.content,
                    content_type or "application/octet-stream",
                )
            }
            return method, data, files
        if not media.url:
            raise ChannelError(
                _("%(name)s has neither content nor a link.") % {"name": media.filename},
                permanent=True,
            )
        data[field] = media.url
        return method, data, None

    # --- webhook ---------------------------------------------------------------------------
    def configure_webhook(self, url: str) -> None:
        secret = self.secret("webhook_secret")
        if not _SECRET_TOKEN.match(secret):
            raise ChannelError(
                _(
                    "The Telegram webhook secret may only contain letters, digits, '_' and '-' "
                    "(1–256 characters)."
                ),
                permanent=True,
                code="webhook_secret",
            )
        self._call(
            "setWebhook",
            data={"url": url, "secret_token": secret, "allowed_updates": list(ALLOWED_UPDATES)},
        )

    # --- in --------------------------------------------------------------------------------
    def parse_inbound(self, request: InboundRequest) -> InboundResult:
        if request.method.upper() != "POST":
            raise InboundRejected("Telegram posts updates", status=405)
        try:
            secret = self.secret("webhook_secret")
        except ChannelNotConfigured as exc:
            raise InboundRejected(str(exc), status=503) from None
        given = request.header("x-telegram-bot-api-secret-token")
        if not given or not hmac.compare_digest(given.encode(), secret.encode()):
            raise InboundRejected("bad secret token")
        try:
            update = json.loads(request.body)
            update_id = int(update["update_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InboundRejected("malformed update", status=400) from exc
        event_id = f"update:{update_id}"
        if isinstance(update.get("message"), dict):
            return self._message(event_id, update["message"], edited=False)
        if isinstance(update.get("edited_message"), dict):
            return self._message(event_id, update["edited_message"], edited=True)
        if isinstance(update.get("callback_query"), dict):
            return self._callback(event_id, update["callback_query"])
        return InboundResult()

    def _check_age(self, when: datetime | None) -> None:
        limit = self.max_age()
        if limit is None:
            return
        if when is None:
            raise InboundRejected("update without a date", status=400)
        if time.time() - when.timestamp() > limit:
            raise InboundRejected("stale update")

    @staticmethod
    def _private(chat: dict[str, Any]) -> bool:
        """A one-to-one chat with a person (the samples in Telegram's webhook guide predate
        ``Chat.type``; a person's chat id is positive, a group's negative)."""
        chat_type = chat.get("type")
        if chat_type is not None:
            return chat_type == "private" and chat.get("id") is not None
        try:
            return int(chat.get("id")) > 0
        except (TypeError, ValueError):
            return False

    def _message(self, event_id: str, msg: dict[str, Any], *, edited: bool) -> InboundResult:
        when = _timestamp(msg.get("edit_date") if edited else msg.get("date")) or _timestamp(
            msg.get("date")
        )
        self._check_age(when)
        chat = msg.get("chat") or {}
        if not self._private(chat):
            return InboundResult()
        sender = msg.get("from") or chat
        if sender.get("is_bot"):
            return InboundResult()
        text = str(msg.get("text") or msg.get("caption") or "")
        data: dict[str, Any] = {}
        media: list[InboundMedia] = []
        sender_phone = ""
        if edited:
            data["edited"] = True
        if msg.get("message_id") is not None:
            data["telegram_message_id"] = msg["message_id"]
        if msg.get("text"):
            start = _START.match(text)
            if start and start.group(1):
                data["start"] = start.group(1)
        photo = msg.get("photo")
        if isinstance(photo, list) and photo:
            largest = max(
                photo,
                key=lambda p: (
                    p.get("file_size") or 0,
                    (p.get("width") or 0) * (p.get("height") or 0),
                ),
            )
            media.append(
                InboundMedia(
                    ref=str(largest["file_id"]),
                    content_type="image/jpeg",
                    filename=f"photo_{largest.get('file_unique_id') or largest['file_id'][:16]}.jpg",
                    size=largest.get("file_size"),
                )
            )
        for key in _FILE_KEYS:
            item = msg.get(key)
            if isinstance(item, dict) and item.get("file_id"):
                content_type = str(item.get("mime_type") or _DEFAULT_TYPES.get(key, ""))
                filename = str(item.get("file_name") or "")
                if not filename:
                    ext = mimetypes.guess_extension(content_type) or ""
                    filename = f"{key}_{item.get('file_unique_id') or 'file'}{ext}"
                media.append(
                    InboundMedia(
                        ref=str(item["file_id"]),
                        content_type=content_type or "application/octet-stream",
                        filename=filename[:200],
                        size=item.get("file_size"),
                    )
                )
                break
        sticker = msg.get("sticker")
        if isinstance(sticker, dict):
            data["sticker"] = str(sticker.get("emoji") or "")
            text = text or data["sticker"]
        location = msg.get("location")
        if isinstance(location, dict):
            data["location"] = {
                "latitude": location.get("latitude"),
                "longitude": location.get("longitude"),
            }
        contact = msg.get("contact")
        if isinstance(contact, dict):
            phone = _e164(contact.get("phone_number"))
            own = contact.get("user_id") is not None and contact.get("user_id") == sender.get("id")
            data["contact"] = {
                "phone": phone or str(contact.get("phone_number") or ""),
                "name": _name(contact),
                "own": own,
            }
            if own:
                sender_phone = phone
        return InboundResult(
            messages=(
                InboundMessage(
                    event_id=event_id,
                    sender=str(chat["id"]),
                    text=text[:MAX_TEXT],
                    media=tuple(media),
                    sender_name=_name(sender),
                    sender_phone=sender_phone,
                    external_id=f"{chat['id']}:{msg.get('message_id')}",
                    occurred_at=when,
                    data=data,
                ),
            )
        )

    def _callback(self, event_id: str, query: dict[str, Any]) -> InboundResult:
        person = query.get("from") or {}
        chat = (query.get("message") or {}).get("chat") or {}
        if chat and not self._private(chat):
            return InboundResult()
        sender = chat.get("id", person.get("id"))
        if sender is None:
            raise InboundRejected("callback query without a sender", status=400)
        answer = json.dumps({"method": "answerCallbackQuery", "callback_query_id": query.get("id")})
        return InboundResult(
            messages=(
                InboundMessage(
                    event_id=event_id,
                    sender=str(sender),
                    text=str(query.get("data") or "")[:MAX_TEXT],
                    sender_name=_name(person),
                    external_id=f"callback:{query.get('id')}",
                    data={"callback_query": True},
                ),
            ),
            response_body=answer.encode(),
            content_type="application/json",
        )

    # --- media -----------------------------------------------------------------------------
    def fetch_media(self, media: InboundMedia) -> FetchedMedia:
        from slotwise.messaging.media import max_bytes

        limit = min(self.max_media_bytes, max_bytes(), MAX_DOWNLOAD)
        too_large = ChannelError(
            _("The file %(name)s is larger than %(limit)s MB.")
            % {"name": media.filename or media.ref, "limit": limit // (1024 * 1024)},
            permanent=True,
            code="too_large",
        )
        if media.size is not None and media.size > limit:
            raise too_large
        token = self.secret("bot_token")
        with self._client() as client:
            info = self._call("getFile", data={"file_id": media.ref}, client=client)
            if not isinstance(info, dict) or not info.get("file_path"):
                raise ChannelError(
                    _("Telegram gave no download path for %(name)s.")
                    % {"name": media.filename or media.ref},
                    permanent=True,
                )
            if (info.get("file_size") or 0) > limit:
                raise too_large
            url = f"{self.api_url}/file/bot{token}/{info['file_path']}"
            try:
                with client.stream("GET", url) as response:
                    if response.status_code != 200:
                        # getFile has just accepted the token: a failing download is this file's
                        # problem (its path lives an hour), or Telegram's (5xx), not the channel's.
                        raise ChannelError(
                            _("Telegram refused the download of %(name)s (HTTP %(status)s).")
                            % {"name": media.filename or media.ref, "status": response.status_code},
                            permanent=response.status_code < 500,
                            code=str(response.status_code),
                        )
                    length = response.headers.get("content-length")
                    if length and length.isdigit() and int(length) > limit:
                        raise too_large
                    content = bytearray()
                    for chunk in response.iter_bytes():
                        content += chunk
                        if len(content) > limit:
                            raise too_large
            except httpx.HTTPError as exc:
                raise ChannelError(
                    _("Telegram could not be reached: %(error)s")
                    % {"error": self._scrub(str(exc) or type(exc).__name__, token)},
                    code="network",
                ) from None
        content_type = (
            media.content_type
            or mimetypes.guess_type(str(info["file_path"]))[0]
            or "application/octet-stream"
        )
        filename = media.filename or str(info["file_path"]).rsplit("/", 1)[-1]
        return FetchedMedia(content=bytes(content), content_type=content_type, filename=filename)
