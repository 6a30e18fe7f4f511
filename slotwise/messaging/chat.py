"""In-app chat: the writes behind the chat pages and the API.

- `chat_message_post` — a customer (portal, S3.9) or a technician (S2.11) writes to the office.
  The message takes the same path an inbound webhook message takes in `inbound._process_message`:
  the conversation (found or created with `inbound.conversation_for`), a Message with direction
  `in` and status `received`, the conversation's counters (unread, waiting since, last message),
  the registered inbound hooks (the onboarding bot) and the live event — so the inbox can't tell
  a chat message from a WhatsApp one, except by its channel.
- Staff answer from the inbox through the outbox; `channels.chat.ChatChannel.send` delivers.
- `conversation_open_for_booking` — the "Message the customer" button of a booking (S0.5).

A chat conversation's address is the contact's public id. The organisation's chat channel
(`ChannelConfig` kind "chat", named "Chat") is created the first time someone needs it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from . import live
from .models import (
    ChannelConfig,
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    MessageStatus,
)

MAX_BODY = 4096  # as the inbox's replies (WhatsApp's text limit)
MAX_FILES = 5

#: channel kinds that carry no conversation with a customer (calls are logged, not sent)
NOT_FOR_CONVERSATIONS = {"phone"}


def channel_config_on_demand(*, organisation_id: int, kind: str, name: str) -> ChannelConfig:
    """The organisation's channel of `kind` (the first, by position), created named `name` when
    it has none. Safe when two requests create it at once (the unique name)."""
    config = (
        ChannelConfig.objects.filter(organisation_id=organisation_id, kind=kind)
        .order_by("position", "id")
        .first()
    )
    if config is not None:
        return config
    try:
        with transaction.atomic():
            return ChannelConfig.objects.create(
                organisation_id=organisation_id, kind=kind, name=name
            )
    except IntegrityError:
        return ChannelConfig.objects.get(organisation_id=organisation_id, kind=kind, name=name)


def chat_config_for(organisation_id: int) -> ChannelConfig:
    return channel_config_on_demand(organisation_id=organisation_id, kind="chat", name=_("Chat"))


def chat_available(config: ChannelConfig) -> bool:
    return config.enabled and config.disabled_at is None


def chat_address(contact) -> str:
    return str(contact.public_id)


def chat_conversation(*, contact, create: bool = True) -> Conversation | None:
    """The contact's chat conversation with their organisation (None if there is none yet and
    `create` is False)."""
    from .inbound import conversation_for

    config = chat_config_for(contact.organisation_id)
    if not create:
        return (
            Conversation.objects.filter(
                contact=contact, channel=config, address=chat_address(contact)
            )
            .select_related("contact", "channel", "team")
            .first()
        )
    try:
        with transaction.atomic():
            conversation = conversation_for(
                contact=contact, config=config, address=chat_address(contact)
            )
    except IntegrityError:  # created by a parallel request
        conversation = conversation_for(
            contact=contact, config=config, address=chat_address(contact)
        )
    conversation.channel = config
    return conversation


def _clean(body: str, files: Iterable) -> tuple[str, list]:
    body = (body or "").strip()
    files = [f for f in (files or ()) if f]
    errors: dict[str, list[str]] = {}
    if not body and not files:
        errors["body"] = [_("Write a message or attach a file.")]
    if len(body) > MAX_BODY:
        errors["body"] = [
            _("Keep the message under %(limit)d characters (it has %(count)d).")
            % {"limit": MAX_BODY, "count": len(body)}
        ]
    if len(files) > MAX_FILES:
        errors["files"] = [_("Attach at most %(limit)d files.") % {"limit": MAX_FILES}]
    if errors:
        raise ValidationError(errors)
    return body, files


def _file_parts(upload) -> tuple[str, str, bytes]:
    """(filename, declared content type, bytes) of an uploaded file or of such a tuple. A file
    over the size limit is refused before it is read into memory."""
    from .media import MediaRejected, max_bytes

    if isinstance(upload, tuple):
        return upload
    size = getattr(upload, "size", None)
    if size is not None and size > max_bytes():
        raise MediaRejected(
            _("The file is too large (%(size)s MB; at most %(limit)s MB).")
            % {"size": round(size / 1_048_576, 1), "limit": round(max_bytes() / 1_048_576, 1)}
        )
    return upload.name, getattr(upload, "content_type", "") or "", upload.read()


@transaction.atomic
def chat_message_post(*, contact, author, body: str = "", files: Iterable = ()) -> Message:
    """The contact (a customer, or a technician's own contact) writes in the chat. `files`:
    uploaded files or (filename, content type, bytes) tuples, checked like every attachment
    (size, type by content); a refused file is a field error and nothing is written."""
    from .inbound import INBOUND_HOOKS
    from .media import MediaRejected, attachment_store_bytes

    body, files = _clean(body, files)
    conversation = chat_conversation(contact=contact)
    config = conversation.channel
    if not chat_available(config):
        raise ValidationError({"body": [_("The chat is switched off at the moment.")]})
    now = timezone.now()
    message = Message.objects.create(
        organisation_id=contact.organisation_id,
        conversation=conversation,
        contact=contact,
        channel_config=config,
        direction=Message.Direction.IN,
        kind=MessageKind.MEDIA if files else MessageKind.TEXT,
        channel=config.medium,
        provider=config.kind,
        to=conversation.address,
        body=body,
        author=author if getattr(author, "is_authenticated", False) else None,
        status=MessageStatus.RECEIVED,
        data={"occurred_at": now.isoformat()},
    )
    message.provider_message_id = f"chat-{message.public_id}"
    Message.objects.filter(pk=message.pk).update(provider_message_id=message.provider_message_id)
    stored = []
    for upload in files:
        filename = upload[0] if isinstance(upload, tuple) else getattr(upload, "name", "")
        try:
            filename, content_type, content = _file_parts(upload)
            stored.append(
                attachment_store_bytes(
                    message=message,
                    filename=filename,
                    content_type=content_type,
                    content=content,
                )
            )
        except MediaRejected as exc:
            # Files already saved by this call are removed with the rolled-back rows.
            for attachment in stored:
                attachment.file.delete(save=False)
            raise ValidationError(
                {"files": [_("%(name)s: %(reason)s") % {"name": filename, "reason": exc}]}
            ) from None
    preview = body or (stored[0].filename if stored else "") or message.get_kind_display()
    updates = {
        "last_message_at": now,
        "last_inbound_at": now,
        "last_preview": preview[:200],
        "status": ConversationStatus.OPEN,
        "unread_count": F("unread_count") + 1,
    }
    if conversation.waiting_since is None:
        updates["waiting_since"] = now
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    for name, value in updates.items():
        if name != "unread_count":
            setattr(conversation, name, value)
    conversation.unread_count += 1
    for hook in INBOUND_HOOKS:
        hook(message)
    live.publish(conversation, message)
    return message


# --- "Message the customer" from a booking (S0.5) ----------------------------------------------


def _medium_of_preference(preferred: str) -> str:
    return "phone" if preferred == "sms" else preferred


def _address_on(contact, medium: str) -> str:
    if medium == "phone":
        return contact.phone
    if medium == "email":
        return contact.email
    identity = contact.identities.filter(kind=medium).values_list("external_id", flat=True).first()
    if identity:
        return identity
    if medium == "whatsapp" and contact.phone:
        return contact.phone.lstrip("+")
    return ""


def preferred_conversation_target(contact) -> tuple[ChannelConfig | None, str]:
    """(channel, address) of the contact's preferred channel if the organisation has it enabled
    and the contact has an address there; else (None, "")."""
    medium = _medium_of_preference(contact.preferred_channel or "")
    address = _address_on(contact, medium) if medium else ""
    if not address:
        return None, ""
    for config in ChannelConfig.objects.filter(
        organisation_id=contact.organisation_id, enabled=True, disabled_at__isnull=True
    ).exclude(kind__in=NOT_FOR_CONVERSATIONS | {"chat"}):
        if config.medium == medium:
            return config, address
    return None, ""


@transaction.atomic
def conversation_open_for_booking(*, booking, actor=None) -> Conversation:
    """The conversation with the booking's customer — on their preferred channel when the
    organisation has it, else the in-app chat — assigned to the booking's staff member (the
    representative who talks with them). Opens the conversation if it is new or closed."""
    from .inbound import conversation_for

    contact = booking.contact
    config, address = preferred_conversation_target(contact)
    if config is None:
        conversation = chat_conversation(contact=contact)
    else:
        conversation = conversation_for(contact=contact, config=config, address=address)
    updates = {"assignee_id": booking.staff_id}
    if conversation.status != ConversationStatus.OPEN:
        updates["status"] = ConversationStatus.OPEN
    changed = {k: v for k, v in updates.items() if getattr(conversation, k) != v}
    if changed:
        Conversation.objects.filter(pk=conversation.pk).update(**changed)
        for name, value in changed.items():
            setattr(conversation, name, value)
        live.publish(conversation)
    return conversation


def inbox_url(conversation) -> str:
    """The conversation in the staff inbox."""
    from django.urls import reverse

    return reverse("inbox:conversation", args=[conversation.public_id])


def chat_mark_read(*, conversation: Conversation) -> int:
    """The contact has the chat open: the office's messages to them are read (the ticks staff
    see in the inbox). Returns how many changed."""
    now = timezone.now()
    qs = Message.objects.filter(
        conversation=conversation,
        direction=Message.Direction.OUT,
        status__in=[MessageStatus.SENT, MessageStatus.DELIVERED],
    )
    changed = qs.filter(delivered_at__isnull=True).update(
        status=MessageStatus.READ, delivered_at=now, read_at=now, updated_at=now
    )
    changed += qs.update(status=MessageStatus.READ, read_at=now, updated_at=now)
    if changed:
        live.publish(conversation)
    return changed
