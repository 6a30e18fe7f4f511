"""The outbox (ARCHITECTURE rule 3): outgoing messages are rows written in the caller's
transaction; the worker's dispatcher sends them.

Life of an outgoing message:
  queued ──claim──▶ sending ──provider says ok──▶ sent ──status callbacks──▶ delivered ▶ read
     ▲                 │
     └── retry later ──┤ (transient error: back-off 5 s · 2^attempt, at most MAX_ATTEMPTS;
                       │  rate limited: wait, the attempt doesn't count)
                       └──▶ failed (permanent error, or out of attempts) ─▶ next fallback channel

Exactly once, even when a worker dies: the claim (`sending`, `claimed_at`) is a lease. A message
whose worker died after the provider accepted it but before `sent` was recorded stays `sending`;
when the lease (`MESSAGING_CLAIM_LEASE_SECONDS`) runs out another worker claims it again and
sends it with the SAME idempotency key, so a provider that honours keys (Twilio's
`I-Twilio-Idempotency-Token`; e-mail's Message-ID for receiving systems) delivers it once. For
providers without keys (Telegram, Viber, WhatsApp) the duplicate window is only that crash.

Claims use `SELECT … FOR UPDATE SKIP LOCKED`, so any number of workers share the outbox without
sending a message twice. A worker claims a pass of up to 100 messages and makes the provider calls
on `MESSAGING_SEND_THREADS` threads (one recipient's messages in order on one thread): a provider
answers in tens to hundreds of milliseconds, and one call after another a worker would mostly
wait. The pass's sent messages are recorded in one UPDATE (bench outbox: docs/scaling.md). Per-channel rate limits (`ChannelConfig.rate_per_second`) are counted
in the cache across workers; a message over the limit waits for the next second.
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from .channels.base import (
    Channel,
    ChannelError,
    OutgoingMedia,
    OutgoingMessage,
    TemplateRef,
)
from .models import (
    ChannelConfig,
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    MessageStatus,
)

logger = logging.getLogger("slotwise.messaging.outbox")

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 3600


def lease_seconds() -> int:
    return getattr(settings, "MESSAGING_CLAIM_LEASE_SECONDS", 120)


def backoff(attempts: int) -> timedelta:
    seconds = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


# --- writing ---------------------------------------------------------------------------------


def message_queue(
    *,
    conversation: Conversation | None = None,
    channel_config: ChannelConfig | None = None,
    contact=None,
    to: str = "",
    body: str = "",
    subject: str = "",
    purpose: str = "",
    template: dict | None = None,
    buttons: tuple[str, ...] | list[str] = (),
    attachments=(),
    author=None,
    by_bot: bool = False,
    fallback: list | None = None,
    data: dict | None = None,
) -> Message:
    """Write one outgoing message to the outbox, in the caller's transaction. Either a
    `conversation` (its channel and address are used) or a `channel_config` + `to`.
    `attachments`: stored files to send — (filename, content type, bytes) tuples."""
    from .media import attachment_store_bytes

    if conversation is not None:
        channel_config = conversation.channel
        contact = conversation.contact
        to = conversation.address
    if channel_config is None or not to:
        raise ValueError("message_queue needs a conversation, or a channel and an address")
    now = timezone.now()
    extra = dict(data or {})
    if buttons:
        extra["buttons"] = list(buttons)
    message = Message.objects.create(
        organisation_id=channel_config.organisation_id,
        conversation=conversation,
        contact=contact,
        channel_config=channel_config,
        direction=Message.Direction.OUT,
        kind=MessageKind.TEMPLATE if template else (MessageKind.MEDIA if attachments else "text"),
        channel=channel_config.medium,
        provider=channel_config.kind,
        to=to,
        subject=subject[:255],
        body=body,
        purpose=purpose[:40],
        template=template or {},
        data=extra,
        author=author if getattr(author, "is_authenticated", False) else None,
        by_bot=by_bot,
        status=MessageStatus.QUEUED,
        next_attempt_at=now,
        fallback=list(fallback or []),
    )
    for filename, content_type, content in attachments:
        attachment_store_bytes(
            message=message, filename=filename, content_type=content_type, content=content
        )
    if conversation is not None:
        updates = {
            "last_message_at": now,
            "last_preview": (body or subject or (template or {}).get("name", ""))[:200],
            "status": ConversationStatus.OPEN,
        }
        if not by_bot and message.author_id:
            # A person answered: the contact is no longer waiting, and the conversation is read.
            updates.update(waiting_since=None, unread_count=0)
        Conversation.objects.filter(pk=conversation.pk).update(**updates)
        for name, value in updates.items():
            setattr(conversation, name, value)
        from . import live

        live.publish(conversation, message)
    return message


def channel_disable(*, config: ChannelConfig, reason: str) -> bool:
    """Stop using a broken channel and tell the organisation's admins (e-mail and the channel
    page). Returns False if it was already disabled."""
    from slotwise.org.models import Staff
    from slotwise.org.roles import Role

    updated = ChannelConfig.objects.filter(pk=config.pk, disabled_at__isnull=True).update(
        disabled_at=timezone.now(), disabled_reason=reason[:2000]
    )
    if not updated:
        return False
    config.disabled_at, config.disabled_reason = timezone.now(), reason
    logger.error("channel %s (%s) disabled: %s", config.pk, config.kind, reason)
    from .services import email_queue

    admins = Staff.objects.filter(
        organisation_id=config.organisation_id, roles__role=Role.ORG_ADMIN
    ).select_related("user")
    for staff in admins:
        if staff.user.email:
            email_queue(
                to=staff.user.email,
                subject=_("Channel %(name)s was disabled") % {"name": config.name},
                body=_(
                    "Slotwise stopped sending through the channel %(name)s (%(kind)s) because "
                    "the provider reported a permanent error:\n\n%(reason)s\n\nFix the settings "
                    "and enable the channel again on the Channels page."
                )
                % {"name": config.name, "kind": config.kind, "reason": reason},
                purpose="channel.disabled",
                organisation=config.organisation,
            )
    return True


def channel_enable(*, config: ChannelConfig) -> None:
    ChannelConfig.objects.filter(pk=config.pk).update(
        disabled_at=None, disabled_reason="", enabled=True
    )
    config.disabled_at, config.disabled_reason, config.enabled = None, "", True


def message_failed(*, message: Message, error: str, channel_broken: bool = False) -> None:
    """Mark the message failed, disable a broken channel, and queue the next fallback channel
    (notify()'s chain), if any."""
    message.status = MessageStatus.FAILED
    message.last_error = error[:2000]
    message.claimed_at = None
    message.save(update_fields=["status", "last_error", "claimed_at", "updated_at"])
    if channel_broken and message.channel_config_id:
        channel_disable(config=message.channel_config, reason=error)
    _queue_fallback(message)
    if message.conversation_id:
        from . import live

        live.publish(message.conversation, message)
    from .hooks import message_failed_hooks

    for hook in message_failed_hooks:
        hook(message)


def _queue_fallback(message: Message) -> Message | None:
    """Queue the message again on the next channel of its fallback chain (notify()). Entries are
    [channel config id or None for the system sender, address, medium]."""
    from .services import email_queue, sms_queue

    remaining = [list(entry) for entry in (message.fallback or [])]
    templates = (message.data or {}).get("templates", {})
    data = {k: v for k, v in (message.data or {}).items()} | {"fallback_of": str(message.public_id)}
    while remaining:
        config_id, address, *rest = remaining.pop(0)
        medium = rest[0] if rest else ""
        if config_id is None:
            queue = email_queue if medium == "email" else sms_queue
            kwargs = {"subject": message.subject or message.purpose} if medium == "email" else {}
            again = queue(
                to=address,
                body=message.body,
                purpose=message.purpose,
                organisation=message.organisation,
                **kwargs,
            )
            Message.objects.filter(pk=again.pk).update(
                contact=message.contact, fallback=remaining, data=data
            )
            return again
        config = ChannelConfig.objects.filter(
            pk=config_id, enabled=True, disabled_at__isnull=True
        ).first()
        if config is None:
            continue
        conversation = None
        if message.contact_id:
            from .inbound import conversation_for

            conversation = conversation_for(contact=message.contact, config=config, address=address)
        return message_queue(
            conversation=conversation,
            channel_config=config,
            contact=message.contact,
            to=address,
            body=message.body,
            subject=message.subject,
            purpose=message.purpose,
            template=templates.get(str(config_id)) or None,
            buttons=(message.data or {}).get("buttons", ()),
            by_bot=message.by_bot,
            fallback=remaining,
            data={k: v for k, v in data.items() if k != "buttons"},
        )
    return None


# --- sending (the worker) --------------------------------------------------------------------


def _claim(limit: int) -> list[int]:
    now = timezone.now()
    lease_end = now - timedelta(seconds=lease_seconds())
    due = Q(status=MessageStatus.QUEUED, next_attempt_at__lte=now) | Q(
        status=MessageStatus.SENDING, claimed_at__lt=lease_end
    )
    with transaction.atomic():
        qs = Message.objects.filter(due)
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        ids = list(qs.order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit])
        if ids:
            Message.objects.filter(pk__in=ids).update(status=MessageStatus.SENDING, claimed_at=now)
    return ids


