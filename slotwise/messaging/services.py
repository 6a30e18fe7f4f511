"""Queue messages in the outbox; the worker sends them (nothing is sent inside a request)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import OutboundMessage


def sms_queue(*, to: str, body: str, purpose: str = "", organisation=None) -> OutboundMessage:
    """Write the SMS to the outbox and enqueue its delivery once the transaction commits."""
    from .tasks import deliver_message

    message = OutboundMessage.objects.create(
        organisation=organisation,
        channel="sms",
        provider=settings.SMS_PROVIDER,
        to=to,
        body=body,
        purpose=purpose,
    )
    transaction.on_commit(lambda: deliver_message.enqueue(message.pk))
    return message


MAX_ATTEMPTS = 5


def message_deliver(*, message_id: int) -> OutboundMessage | None:
    """Send one pending message. Safe to call twice: a sent message is not sent again.

    A transient provider error is recorded (attempt count, last error) and then raised, so the
    task can retry later; after MAX_ATTEMPTS, or on a permanent error, the message is FAILED."""
    from .sms import SmsError, sms_providers

    transient: SmsError | None = None
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None or message.status != OutboundMessage.Status.PENDING:
            return message
        message.attempts += 1
        provider = sms_providers.create(message.provider)
        try:
            result = provider.send(
                to=message.to, body=message.body, idempotency_key=str(message.idempotency_key)
            )
        except SmsError as exc:
            message.last_error = str(exc)[:2000]
            if exc.permanent or message.attempts >= MAX_ATTEMPTS:
                message.status = OutboundMessage.Status.FAILED
            else:
                transient = exc
            message.save()
        else:
            message.status = OutboundMessage.Status.SENT
            message.provider_message_id = result.provider_message_id
            message.sent_at = timezone.now()
            message.save()
    if transient is not None:
        raise transient  # recorded above; the caller re-enqueues with a delay
    return message
