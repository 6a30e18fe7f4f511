"""Messaging: channels configured per organisation, conversations, messages (the outbox and the
inbox in one table), attachments, raw inbound events, canned replies and verification codes.

`Message` is the outbox (ARCHITECTURE rule 3): an outgoing message is written in the same
transaction as the change that caused it, with status `queued`; the worker's dispatcher claims it
(`sending`, with a lease), sends it with its idempotency key and records `sent`; the provider's
status callbacks move it on to `delivered` / `read` or `failed`. Inbound messages are rows with
direction `in` and status `received`; a staff note is direction `internal`.
"""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from slotwise.core.models import OrgScoped, PublicId, TimeStamped


def _inbound_key() -> str:
    return secrets.token_urlsafe(18)


class ChannelConfig(OrgScoped):
    """One connected channel of an organisation: its kind (the registry key), its settings (names
    of environment variables for secrets, never the secrets) and its inbound webhook address
    `/messaging/inbound/<kind>/<inbound_key>/`."""

    kind = models.CharField(_("kind"), max_length=20)
    name = models.CharField(_("name"), max_length=80)
    enabled = models.BooleanField(_("enabled"), default=True)
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    inbound_key = models.CharField(
        _("inbound key"), max_length=40, unique=True, default=_inbound_key, editable=False
    )
    #: messages per second this channel may send (the provider's rate limit); 0: no limit.
    rate_per_second = models.PositiveIntegerField(_("messages per second"), default=0)
    disabled_reason = models.TextField(_("why it was disabled"), blank=True)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        ordering = ["organisation", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "kind", "name"], name="channelconfig_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name or self.kind

    @property
    def medium(self) -> str:
        """The identity kind this channel addresses (phone, email, telegram …)."""
        from .channels import channels

        cls = channels.get_class(self.kind)
        if self.kind == "console":
            medium = (self.settings or {}).get("medium", "phone")
            return "phone" if medium == "sms" else medium
        return cls.medium


class ConversationStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class Conversation(OrgScoped, PublicId):
    """All messages with one contact over one channel. `bot_active`: a bot flow answers; a
    manager's takeover turns it off. `waiting_since`: the contact's oldest unanswered message."""

    contact = models.ForeignKey(
        "customers.Contact", on_delete=models.CASCADE, related_name="conversations"
    )
    channel = models.ForeignKey(
        ChannelConfig, on_delete=models.PROTECT, related_name="conversations"
    )
    address = models.CharField(_("address"), max_length=255)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ConversationStatus.choices,
        default=ConversationStatus.OPEN,
        db_index=True,
    )
    assignee = models.ForeignKey(
        "org.Staff",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assigned to"),
    )
    team = models.ForeignKey(
        "org.OrgUnit",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("team"),
    )
    bot_active = models.BooleanField(_("bot answers"), default=False)
    unread_count = models.PositiveIntegerField(_("unread"), default=0)
    waiting_since = models.DateTimeField(_("waiting since"), null=True, blank=True)
    last_message_at = models.DateTimeField(_("last message"), null=True, blank=True, db_index=True)
    last_inbound_at = models.DateTimeField(
        _("last message from the contact"), null=True, blank=True
    )
    last_preview = models.CharField(_("last message"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-last_message_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "channel", "address"], name="conversation_unique_per_channel"
            )
        ]
        indexes = [models.Index(fields=["organisation", "status", "-last_message_at"])]

    def __str__(self) -> str:
        return f"{self.contact} · {self.channel}"


class Direction(models.TextChoices):
    IN = "in", _("From the contact")
    OUT = "out", _("To the contact")
    INTERNAL = "internal", _("Internal note")


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    FAILED = "failed", _("Not sent")
    RECEIVED = "received", _("Received")
    NOTE = "note", _("Note")


class MessageKind(models.TextChoices):
    TEXT = "text", _("Text")
    TEMPLATE = "template", _("Template")
    MEDIA = "media", _("Media")
    CALL = "call", _("Phone call")
    NOTE = "note", _("Note")