def dispatch_due(*, limit: int = 100) -> int:
    """Claim up to `limit` due messages and send them. Returns how many were handled.

    The pass is prepared and recorded on this thread; the provider calls go out on
    `MESSAGING_SEND_THREADS` sending threads (a provider answers in tens to hundreds of
    milliseconds: one call after another, a worker would mostly wait), one recipient's messages
    in order on one thread. The sent messages are recorded in one UPDATE and announced to open
    inboxes in one publish."""
    ids = _claim(limit)
    if not ids:
        return 0
    messages = (
        Message.objects.filter(pk__in=ids, status=MessageStatus.SENDING)
        .select_related(
            "channel_config",
            "conversation",
            "conversation__contact",
            "conversation__team",
            "organisation",
        )
        .prefetch_related("attachments")
        .order_by("id")
    )
    built: dict[int, Channel | ChannelError] = {}
    groups: dict[tuple, list] = {}
    for message in messages:
        try:
            call = _prepare(message, built)
        except ChannelError as exc:
            _record_error(message, exc, message.claimed_at)
            continue
        except Exception:  # a bug must not stop the other messages; the lease retries it
            logger.exception("message %s could not be handled", message.pk)
            continue
        groups.setdefault((message.channel_config_id, message.to), []).append((message, call))
    outcomes = _send_groups(list(groups.values()))
    sent = []
    for message, outcome in outcomes:
        if isinstance(outcome, ChannelError):
            _record_error(message, outcome, message.claimed_at)
        elif isinstance(outcome, Exception):
            logger.error(
                "message %s could not be handled",
                message.pk,
                exc_info=(type(outcome), outcome, outcome.__traceback__),
            )
        else:
            sent.append((message, outcome))
    _record_sent(sent)
    return len(ids)


