"""E-mail: SMTP out through Django's mail API, in through Mailgun's inbound webhook or the local
SMTP receiver (`smtp_receiver.py`, the demo's).

Out: one SMTP connection per channel (its own host, port, user, TLS and password variable);
with no host, Django's default mailer (EMAIL_BACKEND / MAILERS: the console in the demo, the
locmem outbox in tests). The outbox idempotency key is in the Message-ID
(`<key@sender's domain>`) and in `X-Slotwise-Idempotency-Key`, so a receiving system can drop
the duplicate if a worker dies between sending and recording. Attachments travel as files
(`OutgoingMedia.content`).

Threading: no In-Reply-To/References. The channel sees one `OutgoingMessage` and no database,
and the message has no field for the customer's last Message-ID; replies find their contact by
their From address anyway, and the subject carries the thread for the customer's mail program.

Errors: a refused recipient fails the message; refused credentials or a refused sender address
disable the channel; a 5xx answer to the message itself (too large, rejected as spam) fails the
message; anything else (connection refused, time-outs, 4xx "try later") is retried.

In (Mailgun): see `mailgun.py`. The signature covers a timestamp, so a call older than
`max_age_seconds` (default 300) is rejected as stale; the Message-ID is the event id, so a
replay within that window is ignored by the inbox.
"""

from __future__ import annotations

import base64
import binascii
import smtplib
import ssl
from datetime import UTC, datetime
from email.utils import parseaddr

from django.conf import settings as django_settings
from django.core import mail
from django.core.mail.backends.smtp import EmailBackend
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..base import (
    Channel,
    ChannelError,
    FetchedMedia,
    InboundMedia,
    InboundRejected,
    InboundRequest,
    InboundResult,
    OutgoingMessage,
    SendResult,
    SettingField,
)
from . import mailgun
from .mime import message_from_email

DEFAULT_MAX_AGE = 300
SMTP_TIMEOUT = 30


