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


def timeline_entry(
    *,
    contact: Contact,
    kind: str,
    summary: str,
    data: dict | None = None,
    actor=None,
    occurred_at=None,
) -> TimelineEntry:
    """An unsaved timeline entry (for `TimelineEntry.objects.bulk_create`: the bookings pump
    writes a batch's entries at once); `timeline_add` saves one."""
    return TimelineEntry(
        organisation=contact.organisation,
        contact=contact,
        kind=kind,
        summary=summary[:300],
        data=data or {},
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        occurred_at=occurred_at or timezone.now(),
    )


def timeline_add(**kwargs) -> TimelineEntry:
    """Write one entry to the contact's timeline (`timeline_entry`'s arguments)."""
    entry = timeline_entry(**kwargs)
    entry.save(force_insert=True)
    return entry


# --- merging duplicates ----------------------------------------------------------------------


def _is_history_model(model) -> bool:
    """simple_history's Historical<Model> rows record the past as it was: a merge doesn't
    rewrite them (S4.12, reproducible history)."""
    from simple_history.models import HistoricalChanges

    return issubclass(model, HistoricalChanges)


def _has_history(model) -> bool:
    return getattr(model._meta, "simple_history_manager_attribute", None) is not None


def reverse_relations(model):
    """Every relation from another model pointing at `model` (hidden `related_name="+"` ones
    included, historical records excluded)."""
    for rel in model._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete and rel.is_relation):
            continue
        if _is_history_model(rel.related_model):
            continue
        yield rel


def _repoint(*, rel, source, target) -> int:
    """Move the rows of one relation from `source` to `target`. Rows of models with history are
    saved with a historical record (who changed what stays reproducible)."""
    related = rel.related_model
    name = rel.field.name
    if rel.many_to_many:
        moved = 0
        for obj in related._base_manager.filter(**{name: source}):
            manager = getattr(obj, name)
            manager.remove(source)
            manager.add(target)
            moved += 1
        return moved
    qs = related._base_manager.filter(**{name: source})
    if rel.one_to_one:
        if qs.exists() and related._base_manager.filter(**{name: target}).exists():
            raise ValidationError(
                {
                    "source": [
                        _("Both contacts have a %(what)s; merge them by hand first.")
                        % {"what": related._meta.verbose_name}
                    ]
                }
            )
    if _has_history(related):
        from simple_history.utils import bulk_update_with_history

        objs = list(qs)
        for obj in objs:
            setattr(obj, name, target)
        if objs:
            bulk_update_with_history(objs, related, [name])
        return len(objs)
    return qs.update(**{name: target})


def _merge_conversations(*, source: Contact, target: Contact) -> int:
    """Source conversations on a channel + address the target also has: their messages (and
    anything else pointing at them) move into the target's conversation, whose counters and
    last-message fields then cover both; the emptied conversation is deleted. Returns how many
    were merged (the others simply move with the generic walk)."""
    from slotwise.messaging.models import Conversation, ConversationStatus, Message

    merged = 0
    theirs = {(c.channel_id, c.address): c for c in Conversation.objects.filter(contact=target)}
    for conversation in (
        Conversation.objects.filter(contact=source).select_related("channel").select_for_update()
    ):
        address = conversation.address
        if conversation.channel.kind == "chat" and address == str(source.public_id):
            # The in-app chat is addressed by the contact's public id: the source's chat is
            # the target's chat from now on.
            address = str(target.public_id)
        twin = theirs.get((conversation.channel_id, address))
        if twin is None:
            if address != conversation.address:
                Conversation.objects.filter(pk=conversation.pk).update(address=address)
                Message.objects.filter(conversation=conversation).update(to=address)
            continue
        for rel in reverse_relations(Conversation):
            _repoint(rel=rel, source=conversation, target=twin)
        twin = Conversation.objects.select_for_update().get(pk=twin.pk)
        twin.unread_count += conversation.unread_count
        waiting = [w for w in (twin.waiting_since, conversation.waiting_since) if w]
        twin.waiting_since = min(waiting) if waiting else None
        inbound = [w for w in (twin.last_inbound_at, conversation.last_inbound_at) if w]
        twin.last_inbound_at = max(inbound) if inbound else None
        if conversation.last_message_at and (
            twin.last_message_at is None or conversation.last_message_at > twin.last_message_at
        ):
            twin.last_message_at = conversation.last_message_at
            twin.last_preview = conversation.last_preview
        if ConversationStatus.OPEN in (twin.status, conversation.status):
            twin.status = ConversationStatus.OPEN
        twin.assignee_id = twin.assignee_id or conversation.assignee_id
        twin.team_id = twin.team_id or conversation.team_id
        twin.save()
        conversation.delete()
        merged += 1
    return merged


