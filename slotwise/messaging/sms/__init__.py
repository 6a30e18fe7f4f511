"""SMS providers behind a registry. `console` (the default) writes the message to the log; the
outbox row itself is what an admin sees. Real providers (Twilio) register here too."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from slotwise.core.registry import Registry


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str


class SmsError(Exception):
    """Delivery failed; `permanent` says whether retrying could help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmsProvider:
    kind = ""

    def send(self, *, to: str, body: str, idempotency_key: str) -> SendResult:
        raise NotImplementedError


sms_providers: Registry[SmsProvider] = Registry(
    "sms",
    {
        "console": "slotwise.messaging.sms.console.ConsoleSmsProvider",
        "twilio": "slotwise.messaging.sms.twilio.TwilioSmsProvider",
    },
)


def get_sms_provider() -> SmsProvider:
    return sms_providers.create(settings.SMS_PROVIDER)
