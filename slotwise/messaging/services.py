"""Queue messages in the outbox; the worker sends them (nothing is sent inside a request)."""

from __future__ import annotations

import smtplib
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from slotwise.core.tasks import enqueue_with_transaction

from .models import Message


def sms_queue(*, to: str, body: str, purpose: str = "", organisation=None) -> Message:
    """Write the SMS to the outbox and its delivery job, in the caller's transaction."""
    from .tasks import deliver_message

    message = Message.objects.create(
        organisation=organisation,
        channel="sms",
        provider=settings.SMS_PROVIDER,
        to=to,
        body=body,
        purpose=purpose,
    )
    enqueue_with_transaction(deliver_message, message.pk)
    return message


def email_queue(
    *, to: str, subject: str, body: str, purpose: str = "", organisation=None
) -> Message:
    """Write the e-mail to the outbox and its delivery job, in the caller's transaction.

    Delivered by `message_deliver` through Django's mail API (EMAIL_BACKEND: SMTP in production,
    the console in the demo); the outbox idempotency key is the Message-ID, so a receiving system
    can drop a duplicate if a worker dies between sending and recording."""
    from .tasks import deliver_message

    message = Message.objects.create(
        organisation=organisation,
        channel="email",
        provider="django",
        to=to,
        subject=subject[:255],
        body=body,
        purpose=purpose,
    )
    enqueue_with_transaction(deliver_message, message.pk)
    return message


MAX_ATTEMPTS = 5


def message_deliver(*, message_id: int) -> Message | None:
    """Send one pending message. Safe to call twice: a sent message is not sent again.

    A transient provider error is recorded (attempt count, last error) and then raised, so the
    task can retry later; after MAX_ATTEMPTS, or on a permanent error, the message is FAILED."""
    from .sms import SmsError, sms_providers

    transient: SmsError | None = None
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=message_id).first()
        if message is None or message.status != Message.Status.QUEUED:
            return message
        message.attempts += 1
        try:
            if message.channel == "email":
                result = _send_email(message)
            else:
                provider = sms_providers.create(message.provider)
                result = provider.send(
                    to=message.to, body=message.body, idempotency_key=str(message.idempotency_key)
                )
        except SmsError as exc:
            message.last_error = str(exc)[:2000]
            if exc.permanent or message.attempts >= MAX_ATTEMPTS:
                message.status = Message.Status.FAILED
            else:
                transient = exc
            message.save()
        else:
            message.status = Message.Status.SENT
            message.provider_message_id = result.provider_message_id
            message.sent_at = timezone.now()
            message.save()
    if transient is not None:
        raise transient  # recorded above; the caller re-enqueues with a delay
    return message


def _message_id(message: Message) -> str:
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "slotwise.local"
    return f"<{message.idempotency_key}@{domain}>"


def _send_email(message: Message):
    """Send one outbox e-mail with Django's mail API. SMTP failures become SmsError (the outbox's
    provider error): a refused recipient is permanent, anything else (connection refused,
    timeouts, 4xx answers) transient."""
    from .sms import SendResult, SmsError

    message_id = _message_id(message)
    email = EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        headers={
            "Message-ID": message_id,
            "X-Slotwise-Idempotency-Key": str(message.idempotency_key),
        },
    )
    try:
        email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        raise SmsError(f"recipient refused: {exc}", permanent=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise SmsError(f"e-mail not sent: {exc}") from exc
    return SendResult(provider_message_id=message_id)
