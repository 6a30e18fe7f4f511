"""Inbound: every channel's webhook lands here, is authenticated by the channel, stored raw and
processed by the worker (ARCHITECTURE rule 2).

The request does as little as it can: find the channel by its inbound key, let the channel check
the signature / secret token and parse the payload, drop items older than the channel's
`max_event_age_seconds`, and insert one `InboundEvent` row per item with
`ON CONFLICT (channel, event_id) DO NOTHING` — a replayed event inserts nothing. Answering fast
matters: providers retry (and Meta disables) webhooks that answer slowly.

The worker's messaging pump (`inbound_process_pending`, see `pump.py`) then turns each new event
into its effects in one transaction per event: the contact (matched by identity, phone or
e-mail, else created), the conversation, the Message, attachments to fetch, the delivery status
of a message we sent, and the registered inbound hooks (the onboarding bot). Processing is
idempotent too: an event is marked processed in the same transaction as its effects.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from slotwise.core.tasks import enqueue_with_transaction
from slotwise.customers.models import Contact, Identity

from . import live
from .channels import channels
from .channels.base import (
    Channel,
    ChannelError,
    InboundMedia,
    InboundMessage,
    InboundRejected,
    InboundRequest,
    InboundResult,
    StatusUpdate,
)
from .models import (
    Attachment,
    ChannelConfig,
    Conversation,
    ConversationStatus,
    InboundEvent,
    Message,
    MessageKind,
    MessageStatus,
)

logger = logging.getLogger("slotwise.messaging.inbound")

#: Functions called with (message) for every new inbound message, inside its transaction, after
#: the conversation is updated: the onboarding bot registers here (AppConfig.ready).
INBOUND_HOOKS: list = []

#: A status update for a message whose send is not recorded yet is retried for this long.
STATUS_RETRY = timedelta(minutes=10)


def register_inbound_hook(func) -> None:
    if func not in INBOUND_HOOKS:
        INBOUND_HOOKS.append(func)


def inbound_url(config: ChannelConfig) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/messaging/inbound/{config.kind}/{config.inbound_key}/"


def channel_for(config: ChannelConfig) -> Channel:
    return channels.create(
        config.kind,
        settings=config.settings,
        inbound_url=inbound_url(config),
        organisation_id=config.organisation_id,
    )


# --- the request ----------------------------------------------------------------------------


#: (kind, inbound key) → (monotonic expiry, ChannelConfig): each web process remembers an enabled
#: channel for `MESSAGING_CHANNEL_CACHE_SECONDS` (default 5), sparing every webhook its lookup.
#: Saving or deleting a ChannelConfig clears it in this process; other processes see a disabled
#: channel, a new inbound key or new settings within those seconds.
_CONFIGS: dict[tuple[str, str], tuple[float, ChannelConfig]] = {}
_CONFIGS_MAX = 10_000


def _cache_seconds() -> float:
    return getattr(settings, "MESSAGING_CHANNEL_CACHE_SECONDS", 5)


def _forget_configs(**kwargs) -> None:
    _CONFIGS.clear()


post_save.connect(_forget_configs, sender=ChannelConfig, dispatch_uid="messaging.inbound.configs")
post_delete.connect(
    _forget_configs, sender=ChannelConfig, dispatch_uid="messaging.inbound.configs.delete"
)


def _config_for(kind: str, key: str) -> ChannelConfig | None:
    """The enabled channel with this inbound key (cached, see `_CONFIGS`)."""
    now = time.monotonic()
    hit = _CONFIGS.get((kind, key))
    if hit is not None and hit[0] > now:
        return hit[1]
    config = (
        ChannelConfig.objects.filter(kind=kind, inbound_key=key, enabled=True)
        .only("id", "kind", "settings", "inbound_key", "organisation_id")
        .order_by()
        .first()
    )
    seconds = _cache_seconds()
    if config is not None and seconds > 0:
        if len(_CONFIGS) >= _CONFIGS_MAX:
            _CONFIGS.clear()
        _CONFIGS[(kind, key)] = (now + seconds, config)
    return config


def inbound_receive(*, kind: str, key: str, request: InboundRequest) -> tuple[int, str, bytes]:
    """Authenticate and store one inbound call. Returns (status, content type, body)."""
    config = _config_for(kind, key)
    if config is None or kind not in channels:
        return 404, "text/plain", b"unknown channel"
    channel = channel_for(config)
    try:
        result = channel.parse_inbound(request)
    except InboundRejected as exc:
        logger.warning("inbound rejected: %s %s: %s", kind, config.pk, exc)
        return exc.status, "text/plain", b"rejected"
    except ChannelError as exc:  # the channel lacks its secrets: nothing can be checked
        logger.error("inbound channel %s not usable: %s", config.pk, exc)
        return 503, "text/plain", b"channel not configured"
    inbound_accept(config=config, result=result, channel=channel)
    return result.response_status, result.content_type, result.response_body


def _fresh(item, max_age: int | None, now: datetime) -> bool:
    occurred = item.occurred_at
    if max_age is None or occurred is None:
        return True
    return occurred >= now - timedelta(seconds=max_age)


def _payload(item) -> dict:
    data = asdict(item)
    for key, value in list(data.items()):
        if isinstance(value, datetime):
            data[key] = value.isoformat()
    return data


def inbound_accept(
    *, config: ChannelConfig, result: InboundResult, channel: Channel | None = None
) -> list[int]:
    """Store the items of an authenticated `InboundResult` as events, dropping stale items and
    replays. Returns the ids of the new events. (The local SMTP receiver calls this directly.)"""
    channel = channel or channel_for(config)
    now = timezone.now()
    max_age = channel.max_event_age_seconds
    rows: list[tuple[str, str, str]] = []
    for kind, items in (("message", result.messages), ("status", result.statuses)):
        for item in items:
            if not _fresh(item, max_age, now):
                logger.warning("inbound item too old, ignored: %s", item.event_id)
                continue
            rows.append((item.event_id[:200], kind, json.dumps(_payload(item))))
    if not rows:
        return []
    return _insert_events(config.pk, rows, now)


def _insert_events(channel_id: int, rows: list[tuple[str, str, str]], now) -> list[int]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: one statement, replays insert nothing."""
    table = InboundEvent._meta.db_table
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    values = ", ".join([f"(%s, %s, %s, %s{cast}, %s, '')"] * len(rows))
    params: list = []
    for event_id, kind, payload in rows:
        params += [channel_id, event_id, kind, payload, now]
    sql = (
        f"INSERT INTO {table} (channel_id, event_id, kind, payload, received_at, error) "
        f"VALUES {values} ON CONFLICT (channel_id, event_id) DO NOTHING RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


# --- processing (the worker) -----------------------------------------------------------------


def inbound_process_pending(*, limit: int = 200) -> int:
    """Process up to `limit` unprocessed events, oldest first; returns how many were done.

    The events are claimed with SKIP LOCKED (several workers share the work) and processed in
    ONE transaction, with their contacts, identities and conversations looked up together: a
    batch costs a few statements more than its messages' own inserts, where an event alone
    costs a dozen round trips and a commit (bench inbound: docs/scaling.md). Each sender's
    events stay with one worker at a time (a transaction-level advisory lock per sender on
    PostgreSQL), so two workers neither race to create the same new contact nor reorder one
    person's messages. If anything in the batch fails, it is rolled back as a whole and its
    events are processed one by one (`inbound_process`), so one bad event can't hold back the
    others.

    The batch commits without waiting for the WAL flush (`synchronous_commit = off`, PostgreSQL):
    the events themselves were stored durably by the webhook, and a crash can only lose a
    batch's effects together with its "processed" marks — the events are then processed again."""
    try:
        return _process_batch(limit)
    except _BatchFailed as failed:
        logger.warning("inbound batch failed, processing its events one by one", exc_info=True)
        ids = failed.ids
    done = 0
    for event_id in ids:
        try:
            if inbound_process(event_id=event_id):
                done += 1
        except Exception:
            logger.exception("inbound event %s failed", event_id)
            InboundEvent.objects.filter(pk=event_id, processed_at__isnull=True).update(
                error="failed; see the log", processed_at=timezone.now()
            )
    return done


class _BatchFailed(Exception):
    def __init__(self, ids: list[int]) -> None:
        super().__init__(f"batch of {len(ids)} events failed")
        self.ids = ids


#: event id → monotonic time before which this worker does not claim it again: a status update
#: whose message is not recorded yet waits (STATUS_RETRY) without blocking the queue's head.
_DEFERRED: dict[int, float] = {}
DEFER_SECONDS = 2
_DEFERRED_MAX = 1000


def _deferred_ids() -> list[int]:
    now = time.monotonic()
    for event_id in [k for k, until in _DEFERRED.items() if until <= now]:
        _DEFERRED.pop(event_id, None)
    return list(_DEFERRED)


def _process_batch(limit: int) -> int:
    ids: list[int] = []
    try:
        with transaction.atomic():
            postgres = connection.vendor == "postgresql"
            if postgres:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            qs = InboundEvent.objects.filter(processed_at__isnull=True).order_by("id")
            deferred = _deferred_ids()
            if deferred:
                qs = qs.exclude(pk__in=deferred)
            if connection.features.has_select_for_update_skip_locked:
                qs = qs.select_for_update(skip_locked=True, of=("self",))
            events = list(qs.select_related("channel", "channel__organisation")[:limit])
            if not events:
                return 0
            if postgres:
                events = _lock_senders(events)
            ids = [event.pk for event in events]
            batch = _Batch(events)
            done: list[int] = []
            for event in events:
                if event.kind == "message":
                    _process_message(event, batch)
                elif not _process_status(event, batch):
                    if len(_DEFERRED) < _DEFERRED_MAX:
                        _DEFERRED[event.pk] = time.monotonic() + DEFER_SECONDS
                    continue
                elif event.error:
                    event.save(update_fields=["error"])
                done.append(event.pk)
            if done:
                InboundEvent.objects.filter(pk__in=done).update(processed_at=timezone.now())
            batch.publish()
            return len(done)
    except Exception as exc:
        if not ids:
            raise
        raise _BatchFailed(ids) from exc


def _sender_key(event: InboundEvent) -> int:
    """A 64-bit advisory-lock key for the person (or the sent message) an event is about."""
    payload = event.payload
    if event.kind == "message":
        subject = f"m:{event.channel.organisation_id}:{payload.get('sender', '')}"
    else:
        subject = f"s:{event.channel_id}:{payload.get('external_id', '')}"
    digest = hashlib.blake2b(subject.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_senders(events: list[InboundEvent]) -> list[InboundEvent]:
    """The events whose sender this transaction could lock (pg_try_advisory_xact_lock); the
    others belong to a batch another worker is processing and wait for a later pass."""
    keys = {event.pk: _sender_key(event) for event in events}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT k, pg_try_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k",
            [sorted(set(keys.values()))],
        )
        locked = {key for key, ok in cursor.fetchall() if ok}
    return [event for event in events if keys[event.pk] in locked]


class _Batch:
    """What a batch of events shares: contacts, identities and conversations looked up in a few
    queries for all its senders (and remembered as events create them), and the live updates,
    published once after the commit."""

    def __init__(self, events: list[InboundEvent]) -> None:
        self.contacts: dict[tuple, Contact] = {}  # (organisation, medium, sender) → contact
        self.conversations: dict[tuple, Conversation] = {}  # (contact, channel, address)
        self.live: list[tuple] = []
        self.new_contacts: set[int] = set()  # made by this batch: no conversation to look up
        self._load(events)

    def _load(self, events: list[InboundEvent]) -> None:
        wanted: dict[tuple[int, str], set[str]] = {}
        phones: dict[int, dict[str, list[tuple]]] = {}
        for event in events:
            if event.kind != "message":
                continue
            config = event.channel
            medium = config.medium
            sender = event.payload.get("sender", "")
            wanted.setdefault((config.organisation_id, medium), set()).add(sender)
            phone = event.payload.get("sender_phone") or (sender if medium == "phone" else "")
            if phone:
                org_phones = phones.setdefault(config.organisation_id, {})
                org_phones.setdefault(phone, []).append((config.organisation_id, medium, sender))
        for (organisation_id, medium), senders in wanted.items():
            identities = Identity.objects.filter(
                organisation_id=organisation_id, kind=medium, external_id__in=senders
            ).select_related("contact")
            for identity in identities:
                self.contacts[(organisation_id, medium, identity.external_id)] = identity.contact
        found = {contact.pk for contact in self.contacts.values()}
        self._load_conversations(found, events)
        # Senders without an identity yet: a contact with their phone number is found by
        # `contact_for_sender` (which also links the identity); no contact at all means a new
        # one. Knowing now which phones have no contact spares those events two lookups.
        self.unknown_phones: set[tuple[int, str]] = set()
        for organisation_id, by_phone in phones.items():
            missing = {
                phone
                for phone, keys in by_phone.items()
                if not all(key in self.contacts for key in keys)
            }
            if not missing:
                continue
            known = set(
                Contact.objects.filter(organisation_id=organisation_id, phone__in=missing)
                .order_by()
                .values_list("phone", flat=True)
                .union(
                    Identity.objects.filter(
                        organisation_id=organisation_id, kind="phone", external_id__in=missing
                    )
                    .order_by()
                    .values_list("external_id", flat=True)
                )
                .order_by()
            )
            self.unknown_phones |= {(organisation_id, p) for p in missing - known}

    def _load_conversations(self, contact_ids: set[int], events: list[InboundEvent]) -> None:
        if not contact_ids:
            return
        channel_ids = {event.channel_id for event in events if event.kind == "message"}
        addresses = {event.payload.get("sender", "") for event in events}
        conversations = Conversation.objects.filter(
            contact_id__in=contact_ids, channel_id__in=channel_ids, address__in=addresses
        ).select_related("contact", "team")
        for conversation in conversations:
            key = (conversation.contact_id, conversation.channel_id, conversation.address)
            self.conversations[key] = conversation

    def contact(self, config: ChannelConfig, medium: str, item: InboundMessage) -> Contact:
        key = (config.organisation_id, medium, item.sender)
        contact = self.contacts.get(key)
        if contact is None:
            phone = item.sender_phone or (item.sender if medium == "phone" else "")
            new = (
                bool(phone)
                and (config.organisation_id, phone) in self.unknown_phones
                and not (item.sender_email or medium == "email")
            )
            contact = contact_for_sender(config=config, medium=medium, item=item, new=new)
            self.contacts[key] = contact
            if new:
                self.new_contacts.add(contact.pk)
            if phone:
                self.unknown_phones.discard((config.organisation_id, phone))
        return contact

    def conversation(self, contact: Contact, config: ChannelConfig, address: str):
        key = (contact.pk, config.pk, address)
        conversation = self.conversations.get(key)
        if conversation is None:
            if contact.pk in self.new_contacts:
                conversation = Conversation.objects.create(
                    organisation_id=config.organisation_id,
                    contact=contact,
                    channel=config,
                    address=address,
                    team_id=contact.unit_id,
                )
            else:
                conversation = conversation_for(contact=contact, config=config, address=address)
            self.conversations[key] = conversation
        return conversation

    def publish(self) -> None:
        """The batch's live updates in one send after the commit: each conversation's inbox
        event once, and each message."""
        events: list = []
        seen: set = set()
        for conversation, message in self.live:
            for group, event in live._events(conversation, message):
                if event["type"] == "inbox.changed":
                    if (group, event["conversation"]) in seen:
                        continue
                    seen.add((group, event["conversation"]))
                events.append((group, event))
        if events:
            transaction.on_commit(lambda: live._send(events))


def inbound_process(*, event_id: int) -> bool:
    """Process one event if nobody else is; False if it was taken, done, or must wait."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                qs = InboundEvent.objects.filter(pk=event_id, processed_at__isnull=True)
                if connection.features.has_select_for_update_skip_locked:
                    qs = qs.select_for_update(skip_locked=True, of=("self",))
                event = qs.select_related("channel", "channel__organisation").first()
                if event is None:
                    return False
                if event.kind == "message":
                    _process_message(event)
                elif not _process_status(event):
                    return False
                event.processed_at = timezone.now()
                event.save(update_fields=["processed_at"])
                return True
        except IntegrityError:
            # Two events of a new contact processed at once: the other made the contact (or
            # the conversation) first. Try again: now it is found.
            if attempt == 2:
                raise
    return False


def _message_from(payload: dict) -> InboundMessage:
    media = tuple(InboundMedia(**m) for m in payload.get("media") or ())
    occurred = parse_datetime(payload["occurred_at"]) if payload.get("occurred_at") else None
    return InboundMessage(
        **{
            **payload,
            "media": media,
            "occurred_at": occurred,
            "data": payload.get("data") or {},
        }
    )


def _process_message(event: InboundEvent, batch: _Batch | None = None) -> Message:
    config = event.channel
    item = _message_from(event.payload)
    medium = config.medium
    if batch is not None:
        contact = batch.contact(config, medium, item)
        conversation = batch.conversation(contact, config, item.sender)
    else:
        contact = contact_for_sender(config=config, medium=medium, item=item)
        conversation = conversation_for(contact=contact, config=config, address=item.sender)
    now = timezone.now()
    is_call = item.kind == "call"
    message = Message.objects.create(
        organisation_id=config.organisation_id,
        conversation=conversation,
        contact=contact,
        channel_config=config,
        direction=(
            Message.Direction.OUT
            if str(item.data.get("direction", "")).startswith("out")
            else Message.Direction.IN
        ),
        kind=MessageKind.CALL if is_call else (MessageKind.MEDIA if item.media else "text"),
        channel=medium,
        provider=config.kind,
        to=item.sender,
        subject=str(item.data.get("subject", ""))[:255],
        body=item.text,
        data=_message_data(item, event.payload.get("occurred_at")),
        status=MessageStatus.RECEIVED,
        provider_message_id=(item.external_id or item.event_id)[:255],
    )
    if item.media:
        from .tasks import fetch_attachment

        for media in item.media:
            attachment = Attachment.objects.create(
                organisation_id=config.organisation_id,
                message=message,
                filename=(media.filename or "")[:200],
                content_type=(media.content_type or "")[:100],
                size=media.size,
                source_ref="" if media.ref.startswith("data:") else media.ref[:500],
            )
            if media.ref.startswith("data:"):
                # Inline content (e-mail attachments) is stored at once: there is nothing to fetch.
                from .media import attachment_store_data_uri

                attachment_store_data_uri(attachment=attachment, data_uri=media.ref)
            else:
                enqueue_with_transaction(fetch_attachment, attachment.pk)
    preview = (
        item.text or (item.media[0].filename if item.media else "") or message.get_kind_display()
    )
    updates = {
        "last_message_at": now,
        "last_preview": preview[:200],
        "status": ConversationStatus.OPEN,
    }
    if not is_call:
        updates["last_inbound_at"] = now
        updates["unread_count"] = F("unread_count") + 1
        if conversation.waiting_since is None:
            updates["waiting_since"] = now
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    for name, value in updates.items():
        if name != "unread_count":
            setattr(conversation, name, value)
    conversation.unread_count += 0 if is_call else 1
    for hook in INBOUND_HOOKS:
        hook(message)
    if batch is not None:
        batch.live.append((conversation, message))
    else:
        live.publish(conversation, message)
    return message


def _message_data(item: InboundMessage, occurred_at) -> dict:
    data = {**item.data, "occurred_at": occurred_at}
    return {key: value for key, value in data.items() if value not in (None, "")}


def contact_for_sender(
    *, config: ChannelConfig, medium: str, item: InboundMessage, new: bool = False
) -> Contact:
    """The contact this sender is: by identity on this medium; else by the phone number or
    e-mail address the provider vouches for (linking the identity); else a new contact.
    `new`: the caller already looked (a batch's lookups) and knows there is none."""
    organisation_id = config.organisation_id
    identity = (
        None
        if new
        else Identity.objects.filter(
            organisation_id=organisation_id, kind=medium, external_id=item.sender
        )
        .select_related("contact")
        .first()
    )
    if identity is not None:
        return identity.contact
    contact = None
    phone = item.sender_phone or (item.sender if medium == "phone" else "")
    email = (item.sender_email or (item.sender if medium == "email" else "")).lower()
    if phone and not new:
        contact = (
            Contact.objects.filter(organisation_id=organisation_id, phone=phone).first()
            or Contact.objects.filter(
                organisation_id=organisation_id,
                identities__kind="phone",
                identities__external_id=phone,
            ).first()
        )
    if contact is None and email:
        contact = Contact.objects.filter(
            organisation_id=organisation_id, email__iexact=email
        ).first()
    if contact is None:
        from slotwise.customers.services import timeline_add

        first, _sep, last = (item.sender_name or "").strip().partition(" ")
        contact = Contact.objects.create(
            organisation=config.organisation,
            first_name=(first or _("Unknown"))[:120],
            last_name=last[:120],
            phone=phone,
            email=email,
            language=config.organisation.default_language,
            preferred_channel=_preferred_for(medium),
        )
        if phone and medium != "phone":
            Identity.objects.create(
                organisation_id=organisation_id, contact=contact, kind="phone", external_id=phone
            )
        timeline_add(
            contact=contact,
            kind="contact.created",
            summary=_("Contact created from a message on %(channel)s") % {"channel": config},
        )
    Identity.objects.create(
        organisation_id=organisation_id,
        contact=contact,
        kind=medium,
        external_id=item.sender,
        verified=medium in ("phone", "whatsapp", "email"),
        verified_at=timezone.now() if medium in ("phone", "whatsapp", "email") else None,
    )
    return contact


def _preferred_for(medium: str) -> str:
    from slotwise.customers.models import Channel as PreferredChannel

    if medium == "phone":
        return PreferredChannel.SMS
    return medium if medium in PreferredChannel.values else PreferredChannel.SMS


def conversation_for(*, contact: Contact, config: ChannelConfig, address: str) -> Conversation:
    conversation = (
        Conversation.objects.filter(contact=contact, channel=config, address=address)
        .select_related("contact", "team")
        .first()
    )
    if conversation is None:
        conversation = Conversation.objects.create(
            organisation_id=config.organisation_id,
            contact=contact,
            channel=config,
            address=address,
            team_id=contact.unit_id,
        )
    return conversation


# --- delivery statuses -----------------------------------------------------------------------

RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
}


def _process_status(event: InboundEvent, batch: _Batch | None = None) -> bool:
    payload = event.payload
    occurred = parse_datetime(payload["occurred_at"]) if payload.get("occurred_at") else None
    update = StatusUpdate(**{**payload, "occurred_at": occurred})
    message = (
        Message.objects.select_for_update(of=("self",))
        .filter(
            channel_config_id=event.channel_id,
            provider_message_id=update.external_id,
            direction=Message.Direction.OUT,
        )
        .select_related("conversation", "conversation__contact", "conversation__team")
        .first()
    )
    if message is None:
        if timezone.now() - event.received_at < STATUS_RETRY:
            return False  # the send may not be recorded yet; try again on a later pass
        event.error = "no message with this provider id"
        return True
    status_apply(message=message, update=update, config=event.channel, batch=batch)
    return True


def status_apply(
    *, message: Message, update: StatusUpdate, config: ChannelConfig, batch: _Batch | None = None
) -> None:
    """Move a sent message's status forward (never back: a late "sent" after "read" changes
    nothing); a failure after delivery is ignored; a permanent failure tries the next channel."""
    from .outbox import message_failed

    when = update.occurred_at or timezone.now()
    if update.status == "failed":
        if message.status in (MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED):
            return
        message_failed(
            message=message,
            error=update.error or _("The provider could not deliver the message."),
            channel_broken=update.channel_broken,
        )
        return
    new = MessageStatus(update.status) if update.status in MessageStatus.values else None
    if new is None or RANK.get(new, -1) <= RANK.get(message.status, 99):
        return
    fields = ["status", "updated_at"]
    message.status = new
    if new in (MessageStatus.DELIVERED, MessageStatus.READ) and message.delivered_at is None:
        message.delivered_at = when
        fields.append("delivered_at")
    if new == MessageStatus.READ:
        message.read_at = when
        fields.append("read_at")
    if message.sent_at is None:
        message.sent_at = when
        fields.append("sent_at")
    message.save(update_fields=fields)
    if message.conversation_id:
        if batch is not None:
            batch.live.append((message.conversation, message))
        else:
            live.publish(message.conversation, message)