def send_threads() -> int:
    return max(1, int(getattr(settings, "MESSAGING_SEND_THREADS", 8)))


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=send_threads(), thread_name_prefix="send")
        return _pool


def _prepare(message: Message, built: dict):
    """What sending this message takes, checked on the dispatcher's thread (the channel, the
    rate limit, the attachments read): a callable that makes the provider call."""
    config = message.channel_config
    if config is None:
        return lambda: _send_system(message)
    if not config.enabled or config.disabled_at is not None:
        raise ChannelError(
            _("The channel %(name)s is disabled.") % {"name": config.name}, permanent=True
        )
    if _rate_limited(config):
        raise ChannelError("rate limit", rate_limited=True, retry_after=1)
    channel = built.get(config.pk)
    if channel is None:
        from .inbound import channel_for

        channel = built[config.pk] = channel_for(config)
    outgoing = _outgoing(message)
    return lambda: channel.send(outgoing)


def _send_group(group: list) -> list:
    """One recipient's messages, in order: (message, SendResult | exception) each."""
    outcomes = []
    try:
        for message, call in group:
            try:
                outcomes.append((message, call()))
            except Exception as exc:  # ChannelError: recorded; anything else: the lease
                outcomes.append((message, exc))
    finally:
        if threading.current_thread().name.startswith("send_"):
            connections.close_all()  # a channel that touched the database, on a send thread
    return outcomes


