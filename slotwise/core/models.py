"""Shared base models. Business models inherit `TimeStamped` and, when they belong to one
organisation, `OrgScoped`, so every query can be narrowed by organisation in one place."""

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class TimeStamped(models.Model):
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True


class PublicId(models.Model):
    """An unguessable id for anything a customer reaches by a link (never the sequential pk)."""

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        abstract = True


class OrgScoped(TimeStamped):
    organisation = models.ForeignKey(
        "org.Organisation",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("organisation"),
    )

    class Meta:
        abstract = True


class WorkerHeartbeat(models.Model):
    """Written every few seconds by each running task worker; /healthz reads the newest."""

    worker_id = models.CharField(max_length=64, unique=True)
    seen_at = models.DateTimeField()
    started_at = models.DateTimeField()

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")

    def __str__(self) -> str:
        return f"{self.worker_id} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"
