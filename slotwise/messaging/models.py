"""The outbox: every message we send is first a row here, written in the same transaction as the
change that caused it; the worker delivers it afterwards with retries (ARCHITECTURE rule 3)."""

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from slotwise.core.models import TimeStamped


class OutboundMessage(TimeStamped):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    organisation = models.ForeignKey(
        "org.Organisation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("organisation"),
    )
    channel = models.CharField(_("channel"), max_length=20)
    provider = models.CharField(_("provider"), max_length=40)
    to = models.CharField(_("to"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body = models.TextField(_("body"))
    purpose = models.CharField(_("purpose"), max_length=40, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    provider_message_id = models.CharField(_("provider message id"), max_length=255, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbox")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.channel} → {self.to}: {self.body[:40]}"
