"""The offline channel: keeps the demo (and development) working with no account anywhere.

It pretends to be any medium (`settings["medium"]`: sms, whatsapp, telegram, email …), writes what
it sends to the log and answers with a message id derived from the idempotency key, so a resend
of the same message is recognisably the same. Inbound: POST JSON {"from", "text", "id"} signed
with HMAC-SHA256 of the body under the `secret` setting's variable (header
`X-Console-Signature`), which is how the demo's "simulate a customer" button and the tests talk
to it.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import structlog
from django.utils.translation import gettext_lazy as _

from ..base import (
    Channel,
    InboundMessage,
    InboundRejected,
    InboundRequest,
    InboundResult,
    OutgoingMessage,
    SendResult,
    SettingField,
)

log = structlog.get_logger("slotwise.messaging.console")


class ConsoleChannel(Channel):
    kind = "console"
    medium = "phone"
    verbose_name = _("Console (offline demo channel)")
    settings_fields = (
        SettingField("medium", _("Pretends to be (sms, whatsapp, telegram, viber, email …)")),
        SettingField("secret", _("Inbound signing secret"), secret=True, required=False),
    )
    max_event_age_seconds = None

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        medium = self.setting("medium", "phone")
        self.medium = "phone" if medium == "sms" else medium
        if self.medium == "whatsapp":
            self.window_hours = 24  # behave like WhatsApp: templates outside the window

    def send(self, message: OutgoingMessage) -> SendResult:
        log.info(
            "console message",
            to=message.to,
            text=message.text,
            template=message.template.name if message.template else "",
            media=[m.filename for m in message.media],
            idempotency_key=message.idempotency_key,
        )
        return SendResult(external_id=f"console-{message.idempotency_key}", status="delivered")

    @staticmethod
    def sign(body: bytes, secret: str) -> str:
        return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    def _phone_of(self, sender: str) -> str:
        """The sender's phone number where the medium vouches for it: an SMS comes from its
        number, a WhatsApp id IS the number without "+" (as the real channel does)."""
        if self.medium == "phone":
            return sender
        if self.medium == "whatsapp" and sender.isdigit():
            return f"+{sender}"
        return ""

    def parse_inbound(self, request: InboundRequest) -> InboundResult:
        secret = self.secret("secret")
        given = request.header("x-console-signature")
        if not given or not hmac.compare_digest(given, self.sign(request.body, secret)):
            raise InboundRejected("bad signature")
        try:
            payload = json.loads(request.body)
            sender, event_id = str(payload["from"]), str(payload["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InboundRejected("malformed body", status=400) from exc
        return InboundResult(
            messages=(
                InboundMessage(
                    event_id=event_id,
                    sender=sender,
                    text=str(payload.get("text", ""))[:4096],
                    sender_name=str(payload.get("name", ""))[:120],
                    sender_phone=self._phone_of(sender),
                ),
            )
        )
