import structlog

from . import SendResult, SmsProvider

log = structlog.get_logger("slotwise.sms")


class ConsoleSmsProvider(SmsProvider):
    """Offline provider for the demo and development: the message goes to the log."""

    kind = "console"

    def send(self, *, to: str, body: str, idempotency_key: str) -> SendResult:
        log.info("sms", to=to, body=body, idempotency_key=idempotency_key)
        return SendResult(provider_message_id=f"console-{idempotency_key}")
