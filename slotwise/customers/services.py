"""Writes for contacts, identities, consents and the timeline."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Consent, Contact, Identity, IdentityKind, TimelineEntry
from .phones import to_e164
from .selectors import find_duplicates


def _clean_contact_fields(
    *, organisation, phone: str, email: str, exclude_id=None
) -> tuple[str, str]:
    errors: dict[str, list[str]] = {}
    e164 = ""
    if phone:
        try:
            e164 = to_e164(phone, organisation.country)
        except ValidationError as exc:
            errors["phone"] = exc.messages
    email = (email or "").strip().lower()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [_("Enter a valid e-mail address.")]
    if not errors:
        for field, other in find_duplicates(
            organisation=organisation, phone=e164, email=email, exclude_id=exclude_id
        ):
            errors.setdefault(field, []).append(
                _("Another contact (%(name)s) already has this %(field)s.")
                % {
                    "name": other,
                    "field": _("phone number") if field == "phone" else _("e-mail address"),
                }
            )
    if errors:
        raise ValidationError(errors)
    return e164, email


@transaction.atomic
def contact_create(
    *,
    organisation,
    first_name: str,
    last_name: str = "",
    phone: str = "",
    email: str = "",
    language: str = "",
    preferred_channel: str = "sms",
    unit=None,
    location=None,
    user=None,
    actor=None,
) -> Contact:
    """Create a contact. Bad or duplicate phone/e-mail is a field error; nothing is written."""
    if not (first_name or "").strip():
        raise ValidationError({"first_name": [_("Enter a first name.")]})
    e164, email = _clean_contact_fields(organisation=organisation, phone=phone, email=email)
    contact = Contact.objects.create(
        organisation=organisation,
        unit=unit,
        user=user,
        first_name=first_name.strip(),
        last_name=(last_name or "").strip(),
        phone=e164,
        email=email,
        language=language or organisation.default_language,
        preferred_channel=preferred_channel,
        location=location,
    )
    if e164:
        Identity.objects.create(
            organisation=organisation, contact=contact, kind=IdentityKind.PHONE, external_id=e164
        )
    if email:
        Identity.objects.create(
            organisation=organisation, contact=contact, kind=IdentityKind.EMAIL, external_id=email
        )
    timeline_add(contact=contact, kind="contact.created", summary=_("Contact created"), actor=actor)
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, actor=None, **fields) -> Contact:
    """Change a contact's own data (the customer themselves, S4.13, or staff)."""
    allowed = {
        "first_name",
        "last_name",
        "phone",
        "email",
        "language",
        "preferred_channel",
        "notes",
        "location",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({name: [_("This field cannot be changed here.")] for name in unknown})
    if "first_name" in fields and not (fields["first_name"] or "").strip():
        raise ValidationError({"first_name": [_("Enter a first name.")]})
    phone = fields.get("phone", contact.phone)
    email = fields.get("email", contact.email)
    e164, email = _clean_contact_fields(
        organisation=contact.organisation, phone=phone, email=email, exclude_id=contact.pk
    )
    changed = []
    for name, value in {**fields, "phone": e164, "email": email}.items():
        if getattr(contact, name) != value:
            setattr(contact, name, value)
            changed.append(name)
    if changed:
        contact.save()
        for kind, value in (("phone", e164), ("email", email)):
            if kind in changed and value:
                Identity.objects.get_or_create(
                    organisation=contact.organisation,
                    kind=kind,
                    external_id=value,
                    defaults={"contact": contact},
                )
        timeline_add(
            contact=contact,
            kind="contact.updated",
            summary=_("Contact details changed"),
            data={"fields": changed},
            actor=actor,
        )
    return contact


@transaction.atomic
def identity_link(
    *, contact: Contact, kind: str, external_id: str, verified: bool = False
) -> Identity:
    """Attach a channel identity to the contact; one that belongs to another contact is an error."""
    existing = Identity.objects.filter(
        organisation=contact.organisation, kind=kind, external_id=external_id
    ).first()
    if existing and existing.contact_id != contact.pk:
        raise ValidationError(
            {"external_id": [_("This identity already belongs to another contact.")]}
        )
    identity = existing or Identity(
        organisation=contact.organisation, contact=contact, kind=kind, external_id=external_id
    )
    if verified and not identity.verified:
        identity.verified, identity.verified_at = True, timezone.now()
    identity.save()
    return identity


@transaction.atomic
def consent_record(
    *, contact: Contact, kind: str, version: str, channel: str, accepted_at=None
) -> Consent:
    consent = Consent.objects.create(
        organisation=contact.organisation,
        contact=contact,
        kind=kind,
        version=version,
        channel=channel,
        accepted_at=accepted_at or timezone.now(),
    )
    timeline_add(
        contact=contact,
        kind="consent.accepted",
        summary=_("Accepted %(kind)s (version %(version)s)") % {"kind": kind, "version": version},
        data={"channel": channel},
    )
    return consent


def timeline_add(
    *,
    contact: Contact,
    kind: str,
    summary: str,
    data: dict | None = None,
    actor=None,
    occurred_at=None,
) -> TimelineEntry:
    return TimelineEntry.objects.create(
        organisation=contact.organisation,
        contact=contact,
        kind=kind,
        summary=summary[:300],
        data=data or {},
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        occurred_at=occurred_at or timezone.now(),
    )