def _send_groups(groups: list) -> list:
    if len(groups) <= 1 or send_threads() == 1:
        return [outcome for group in groups for outcome in _send_group(group)]
    futures = [
        _executor().submit(contextvars.copy_context().run, _send_group, group) for group in groups
    ]
    return [outcome for future in futures for outcome in future.result()]


def _record_sent(sent: list) -> None:
    """Record a pass's sent messages in one UPDATE (only rows still claimed by this pass: a
    message whose lease ran out belongs to whoever claimed it next), then publish."""
    if not sent:
        return
    now = timezone.now()
    by_claim: dict = {}
    for message, result in sent:
        by_claim.setdefault(message.claimed_at, []).append((message, result))
    for claimed_at, rows in by_claim.items():
        delivered = [m.pk for m, r in rows if r.status == "delivered"]
        updated = Message.objects.filter(
            pk__in=[m.pk for m, _r in rows], status=MessageStatus.SENDING, claimed_at=claimed_at
        ).update(
            status=Case(
                When(pk__in=delivered, then=Value(MessageStatus.DELIVERED)),
                default=Value(MessageStatus.SENT),
            ),
            provider_message_id=Case(
                *[When(pk=m.pk, then=Value(r.external_id[:255])) for m, r in rows],
                default=F("provider_message_id"),
            ),
            sent_at=now,
            delivered_at=Case(When(pk__in=delivered, then=Value(now)), default=None),
            attempts=F("attempts") + 1,
            claimed_at=None,
            last_error="",
            updated_at=now,
        )
        if updated != len(rows):
            logger.warning("%s sent messages were claimed again meanwhile", len(rows) - updated)
    _publish([m for m, _r in sent])


def _publish(messages: list[Message]) -> None:
    """One live update for a pass: each conversation's inbox event once, and each message."""
    from . import live

    events: list = []
    seen: set = set()
    for message in messages:
        if not message.conversation_id:
            continue
        for group, event in live._events(message.conversation, message):
            if event["type"] == "inbox.changed":
                if group + event["conversation"] in seen:
                    continue
                seen.add(group + event["conversation"])
            events.append((group, event))
    if events:
        transaction.on_commit(lambda: live._send(events))


def message_deliver(*, message_id: int) -> Message | None:
    """Send one queued message now (tests, and the old per-message task). A message that is
    not queued (sent, failed, or claimed by a worker) is left alone."""
    now = timezone.now()
    claimed = Message.objects.filter(pk=message_id, status=MessageStatus.QUEUED).update(
        status=MessageStatus.SENDING, claimed_at=now
    )
    message = (
        Message.objects.filter(pk=message_id)
        .select_related("channel_config", "conversation", "organisation")
        .first()
    )
    if message is None or not claimed:
        return message
    _send_one(message, {})
    message.refresh_from_db()
    return message


def _rate_limited(config: ChannelConfig) -> bool:
    if not config.rate_per_second:
        return False
    key = f"msgrate:{config.pk}:{int(time.time())}"
    try:
        count = cache.incr(key)
    except ValueError:
        cache.add(key, 0, timeout=5)
        count = cache.incr(key)
    return count > config.rate_per_second


