"""The channel boundary: one class per messaging service, frozen dataclasses in and out, so
nothing past this line sees a provider's payloads or a Django model (as payments/providers/base).

A channel is built per organisation from its `ChannelConfig.settings`; secrets come from the
environment variables those settings name (`self.secret("token")` reads `settings["token_env"]`),
never from the database.

Lifecycle:
1. `send(message)` — deliver one `OutgoingMessage` and return the provider's message id.
   Raise `ChannelError(permanent=...)`: a permanent error fails the message (and, for errors
   that mean the channel itself is broken — bad credentials — `channel_broken=True` disables the
   channel and tells the admin); anything else is retried with back-off. `rate_limited=True`
   (HTTP 429) backs off without counting an attempt. Send the outbox idempotency key where the
   provider takes one.
2. `parse_inbound(request)` — authenticate an inbound webhook (signature, secret token,
   timestamp) and turn it into `InboundMessage`s and `StatusUpdate`s; raise `InboundRejected`
   (nothing is written) if it is not authentic or stale. Every item carries an `event_id` unique
   for that provider, so a replay is recognised and ignored. A verification handshake (Meta's
   GET hub.challenge) returns `InboundResult(response_body=...)` with no items.
3. `fetch_media(media)` — download one inbound attachment (the worker calls it, never a request).
4. `configure_webhook(url)` — tell the provider where to call (Telegram setWebhook, Viber
   set_webhook); a no-op where the URL is set in the provider's console.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _


class ChannelError(Exception):
    """Sending failed. `permanent`: retrying this message won't help. `channel_broken`: the
    channel itself is unusable (credentials revoked, account blocked) and is disabled.
    `rate_limited`: the provider asked us to slow down (retry later, attempt not counted)."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        channel_broken: bool = False,
        rate_limited: bool = False,
        code: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent or channel_broken
        self.channel_broken = channel_broken
        self.rate_limited = rate_limited
        self.code = code
        self.retry_after = retry_after


class ChannelNotConfigured(ChannelError):
    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True, channel_broken=True)


class InboundRejected(Exception):
    """An inbound call that is not authentic (signature, secret token, stale timestamp)."""

    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


# --- out ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutgoingMedia:
    """A file to send. `url` is a signed, absolute, time-limited link to the stored file (for
    providers that fetch media themselves: WhatsApp `link`, Twilio `MediaUrl`); `content` is the
    bytes (for providers that take an upload: Telegram multipart, SMTP attachments)."""

    filename: str
    content_type: str
    url: str = ""
    content: bytes | None = None


@dataclass(frozen=True, slots=True)
class TemplateRef:
    """A provider-approved template (WhatsApp: first contact and outside the 24-hour window)."""

    name: str
    language: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    to: str  # the address on this channel: E.164 phone, e-mail, chat id, Viber id, IGSID …
    text: str = ""
    subject: str = ""  # e-mail only
    media: tuple[OutgoingMedia, ...] = ()
    template: TemplateRef | None = None
    idempotency_key: str = ""
    message_id: str = ""  # our public id (UUID string)
    buttons: tuple[str, ...] = ()  # quick-reply choices where the channel has them (bot steps)


@dataclass(frozen=True, slots=True)
class SendResult:
    external_id: str
    status: str = "sent"  # "sent", or "delivered" when the provider says so at once


# --- in -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboundRequest:
    method: str
    body: bytes
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    url: str  # absolute URL as the provider called it (Twilio signs it)
    remote_addr: str = ""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True, slots=True)
class InboundMedia:
    ref: str  # provider media id, file id or URL, whatever `fetch_media` needs
    content_type: str = ""
    filename: str = ""
    size: int | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    event_id: str  # unique per provider (the message id, update id …): replays are dropped
    sender: str  # the sender's address on this channel (identity external id)
    text: str = ""
    media: tuple[InboundMedia, ...] = ()
    sender_name: str = ""
    sender_phone: str = ""  # E.164 when the provider tells us (WhatsApp, SMS, Viber contact)
    sender_email: str = ""
    external_id: str = ""  # the provider's message id (defaults to event_id)
    occurred_at: datetime | None = None
    kind: str = "text"  # "text", "call"
    data: Mapping[str, Any] = field(default_factory=dict)  # e.g. call duration, subject


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    event_id: str
    external_id: str  # the provider's id of a message we sent
    status: str  # "sent", "delivered", "read", "failed"
    error: str = ""
    permanent: bool = True  # for "failed": retrying won't help (the default for a provider's word)
    channel_broken: bool = False
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InboundResult:
    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()
    response_body: bytes = b""
    response_status: int = 200
    content_type: str = "text/plain"


@dataclass(frozen=True, slots=True)
class FetchedMedia:
    content: bytes
    content_type: str
    filename: str = ""


@dataclass(frozen=True, slots=True)
class SettingField:
    """One setting an admin fills in on the channel settings page. `secret=True` fields hold the
    NAME of an environment variable (stored as `<name>_env`), never the secret itself."""

    name: str
    label: Any
    secret: bool = False
    required: bool = True
    help_text: Any = ""


class Channel:
    kind: ClassVar[str] = ""
    #: the identity kind addresses on this channel belong to (customers.IdentityKind), e.g. a
    #: Twilio SMS channel addresses "phone", Telegram "telegram".
    medium: ClassVar[str] = ""
    verbose_name: ClassVar[Any] = ""
    settings_fields: ClassVar[tuple[SettingField, ...]] = ()
    supports_media: ClassVar[bool] = True
    #: WhatsApp: free-form text only within 24 hours of the customer's last message.
    window_hours: ClassVar[int | None] = None
    max_media_bytes: ClassVar[int] = 16 * 1024 * 1024
    #: reject inbound events older than this (a replayed capture); None: the provider's
    #: payload has no trustworthy time and replays are caught by event id alone.
    max_event_age_seconds: ClassVar[int | None] = 24 * 3600

    def __init__(
        self,
        *,
        settings: Mapping[str, Any] | None = None,
        inbound_url: str = "",
        organisation_id: int | None = None,
    ) -> None:
        self.settings = dict(settings or {})
        self.inbound_url = inbound_url
        self.organisation_id = organisation_id

    # --- configuration ---
    def setting(self, name: str, default: str = "") -> str:
        value = self.settings.get(name, default)
        return "" if value is None else str(value)

    def secret(self, name: str) -> str:
        """The secret named by settings["<name>_env"], read from the environment."""
        env_name = self.settings.get(f"{name}_env", "")
        value = os.environ.get(env_name, "") if env_name else ""
        if not value:
            raise ChannelNotConfigured(
                str(_("Channel setting %(name)s: environment variable %(env)s is not set."))
                % {"name": name, "env": env_name or "—"}
            )
        return value

    def missing_settings(self) -> list[str]:
        """Names of required settings (or secret variables) that are not available."""
        missing = []
        for f in self.settings_fields:
            if not f.required:
                continue
            if f.secret:
                env_name = self.settings.get(f"{f.name}_env", "")
                if not env_name or not os.environ.get(env_name):
                    missing.append(f.name)
            elif not self.setting(f.name):
                missing.append(f.name)
        return missing

    # --- lifecycle ---
    def send(self, message: OutgoingMessage) -> SendResult:
        raise NotImplementedError

    def parse_inbound(self, request: InboundRequest) -> InboundResult:
        raise InboundRejected("this channel takes no inbound calls", status=404)

    def fetch_media(self, media: InboundMedia) -> FetchedMedia:
        raise ChannelError("this channel has no media to fetch", permanent=True)

    def configure_webhook(self, url: str) -> None:
        return None
