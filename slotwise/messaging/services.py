"""System messages to a bare address (login codes, links to pay): written to the outbox in the
caller's transaction and sent by the worker's dispatcher (`outbox.py`). Messages in a
conversation go through `outbox.message_queue`; notifications to a contact through
`notify.notify`."""

from __future__ import annotations

import contextlib
import contextvars
import smtplib
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from .models import Message

# Inside `outbox_batch()`: the system messages queued so far, written together when it ends.
_batch: contextvars.ContextVar[list[Message] | None] = contextvars.ContextVar(
    "outbox_batch", default=None
)


@contextlib.contextmanager
def outbox_batch():
    """Inside the block `sms_queue` and `email_queue` collect their messages and the block
    writes them in one insert when it ends without an error (a pump's batch of notifications;
    the block must be inside the caller's transaction). If the block fails nothing is written.
    The messages returned inside it have no primary key until then."""
    messages: list[Message] = []
    token = _batch.set(messages)
    try:
        yield
    finally:
        _batch.reset(token)
    if messages:
        Message.objects.bulk_create(messages)


def _queue(message: Message) -> Message:
    batch = _batch.get()
    if batch is None:
        message.save(force_insert=True)
    else:
        batch.append(message)
    return message


def sms_queue(
    *,
    to: str,
    body: str,
    purpose: str = "",
    organisation=None,
    contact=None,
    fallback: list | None = None,
    data: dict | None = None,
) -> Message:
    """Write the SMS to the outbox and its delivery job, in the caller's transaction.
    `contact`, `fallback`, `data`: set by notifications (`notify.notify`), in the same insert."""
    return _queue(
        Message(
            organisation=organisation,
            contact=contact,
            channel="sms",
            provider=settings.SMS_PROVIDER,
            to=to,
            body=body,
            purpose=purpose,
            fallback=fallback or [],
            data=data or {},
            next_attempt_at=timezone.now(),
        )
    )


def email_queue(
    *,
    to: str,
    subject: str,
    body: str,
    purpose: str = "",
    organisation=None,
    contact=None,
    fallback: list | None = None,
    data: dict | None = None,
) -> Message:
    """Write the e-mail to the outbox and its delivery job, in the caller's transaction.

    Delivered by `message_deliver` through Django's mail API (EMAIL_BACKEND: SMTP in production,
    the console in the demo); the outbox idempotency key is the Message-ID, so a receiving system
    can drop a duplicate if a worker dies between sending and recording."""
    return _queue(
        Message(
            organisation=organisation,
            channel="email",
            provider="django",
            contact=contact,
            to=to,
            subject=subject[:255],
            body=body,
            purpose=purpose,
            fallback=fallback or [],
            data=data or {},
            next_attempt_at=timezone.now(),
        )
    )


# The outbox's sender (kept importable from here for existing callers).
from .outbox import message_deliver  # noqa: E402,F401


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
