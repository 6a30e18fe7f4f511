"""Twilio Programmable Messaging for system messages (login codes) behind the `SmsProvider` API.

The request and its error rules are shared with the inbox's Twilio channel
(`slotwise.messaging.channels.twilio.api`): POST …/Accounts/{AccountSid}/Messages.json with
To/From/Body, HTTP basic auth, `I-Twilio-Idempotency-Token` so a retried send is recognisable.
A 2xx answer gives the message `sid`; a wrong account, sender or recipient is permanent; 429,
5xx and network errors are transient (the outbox retries).
"""

from __future__ import annotations

from django.conf import settings

from slotwise.messaging.channels.twilio import api

from . import SendResult, SmsError, SmsProvider


class TwilioSmsProvider(SmsProvider):
    kind = "twilio"

    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        from_: str | None = None,
        api_url: str | None = None,
    ) -> None:
        self.account_sid = account_sid if account_sid is not None else settings.TWILIO_ACCOUNT_SID
        self.auth_token = auth_token if auth_token is not None else settings.TWILIO_AUTH_TOKEN
        self.from_ = from_ if from_ is not None else settings.TWILIO_FROM
        self.api_url = (api_url if api_url is not None else settings.TWILIO_API_URL).rstrip("/")

    def send(self, *, to: str, body: str, idempotency_key: str) -> SendResult:
        if not (self.account_sid and self.auth_token and self.from_):
            raise SmsError(
                "Twilio is not configured (TWILIO_ACCOUNT_SID/AUTH_TOKEN/FROM).", permanent=True
            )
        credentials = api.Credentials(self.account_sid, self.auth_token, self.api_url)
        try:
            resource = api.create_message(
                credentials,
                [("To", to), ("From", self.from_), ("Body", body)],
                idempotency_key=idempotency_key,
            )
        except api.TwilioApiError as exc:
            raise SmsError(str(exc), permanent=exc.permanent) from exc
        sid = resource.get("sid")
        if not sid:
            raise SmsError("Twilio answered without a message sid.", permanent=False)
        return SendResult(provider_message_id=str(sid))