def _outgoing(message: Message) -> OutgoingMessage:
    from .media import signed_url

    template = None
    if message.template:
        template = TemplateRef(
            name=message.template.get("name", ""),
            language=message.template.get("language", ""),
            params=tuple(str(p) for p in message.template.get("params", ())),
        )
    media = []
    for attachment in message.attachments.all():
        if attachment.status != "stored" or not attachment.file:
            continue
        with attachment.file.open("rb") as handle:
            content = handle.read()
        media.append(
            OutgoingMedia(
                filename=attachment.filename,
                content_type=attachment.content_type,
                url=signed_url(attachment),
                content=content,
            )
        )
    return OutgoingMessage(
        to=message.to,
        text=message.body,
        subject=message.subject,
        media=tuple(media),
        template=template,
        idempotency_key=str(message.idempotency_key),
        message_id=str(message.public_id),
        buttons=tuple((message.data or {}).get("buttons", ())),
    )


def _send_one(message: Message, built: dict) -> None:
    claimed_at = message.claimed_at
    config = message.channel_config
    try:
        if config is None:
            result = _send_system(message)
        else:
            if not config.enabled or config.disabled_at is not None:
                raise ChannelError(
                    _("The channel %(name)s is disabled.") % {"name": config.name},
                    permanent=True,
                )
            if _rate_limited(config):
                raise ChannelError("rate limit", rate_limited=True, retry_after=1)
            channel = built.get(config.pk)
            if channel is None:
                from .inbound import channel_for

                channel = built[config.pk] = channel_for(config)
            result = channel.send(_outgoing(message))
    except ChannelError as exc:
        _record_error(message, exc, claimed_at)
        return
    now = timezone.now()
    status = MessageStatus.DELIVERED if result.status == "delivered" else MessageStatus.SENT
    updated = Message.objects.filter(
        pk=message.pk, status=MessageStatus.SENDING, claimed_at=claimed_at
    ).update(
        status=status,
        provider_message_id=result.external_id[:255],
        sent_at=now,
        delivered_at=now if status == MessageStatus.DELIVERED else None,
        attempts=message.attempts + 1,
        claimed_at=None,
        last_error="",
        updated_at=now,
    )
    if updated and message.conversation_id:
        from . import live

        live.publish(message.conversation, message)


def _record_error(message: Message, exc: ChannelError, claimed_at) -> None:
    now = timezone.now()
    with transaction.atomic():
        current = (
            Message.objects.select_for_update(of=("self",))
            .filter(pk=message.pk, status=MessageStatus.SENDING, claimed_at=claimed_at)
            .select_related("channel_config", "conversation", "contact")
            .first()
        )
        if current is None:
            return  # someone else took it over (lease expired): their result counts
        if exc.rate_limited:
            wait = timedelta(seconds=exc.retry_after or 1)
            current.status, current.next_attempt_at, current.claimed_at = (
                MessageStatus.QUEUED,
                now + wait,
                None,
            )
            current.save(update_fields=["status", "next_attempt_at", "claimed_at", "updated_at"])
            return
        current.attempts += 1
        current.last_error = str(exc)[:2000]
        if exc.permanent or current.attempts >= MAX_ATTEMPTS:
            current.save(update_fields=["attempts", "last_error", "updated_at"])
            message_failed(message=current, error=str(exc), channel_broken=exc.channel_broken)
            return
        current.status = MessageStatus.QUEUED
        current.next_attempt_at = now + backoff(current.attempts)
        current.claimed_at = None
        current.save(
            update_fields=[
                "status",
                "attempts",
                "last_error",
                "next_attempt_at",
                "claimed_at",
                "updated_at",
            ]
        )


def _send_system(message: Message):
    """Messages to a bare address (login codes): SMS through settings.SMS_PROVIDER, e-mail
    through Django's mail API."""
    from .channels.base import SendResult
    from .services import _send_email
    from .sms import SmsError, sms_providers

    try:
        if message.channel == "email":
            result = _send_email(message)
        else:
            provider = sms_providers.create(message.provider)
            result = provider.send(
                to=message.to, body=message.body, idempotency_key=str(message.idempotency_key)
            )
    except SmsError as exc:
        raise ChannelError(str(exc), permanent=exc.permanent) from exc
    return SendResult(external_id=result.provider_message_id)