class Message(TimeStamped, PublicId):
    """One message, in or out. Outgoing rows are the outbox (see the module docstring).

    A message without a conversation is a system message to a bare address (a login code to a
    phone number that has no contact yet); `medium` and `provider` then say how it goes out
    (SMS through settings.SMS_PROVIDER, e-mail through Django's mail)."""

    Status = MessageStatus
    Direction = Direction
    Kind = MessageKind

    organisation = models.ForeignKey(
        "org.Organisation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("organisation"),
    )
    conversation = models.ForeignKey(
        Conversation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
        db_index=False,  # message_conversation (conversation, created_at) serves it
    )
    contact = models.ForeignKey(
        "customers.Contact",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
    )
    channel_config = models.ForeignKey(
        ChannelConfig,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        verbose_name=_("channel"),
    )
    direction = models.CharField(
        _("direction"), max_length=8, choices=Direction.choices, default=Direction.OUT
    )
    kind = models.CharField(
        _("kind"), max_length=10, choices=MessageKind.choices, default=MessageKind.TEXT
    )
    #: the medium: sms, email, whatsapp, telegram … (for system messages: how it goes out)
    channel = models.CharField(_("medium"), max_length=20)
    provider = models.CharField(_("provider"), max_length=40)
    to = models.CharField(_("to"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body = models.TextField(_("body"), blank=True)
    purpose = models.CharField(_("purpose"), max_length=40, blank=True)
    template = models.JSONField(_("template"), default=dict, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("written by"),
    )
    by_bot = models.BooleanField(_("sent by the bot"), default=False)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=MessageStatus.choices,
        default=MessageStatus.QUEUED,
    )
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=255, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    #: notify(): the channel configs still to try, in order, if this one fails.
    fallback = models.JSONField(_("fallback channels"), default=list, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                name="message_outbox_due",
                condition=models.Q(status__in=["queued", "sending"]),
            ),
            models.Index(fields=["conversation", "created_at"], name="message_conversation"),
            models.Index(fields=["provider_message_id"], name="message_provider_id"),
            # A plain b-tree (db_index on a CharField adds a second, LIKE-pattern index that
            # nothing uses, and every message's insert paid for both).
            models.Index(fields=["status"], name="message_status"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.direction} {self.to}: {self.body[:40]}"


class AttachmentStatus(models.TextChoices):
    PENDING = "pending", _("Downloading")
    STORED = "stored", _("Stored")
    REJECTED = "rejected", _("Rejected")


def _attachment_path(instance, filename: str) -> str:
    return f"messaging/{instance.organisation_id}/{instance.public_id}/{filename}"


class Attachment(OrgScoped, PublicId):
    """A file in a message (a document's photo from a driver, a PDF to a customer). Inbound
    files are fetched by the worker, then type- and size-checked before they are kept."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(_("file"), upload_to=_attachment_path, blank=True, max_length=300)
    filename = models.CharField(_("file name"), max_length=200, blank=True)
    content_type = models.CharField(_("type"), max_length=100, blank=True)
    size = models.PositiveIntegerField(_("size"), null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    source_ref = models.CharField(_("provider reference"), max_length=500, blank=True)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=AttachmentStatus.choices,
        default=AttachmentStatus.PENDING,
    )
    rejected_reason = models.CharField(_("why it was rejected"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.filename or str(self.public_id)

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class InboundEvent(models.Model):
    """One authenticated inbound item, stored raw before it is processed. (channel, event_id) is
    unique: a replay of an event we already have is ignored."""

    channel = models.ForeignKey(ChannelConfig, on_delete=models.CASCADE, related_name="+")
    event_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=10)  # "message" or "status"
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("inbound event")
        verbose_name_plural = _("inbound events")
        constraints = [
            models.UniqueConstraint(fields=["channel", "event_id"], name="inbound_event_unique")
        ]
        indexes = [
            models.Index(
                fields=["id"],
                name="inbound_event_unprocessed",
                condition=models.Q(processed_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.event_id}"


class CannedReply(OrgScoped):
    title = models.CharField(_("title"), max_length=80)
    shortcut = models.SlugField(_("shortcut"), max_length=40)
    body = models.TextField(_("text"))
    language = models.CharField(_("language"), max_length=8, blank=True)

    class Meta:
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")
        ordering = ["shortcut"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "shortcut", "language"], name="canned_reply_unique"
            )
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class VerificationCode(OrgScoped):
    """A code sent over a channel we know (SMS) that, typed in another messenger, links that
    messenger to the contact (S1.4). Only a hash is stored; attempts are counted."""

    contact = models.ForeignKey(
        "customers.Contact", on_delete=models.CASCADE, related_name="verification_codes"
    )
    code_hash = models.CharField(max_length=128)
    purpose = models.CharField(max_length=40, default="link")
    offer_version = models.CharField(max_length=40, blank=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("verification code")
        verbose_name_plural = _("verification codes")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.purpose}"
