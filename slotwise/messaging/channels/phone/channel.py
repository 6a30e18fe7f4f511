"""Phone calls on the contact's timeline, from a telephony provider's webhook.

Implemented for Twilio Voice: set this channel's inbound URL as the phone number's (or the
TwiML app's) *Call status changes* callback. Twilio then POSTs a status callback (form fields
CallSid, From, To, Direction, CallStatus, CallDuration, RecordingUrl …) signed with
`X-Twilio-Signature` exactly as its messaging webhooks are (`twilio/api.py`).

Only a final status makes a call entry: completed, busy, no-answer, failed, canceled. The
progress steps (initiated, ringing, in-progress, queued) are accepted and ignored. Each entry
is an `InboundMessage(kind="call")` whose sender is the customer's number — From for an incoming
call, To for one we made (Direction outbound-api / outbound-dial) — with the details in `data`.
Event id `call:<CallSid>:<CallStatus>`: a replayed callback is dropped by the inbox (Twilio signs
no timestamp, so there is no age check).

Nothing can be sent through this channel (`send` fails permanently); calls we make by hand are
logged with `forms.CallLogForm` on the contact card.
"""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..base import (
    ChannelError,
    InboundMessage,
    InboundRejected,
    InboundRequest,
    InboundResult,
    OutgoingMessage,
    SendResult,
    SettingField,
)
from ..twilio.channel import EMPTY_TWIML, TwilioWebhookChannel

FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
OUTBOUND_DIRECTIONS = ("outbound-api", "outbound-dial", "outbound")

STATUS_LABELS = {
    "completed": _("answered"),
    "busy": _("busy"),
    "no-answer": _("no answer"),
    "failed": _("failed"),
    "canceled": _("cancelled"),
}


def duration_text(seconds: int) -> str:
    minutes, rest = divmod(max(0, seconds), 60)
    if minutes and rest:
        return gettext("%(m)d min %(s)d s") % {"m": minutes, "s": rest}
    if minutes:
        return gettext("%(m)d min") % {"m": minutes}
    return gettext("%(s)d s") % {"s": rest}


def call_summary(*, direction: str, status: str, duration_s: int | None) -> str:
    """One line for the timeline: "Incoming call, answered, 3 min 12 s"."""
    incoming = direction == "inbound"
    text = gettext("Incoming call") if incoming else gettext("Outgoing call")
    label = STATUS_LABELS.get(status)
    text = f"{text}, {label}" if label else f"{text}, {status}"
    if duration_s:
        text = f"{text}, {duration_text(duration_s)}"
    return text


class PhoneChannel(TwilioWebhookChannel):
    kind = "phone"
    medium = "phone"
    verbose_name = _("Phone calls (Twilio Voice)")
    supports_media = False
    settings_fields = (
        SettingField("account_sid", _("Account SID"), help_text=_("Starts with AC.")),
        SettingField(
            "auth_token",
            _("Auth token"),
            secret=True,
            help_text=_("Twilio signs its call status callbacks with it."),
        ),
        SettingField(
            "api_url",
            _("API address"),
            required=False,
            help_text=_("Leave empty for https://api.twilio.com."),
        ),
    )

    def send(self, message: OutgoingMessage) -> SendResult:
        raise ChannelError(
            gettext("A phone call cannot be sent as a message; log the call instead."),
            permanent=True,
        )

    def parse_inbound(self, request: InboundRequest) -> InboundResult:
        params = self.authenticated_params(request)
        call_sid = params.get("CallSid", "")
        status = params.get("CallStatus", "").lower()
        if not call_sid or not status:
            raise InboundRejected("no CallSid or CallStatus", status=400)
        reply = {"response_body": EMPTY_TWIML, "content_type": "text/xml"}
        if status not in FINAL_STATUSES:
            return InboundResult(**reply)
        direction = params.get("Direction", "inbound").lower()
        outbound = direction in OUTBOUND_DIRECTIONS or direction.startswith("outbound")
        customer = params.get("To" if outbound else "From", "")
        if not customer:
            raise InboundRejected("no customer number", status=400)
        try:
            duration = int(params.get("CallDuration") or 0)
        except ValueError:
            duration = 0
        data = {
            "direction": "outbound" if outbound else "inbound",
            "provider_direction": direction,
            "status": status,
            "duration_s": duration,
            "recording_url": params.get("RecordingUrl", ""),
            "call_sid": call_sid,
            "our_number": params.get("From" if outbound else "To", ""),
        }
        message = InboundMessage(
            event_id=f"call:{call_sid}:{status}",
            sender=customer,
            text=call_summary(direction=data["direction"], status=status, duration_s=duration),
            sender_phone=customer if customer.startswith("+") else "",
            sender_name=params.get("CallerName", "") if not outbound else "",
            external_id=call_sid,
            kind="call",
            data=data,
        )
        return InboundResult(messages=(message,), **reply)
