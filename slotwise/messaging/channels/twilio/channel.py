"""SMS and MMS through Twilio Programmable Messaging.

Out: `POST {api_url}/2010-04-01/Accounts/{AccountSid}/Messages.json` (form To, From or
MessagingServiceSid, Body, MediaUrl repeated for MMS, StatusCallback), HTTP basic auth with the
Account SID and auth token, the outbox idempotency key in `I-Twilio-Idempotency-Token`.
Twilio's error code decides what a failure means (`api.classify`): a wrong token or sender
disables the channel, a bad or unsubscribed (STOP) recipient fails the message, 429/20429 backs
off, 5xx and network errors are retried.

In: one webhook address for both the "A message comes in" webhook and the status callbacks —
the status callback URL we send with every message is the inbound URL plus `?event=status`.
Every call carries `X-Twilio-Signature` over the URL and the form (see `api.py`); a bad one is
rejected. Twilio signs no timestamp, so `max_event_age_seconds` is None and replays are caught
by event id alone: the MessageSid for a message, MessageSid + status for a status callback.
We answer with empty TwiML (`<Response/>`): no automatic reply from Twilio's side.

Media: an MMS carries `MediaUrl0…` (Twilio's API, basic auth, redirecting to its CDN);
`fetch_media` downloads one, never more than `max_media_bytes` (Twilio's own MMS limit).
"""

from __future__ import annotations

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
from . import api

log = structlog.get_logger("slotwise.messaging.twilio")

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'

#: Twilio MessageStatus → ours. queued/accepted/scheduled/sending are steps before "sent" that
#: tell us nothing new (our row is already "sent" once Twilio accepted it).
STATUS_MAP = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
}
#: Delivery errors where a later try may go through (Twilio's queue overflowed, unknown error).
TRANSIENT_DELIVERY_CODES = {"30001", "30008"}
DELIVERY_ERRORS = {
    "30001": _("Queue overflow"),
    "30002": _("Twilio account suspended"),
    "30003": _("Unreachable destination handset"),
    "30004": _("Message blocked"),
    "30005": _("Unknown destination handset"),
    "30006": _("Landline or unreachable carrier"),
    "30007": _("Message filtered by the carrier"),
    "30008": _("Unknown error"),
}


def twilio_channel_error(exc: api.TwilioApiError) -> ChannelError:
    """The outbox's view of a failed Twilio call (shared with the phone channel)."""
    if exc.kind == "broken":
        message = gettext("Twilio refused the account or the sender: %(detail)s")
    elif exc.kind == "permanent":
        message = gettext("Twilio will not deliver this message: %(detail)s")
    elif exc.kind == "rate_limited":
        message = gettext("Twilio asks us to slow down: %(detail)s")
    else:
        message = gettext("Twilio could not be reached, will retry: %(detail)s")
    return ChannelError(
        message % {"detail": str(exc)},
        permanent=exc.kind == "permanent",
        channel_broken=exc.kind == "broken",
        rate_limited=exc.kind == "rate_limited",
        code=str(exc.code or exc.status or ""),
        retry_after=exc.retry_after,
    )


class TwilioWebhookChannel(Channel):
    """What the Twilio channels share: credentials and webhook authentication (SMS and Voice
    sign their webhooks the same way)."""

    max_event_age_seconds = None

    def credentials(self) -> api.Credentials:
        return api.Credentials(
            account_sid=self.setting("account_sid"),
            auth_token=self.secret("auth_token"),
            api_url=self.setting("api_url") or api.DEFAULT_API_URL,
        )

    def authenticated_params(self, request: InboundRequest) -> dict[str, str]:
        """The webhook's parameters once its signature checks out (POST form, or the query of
        a GET webhook, whose signature covers the URL alone)."""
        if request.method.upper() == "POST":
            pairs = api.form_pairs(request.body)
        else:
            pairs = []
        signature = request.header("x-twilio-signature")
        token = self.secret("auth_token")
        if not api.signature_valid(request.url, pairs, signature, token):
            raise InboundRejected("bad X-Twilio-Signature")
        params = dict(pairs) if pairs else {k: str(v) for k, v in request.query.items()}
        account = self.setting("account_sid")
        if params.get("AccountSid") and account and params["AccountSid"] != account:
            raise InboundRejected("webhook for another Twilio account")
        return params