@transaction.atomic
def contact_merge(*, source: Contact, target: Contact, actor=None) -> Contact:
    """Merge the duplicate `source` into `target` (staff, on the contact card) and delete it.

    History follows the person: every row pointing at the source — identities, consents,
    timeline, conversations, messages, bookings, payments, invoices, verification codes, and
    whatever later apps add (the relations are walked, not listed) — moves to the target. Two
    conversations on the same channel and address become one. Fields the target lacks (phone,
    e-mail, address, last name, user account) are taken from the source; notes are appended.
    Both contacts having a user account is an error (two people log in: not a duplicate to
    merge blindly). One transaction: a failure leaves both contacts as they were."""
    if source.pk == target.pk:
        raise ValidationError({"source": [_("A contact cannot be merged into itself.")]})
    # Lock both rows (in id order: two merges of the same pair can't deadlock) and work on
    # fresh copies.
    locked = {
        c.pk: c
        for c in Contact.objects.select_for_update()
        .filter(pk__in=[source.pk, target.pk])
        .order_by("pk")
    }
    if len(locked) != 2:
        raise ValidationError({"source": [_("This contact no longer exists.")]})
    source, target = locked[source.pk], locked[target.pk]
    if source.organisation_id != target.organisation_id:
        raise ValidationError(
            {"source": [_("Only contacts of the same organisation can be merged.")]}
        )
    if source.user_id and target.user_id:
        raise ValidationError(
            {
                "source": [
                    _(
                        "Both contacts have a user account; they can't be merged. Remove one "
                        "account's link first."
                    )
                ]
            }
        )
    source_name, source_public_id = str(source), str(source.public_id)
    conversations_merged = _merge_conversations(source=source, target=target)
    moved: dict[str, int] = {}
    for rel in reverse_relations(Contact):
        count = _repoint(rel=rel, source=source, target=target)
        if count:
            key = rel.related_model._meta.label_lower
            moved[key] = moved.get(key, 0) + count

    # The fields the target lacks. The unique phone/e-mail constraints need the source's
    # values gone first, so the source is deleted before the target takes them.
    filled = []
    takes = {
        name: getattr(source, name)
        for name in ("phone", "email", "last_name", "location_id", "user_id")
        if getattr(source, name) and not getattr(target, name)
    }
    notes = (source.notes or "").strip()
    source.delete()
    for name, value in takes.items():
        setattr(target, name, value)
        filled.append(name.removesuffix("_id"))
    if notes and notes not in (target.notes or ""):
        target.notes = f"{target.notes.rstrip()}\n\n{notes}".strip() if target.notes else notes
        filled.append("notes")
    if filled:
        target.save()
    for kind, value in (("phone", takes.get("phone")), ("email", takes.get("email"))):
        if value:
            Identity.objects.get_or_create(
                organisation_id=target.organisation_id,
                kind=kind,
                external_id=value,
                defaults={"contact": target},
            )
    timeline_add(
        contact=target,
        kind="contact.merged",
        summary=_("Merged %(source)s into this contact") % {"source": source_name},
        data={
            "source": source_public_id,
            "source_name": source_name,
            "moved": moved,
            "conversations_merged": conversations_merged,
            "filled": filled,
        },
        actor=actor,
    )
    return target


# --- phone calls logged by hand ------------------------------------------------------------------

CALL_DIRECTIONS = ("inbound", "outbound")
CALL_OUTCOMES = ("completed", "no-answer", "busy", "failed", "canceled")