def _flag(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class EmailChannel(Channel):
    kind = "email"
    medium = "email"
    verbose_name = _("E-mail")
    settings_fields = (
        SettingField(
            "from_address",
            _("Sender address"),
            help_text=_("Also the address customers write to, e.g. Salon <hello@example.com>."),
        ),
        SettingField(
            "host",
            _("SMTP server"),
            required=False,
            help_text=_("Leave empty to send through the server's default mail settings."),
        ),
        SettingField("port", _("SMTP port"), required=False, help_text=_("587, 465 or 25.")),
        SettingField("username", _("SMTP user name"), required=False),
        SettingField("password", _("SMTP password"), secret=True, required=False),
        SettingField(
            "use_tls", _("STARTTLS (true/false)"), required=False, help_text=_("Port 587.")
        ),
        SettingField(
            "use_ssl",
            _("TLS from the start (true/false)"),
            required=False,
            help_text=_("Port 465."),
        ),
        SettingField(
            "webhook_signing_key",
            _("Mailgun webhook signing key"),
            secret=True,
            required=False,
            help_text=_("For mail received through Mailgun's inbound route."),
        ),
        SettingField(
            "max_age_seconds",
            _("Reject inbound calls older than (seconds)"),
            required=False,
            help_text=_("Default 300."),
        ),
    )
    max_event_age_seconds = DEFAULT_MAX_AGE
    max_media_bytes = 25 * 1024 * 1024

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        try:
            self.max_age = int(self.setting("max_age_seconds") or DEFAULT_MAX_AGE)
        except ValueError:
            self.max_age = DEFAULT_MAX_AGE
        self.max_event_age_seconds = self.max_age

    # --- out --------------------------------------------------------------------------------
    def from_address(self) -> str:
        return self.setting("from_address") or django_settings.DEFAULT_FROM_EMAIL

    def domain(self) -> str:
        return parseaddr(self.from_address())[1].rpartition("@")[2] or "slotwise.local"

    def message_id(self, idempotency_key: str) -> str:
        return f"<{idempotency_key}@{self.domain()}>"

    def connection(self):
        """The channel's own SMTP connection, or Django's default mailer without a host."""
        host = self.setting("host")
        if not host:
            return mail.mailers.default
        password = ""
        if self.settings.get("password_env"):
            password = self.secret("password")
        port = self.setting("port")
        return EmailBackend(
            alias=f"channel-{self.organisation_id or 0}-email",
            host=host,
            port=int(port) if port else None,
            username=self.setting("username") or None,
            password=password or None,
            use_tls=_flag(self.setting("use_tls")),
            use_ssl=_flag(self.setting("use_ssl")),
            timeout=SMTP_TIMEOUT,
        )

    def build(self, message: OutgoingMessage) -> mail.EmailMessage:
        key = message.idempotency_key or message.message_id
        headers = {"Message-ID": self.message_id(key)} if key else {}
        if message.idempotency_key:
            headers["X-Slotwise-Idempotency-Key"] = message.idempotency_key
        text = message.text
        if message.buttons:
            text = "\n".join([text, "", *[f"• {b}" for b in message.buttons]]).strip()
        email = mail.EmailMessage(
            subject=message.subject or gettext("Message"),
            body=text,
            from_email=self.from_address(),
            to=[message.to],
            reply_to=[self.from_address()],
            headers=headers,
        )
        for media in message.media:
            if media.content is not None:
                email.attach(media.filename or "file", media.content, media.content_type or None)
        return email

    def send(self, message: OutgoingMessage) -> SendResult:
        if not message.to or "@" not in message.to:
            raise ChannelError(
                gettext("Not an e-mail address: %(to)s") % {"to": message.to}, permanent=True
            )
        email = self.build(message)
        try:
            connection = self.connection()
            connection.send_messages([email])
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelError(
                gettext("The mail server refused the recipient: %(detail)s") % {"detail": exc},
                permanent=True,
                code="recipient_refused",
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelError(
                gettext("The mail server refused the user name or password: %(detail)s")
                % {"detail": exc},
                channel_broken=True,
                code=str(exc.smtp_code),
            ) from exc
        except smtplib.SMTPSenderRefused as exc:
            raise ChannelError(
                gettext("The mail server refused the sender address: %(detail)s") % {"detail": exc},
                channel_broken=True,
                code=str(exc.smtp_code),
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise ChannelError(
                gettext("The mail server does not support this connection: %(detail)s")
                % {"detail": exc},
                channel_broken=True,
            ) from exc
        except smtplib.SMTPDataError as exc:
            permanent = 500 <= exc.smtp_code < 600
            raise ChannelError(
                gettext("The mail server did not take the message: %(detail)s") % {"detail": exc},
                permanent=permanent,
                code=str(exc.smtp_code),
            ) from exc
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise ChannelError(
                gettext("E-mail not sent, will retry: %(detail)s") % {"detail": exc}
            ) from exc
        return SendResult(external_id=email.extra_headers.get("Message-ID", ""), status="sent")

    # --- in (Mailgun) -------------------------------------------------------------------------
    def parse_inbound(self, request: InboundRequest) -> InboundResult:
        if request.method.upper() != "POST":
            raise InboundRejected("POST only", status=405)
        signing_key = self.secret("webhook_signing_key")
        fields, files = mailgun.parse_form(request.body, request.header("content-type"))
        timestamp = mailgun.verify(fields, signing_key)
        now = datetime.now(UTC).timestamp()
        if abs(now - timestamp) > self.max_age:
            raise InboundRejected("stale Mailgun timestamp")
        parsed = mailgun.message_from_form(fields, files)
        item = message_from_email(
            parsed,
            fallback_id=f"mailgun:{fields.get('token', '')}",
            stripped_text=fields.get("stripped-text"),
            occurred_at=datetime.fromtimestamp(timestamp, UTC),
        )
        return InboundResult(messages=(item,), response_body=b"ok")

    # --- media ------------------------------------------------------------------------------
    def fetch_media(self, media: InboundMedia) -> FetchedMedia:
        """Attachments came inside the mail as `data:` references (see mime.py)."""
        header, sep, encoded = media.ref.partition(",")
        if not (media.ref.startswith("data:") and sep and header.endswith(";base64")):
            raise ChannelError(gettext("This attachment was not kept."), permanent=True)
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ChannelError(gettext("The attachment is damaged."), permanent=True) from exc
        declared = header[5:].split(";")[0]
        return FetchedMedia(
            content=content,
            content_type=media.content_type or declared,
            filename=media.filename,
        )