class TwilioSmsChannel(TwilioWebhookChannel):
    kind = "twilio"
    medium = "phone"
    verbose_name = _("SMS (Twilio)")
    settings_fields = (
        SettingField("account_sid", _("Account SID"), help_text=_("Starts with AC.")),
        SettingField(
            "auth_token",
            _("Auth token"),
            secret=True,
            help_text=_("Also signs Twilio's webhooks (X-Twilio-Signature)."),
        ),
        SettingField(
            "from_number",
            _("Sender number (E.164, e.g. +46701234567)"),
            required=False,
            help_text=_("A Twilio number of this account; or give a Messaging Service SID."),
        ),
        SettingField(
            "messaging_service_sid",
            _("Messaging Service SID"),
            required=False,
            help_text=_("Starts with MG; used instead of the sender number when given."),
        ),
        SettingField(
            "api_url",
            _("API address"),
            required=False,
            help_text=_("Leave empty for https://api.twilio.com (a local stand-in in the demo)."),
        ),
    )
    max_media_bytes = 5 * 1024 * 1024  # Twilio's MMS limit

    def missing_settings(self) -> list[str]:
        missing = super().missing_settings()
        if not (self.setting("from_number") or self.setting("messaging_service_sid")):
            missing.append("from_number")
        return missing

    # --- out --------------------------------------------------------------------------------
    def status_callback_url(self) -> str:
        if not self.inbound_url:
            return ""
        separator = "&" if "?" in self.inbound_url else "?"
        return f"{self.inbound_url}{separator}event=status"

    def form(self, message: OutgoingMessage) -> list[tuple[str, str]]:
        text = message.text
        if message.buttons:
            # SMS has no quick replies: the choices go into the text, the customer types one.
            text = "\n".join([text, "", *[f"• {b}" for b in message.buttons]]).strip()
        media_urls = [m.url for m in message.media if m.url]
        skipped = [m.filename for m in message.media if not m.url]
        if skipped:
            log.warning("twilio media without url skipped", files=skipped)
        if not text and not media_urls:
            raise ChannelError(gettext("Nothing to send: no text and no media."), permanent=True)
        form: list[tuple[str, str]] = [("To", message.to)]
        if self.setting("messaging_service_sid"):
            form.append(("MessagingServiceSid", self.setting("messaging_service_sid")))
        elif self.setting("from_number"):
            form.append(("From", self.setting("from_number")))
        else:
            raise ChannelError(
                gettext("Twilio channel: no sender number or Messaging Service SID set."),
                channel_broken=True,
            )
        if text:
            form.append(("Body", text))
        form.extend(("MediaUrl", url) for url in media_urls)
        callback = self.status_callback_url()
        if callback:
            form.append(("StatusCallback", callback))
        return form

    def send(self, message: OutgoingMessage) -> SendResult:
        form = self.form(message)
        try:
            resource = api.create_message(
                self.credentials(), form, idempotency_key=message.idempotency_key
            )
        except api.TwilioApiError as exc:
            raise twilio_channel_error(exc) from exc
        sid = resource.get("sid")
        if not sid:
            raise ChannelError(gettext("Twilio answered without a message id."))
        return SendResult(external_id=str(sid), status="sent")

    # --- in ---------------------------------------------------------------------------------
    def parse_inbound(self, request: InboundRequest) -> InboundResult:
        params = self.authenticated_params(request)
        sid = params.get("MessageSid") or params.get("SmsMessageSid") or params.get("SmsSid")
        if not sid:
            raise InboundRejected("no MessageSid", status=400)
        is_status = request.query.get("event") == "status" or (
            "Body" not in params and params.get("MessageStatus", "received") != "received"
        )
        if is_status:
            update = self._status(sid, params)
            return self._reply(statuses=(update,) if update else ())
        return self._reply(messages=(self._message(sid, params),))

    def _reply(self, **items) -> InboundResult:
        return InboundResult(**items, response_body=EMPTY_TWIML, content_type="text/xml")

    def _message(self, sid: str, params: dict[str, str]) -> InboundMessage:
        sender = params.get("From", "")
        if not sender:
            raise InboundRejected("no From", status=400)
        try:
            count = max(0, min(int(params.get("NumMedia") or 0), 10))
        except ValueError:
            count = 0
        media = tuple(
            InboundMedia(
                ref=params[f"MediaUrl{i}"],
                content_type=params.get(f"MediaContentType{i}", ""),
            )
            for i in range(count)
            if params.get(f"MediaUrl{i}")
        )
        data = {"to": params.get("To", "")}
        for key, name in (
            ("OptOutType", "opt_out"),
            ("NumSegments", "segments"),
            ("FromCountry", "country"),
        ):
            if params.get(key):
                data[name] = params[key]
        return InboundMessage(
            event_id=sid,
            sender=sender,
            text=params.get("Body", "")[:4096],
            media=media,
            sender_phone=sender if sender.startswith("+") else "",
            external_id=sid,
            kind="text",
            data=data,
        )

    def _status(self, sid: str, params: dict[str, str]) -> StatusUpdate | None:
        raw = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
        status = STATUS_MAP.get(raw)
        if status is None:
            return None
        error = ""
        code = params.get("ErrorCode", "")
        if status == "failed":
            label = DELIVERY_ERRORS.get(code)
            error = gettext("Twilio: %(status)s, error %(code)s%(label)s") % {
                "status": raw,
                "code": code or "—",
                "label": f" ({label})" if label else "",
            }
        return StatusUpdate(
            event_id=f"status:{sid}:{raw}",
            external_id=sid,
            status=status,
            error=error,
            permanent=code not in TRANSIENT_DELIVERY_CODES,
            channel_broken=code == "30002",
        )

    # --- media ------------------------------------------------------------------------------
    def fetch_media(self, media: InboundMedia) -> FetchedMedia:
        if not media.ref.startswith(("https://", "http://")):
            raise ChannelError(gettext("Not a Twilio media address."), permanent=True)
        try:
            got = api.download(
                media.ref, credentials=self.credentials(), max_bytes=self.max_media_bytes
            )
        except api.TooLarge as exc:
            raise ChannelError(
                gettext("The file is larger than %(limit)s MB.")
                % {"limit": self.max_media_bytes // (1024 * 1024)},
                permanent=True,
            ) from exc
        except api.TwilioApiError as exc:
            raise twilio_channel_error(exc) from exc
        return FetchedMedia(
            content=got.content,
            content_type=got.content_type or media.content_type,
            filename=got.filename or media.filename,
        )