@transaction.atomic
def call_log_record(
    *,
    contact: Contact,
    actor,
    direction: str,
    outcome: str,
    duration_s: int = 0,
    notes: str = "",
    number: str = "",
):
    """Log a phone call made or taken outside any telephony webhook (a desk phone, a mobile) on
    the contact's timeline: a Message of kind "call" (direction in/out, status received, the
    details in `data`, as a webhook's call entry) in the contact's phone conversation — on the
    organisation's phone channel, created as "Phone" if it has none. `number`: the number
    called (default: the contact's phone)."""
    from slotwise.messaging import live
    from slotwise.messaging.channels.phone.channel import call_summary
    from slotwise.messaging.chat import channel_config_on_demand
    from slotwise.messaging.inbound import conversation_for
    from slotwise.messaging.models import Conversation, ConversationStatus, Message, MessageKind

    errors: dict[str, list[str]] = {}
    if direction not in CALL_DIRECTIONS:
        errors["direction"] = [_("Say who called whom.")]
    if outcome not in CALL_OUTCOMES:
        errors["outcome"] = [_("Choose how the call went.")]
    try:
        duration_s = int(duration_s or 0)
    except (TypeError, ValueError):
        duration_s = -1
    if duration_s < 0 or duration_s > 24 * 3600:
        errors["duration_s"] = [_("Enter a duration between 0 and 24 hours.")]
    elif duration_s and outcome != "completed":
        errors["duration_s"] = [_("Only an answered call has a duration; leave it empty.")]
    notes = (notes or "").strip()
    if len(notes) > 4000:
        errors["notes"] = [_("Keep the notes under 4000 characters.")]
    number = (number or contact.phone or "").strip()
    if not number:
        errors["number"] = [_("The contact has no phone number; enter the number called.")]
    else:
        try:
            number = to_e164(number, contact.organisation.country)
        except ValidationError as exc:
            errors["number"] = exc.messages
    if errors:
        raise ValidationError(errors)

    config = channel_config_on_demand(
        organisation_id=contact.organisation_id, kind="phone", name=_("Phone")
    )
    conversation = conversation_for(contact=contact, config=config, address=number)
    summary = call_summary(direction=direction, status=outcome, duration_s=duration_s or None)
    now = timezone.now()
    message = Message.objects.create(
        organisation_id=contact.organisation_id,
        conversation=conversation,
        contact=contact,
        channel_config=config,
        direction=Message.Direction.IN if direction == "inbound" else Message.Direction.OUT,
        kind=MessageKind.CALL,
        channel="phone",
        provider=config.kind,
        to=number,
        body=f"{summary}\n\n{notes}" if notes else summary,
        data={
            "direction": direction,
            "status": outcome,
            "duration_s": duration_s,
            "notes": notes,
            "logged_by_hand": True,
            "occurred_at": now.isoformat(),
        },
        author=actor if getattr(actor, "is_authenticated", False) else None,
        status=Message.Status.RECEIVED,
    )
    # A call is part of the conversation's story but nothing anybody has to read or answer.
    updates = {"last_message_at": now, "last_preview": summary[:200]}
    if conversation.status != ConversationStatus.OPEN:
        updates["status"] = ConversationStatus.OPEN
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    for name, value in updates.items():
        setattr(conversation, name, value)
    live.publish(conversation, message)
    return message


# --- staff who chat with the office --------------------------------------------------------------


@transaction.atomic
def contact_for_staff(*, staff) -> Contact:
    """The contact that stands for a staff member in the office chat (S2.11: technicians write
    to their managers like customers do, and the managers answer from the same inbox). Linked
    to the staff member's user and placed in their unit, so the managers of that unit (and
    above) see the conversation. Created the first time; no phone or e-mail is copied (those
    identify customers, and a staff member may also be a customer elsewhere)."""
    user = staff.user
    contact = Contact.objects.select_for_update().filter(user=user).first()
    if contact is not None:
        if contact.organisation_id != staff.organisation_id:
            raise ValidationError(
                {"user": [_("This account belongs to a contact of another organisation.")]}
            )
        return contact
    contact = Contact.objects.create(
        organisation_id=staff.organisation_id,
        unit_id=staff.unit_id,
        user=user,
        first_name=(user.first_name or user.get_username())[:120],
        last_name=(user.last_name or "")[:120],
        language=staff.organisation.default_language,
        notes=_("Staff member (office chat)."),
    )
    timeline_add(
        contact=contact,
        kind="contact.created",
        summary=_("Contact created for the office chat of a staff member"),
    )
    return contact
