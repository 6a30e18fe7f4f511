"""Twilio Programmable Messaging adapter (REST API 2010-04-01).

POST {TWILIO_API_URL}/2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded To/From/Body,
HTTP basic auth (Account SID, auth token), with `I-Twilio-Idempotency-Token` so a retried send
is not delivered twice. 201 → the message `sid`; 4xx → permanent failure (Twilio's `message`),
except 429 (rate limited); 5xx, 429 and network errors → transient (the outbox retries).
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
from django.conf import settings

from slotwise.core import http

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

    def _url(self) -> str:
        return (
            f"{self.api_url}/2010-04-01/Accounts/{quote(self.account_sid, safe='')}/Messages.json"
        )

    def send(self, *, to: str, body: str, idempotency_key: str) -> SendResult:
        if not (self.account_sid and self.auth_token and self.from_):
            raise SmsError(
                "Twilio is not configured (TWILIO_ACCOUNT_SID/AUTH_TOKEN/FROM).", permanent=True
            )
        try:
            with http.client() as client:
                response = client.post(
                    self._url(),
                    data={"To": to, "From": self.from_, "Body": body},
                    auth=(self.account_sid, self.auth_token),
                    headers={
                        "I-Twilio-Idempotency-Token": idempotency_key,
                        "Accept": "application/json",
                    },
                )
        except httpx.TimeoutException as exc:
            raise SmsError(f"Twilio timed out: {exc}", permanent=False) from exc
        except httpx.HTTPError as exc:
            raise SmsError(f"Twilio unreachable: {exc}", permanent=False) from exc

        payload = _json(response)
        if response.status_code in (200, 201):
            sid = payload.get("sid") if isinstance(payload, dict) else None
            if not sid:
                raise SmsError("Twilio answered without a message sid.", permanent=False)
            return SendResult(provider_message_id=str(sid))
        detail = ""
        if isinstance(payload, dict):
            detail = str(payload.get("message") or "")
            if payload.get("code"):
                detail = f"{detail} (Twilio error {payload['code']})".strip()
        detail = detail or response.text[:500]
        message = f"Twilio HTTP {response.status_code}: {detail}"
        if 400 <= response.status_code < 500 and response.status_code != 429:
            raise SmsError(message, permanent=True)
        raise SmsError(message, permanent=False)


def _json(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return None
