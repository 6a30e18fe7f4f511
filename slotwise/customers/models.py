"""Customers: one contact per person, however many channels they reach us through."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from slotwise.core.models import OrgScoped, PublicId


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    WHATSAPP = "whatsapp", _("WhatsApp")
    VIBER = "viber", _("Viber")
    TELEGRAM = "telegram", _("Telegram")
    INSTAGRAM = "instagram", _("Instagram")


class IdentityKind(models.TextChoices):
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("E-mail")
    WHATSAPP = "whatsapp", _("WhatsApp")
    VIBER = "viber", _("Viber")
    TELEGRAM = "telegram", _("Telegram")
    INSTAGRAM = "instagram", _("Instagram")
    FACEBOOK = "facebook", _("Facebook")
    TWITTER = "twitter", _("X / Twitter")
    LINKEDIN = "linkedin", _("LinkedIn")


class Contact(OrgScoped, PublicId):
    """A customer (or applicant, S1). `unit` set means only that unit and the units below it see
    the contact (S4.5, S4.10); empty means the whole organisation's staff may."""

    unit = models.ForeignKey(
        "org.OrgUnit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("unit"),
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contact",
    )
    first_name = models.CharField(_("first name"), max_length=120)
    last_name = models.CharField(_("last name"), max_length=120, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, db_index=True)
    email = models.EmailField(_("e-mail"), blank=True, db_index=True)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    preferred_channel = models.CharField(
        _("preferred notification channel"),
        max_length=20,
        choices=Channel.choices,
        default=Channel.SMS,
    )
    location = models.ForeignKey(
        "org.Location",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("address"),
    )
    notes = models.TextField(_("notes"), blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "phone"],
                condition=~models.Q(phone=""),
                name="contact_phone_unique_per_org",
            ),
            models.UniqueConstraint(
                fields=["organisation", "email"],
                condition=~models.Q(email=""),
                name="contact_email_unique_per_org",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Identity(OrgScoped):
    """How we know this contact on one channel: a phone number, an e-mail address, a messenger id."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(_("kind"), max_length=20, choices=IdentityKind.choices)
    external_id = models.CharField(_("external id"), max_length=255)
    verified = models.BooleanField(_("verified"), default=False)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "kind", "external_id"], name="identity_unique_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.external_id}"


class Consent(OrgScoped):
    """What the contact accepted, which version, when and through which channel (S1.4)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    kind = models.CharField(_("what was accepted"), max_length=60)
    version = models.CharField(_("version"), max_length=40)
    accepted_at = models.DateTimeField(_("accepted at"))
    channel = models.CharField(_("channel"), max_length=20)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["-accepted_at"]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version}"


class TimelineEntry(OrgScoped):
    """One thing that happened to a contact; every capability writes here (bookings, messages,
    payments, documents) so the contact card tells the whole story."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(_("kind"), max_length=40)
    summary = models.CharField(_("summary"), max_length=300)
    data = models.JSONField(_("data"), default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    occurred_at = models.DateTimeField(_("when"), db_index=True)

    class Meta:
        verbose_name = _("timeline entry")
        verbose_name_plural = _("timeline")
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return self.summary
