"""Reads of contacts, scoped to what the user may see."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from slotwise.org.roles import Role
from slotwise.org.selectors import staff_of

from .models import Contact, TimelineEntry


def contacts_for(user) -> QuerySet[Contact]:
    """Staff see their organisation's contacts with no unit or a unit at/below their own (org
    admins see all); a customer sees only their own contact."""
    qs = Contact.objects.select_related("organisation", "unit")
    if user.is_superuser:
        return qs
    staff = staff_of(user)
    if staff is None:
        return qs.filter(user=user) if user.is_authenticated else qs.none()
    qs = qs.filter(organisation=staff.organisation_id)
    if staff.has_role(Role.ORG_ADMIN):
        return qs
    return qs.filter(Q(unit__isnull=True) | Q(unit__path__startswith=staff.unit.path))


def find_duplicates(
    *, organisation, phone: str = "", email: str = "", exclude_id=None
) -> list[tuple[str, Contact]]:
    """Contacts of the organisation that already use this phone or e-mail: [(field, contact)]."""
    q = Q(pk__in=[])
    if phone:
        q |= Q(phone=phone) | Q(identities__kind="phone", identities__external_id=phone)
    if email:
        q |= Q(email__iexact=email) | Q(
            identities__kind="email", identities__external_id__iexact=email
        )
    qs = (
        Contact.objects.filter(q, organisation=organisation)
        .distinct()
        .prefetch_related("identities")
    )
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    found = []
    for contact in qs:
        ids = {(i.kind, i.external_id.lower()) for i in contact.identities.all()}
        if phone and (contact.phone == phone or ("phone", phone.lower()) in ids):
            found.append(("phone", contact))
        if email and (contact.email.lower() == email.lower() or ("email", email.lower()) in ids):
            found.append(("email", contact))
    return found


def contact_for_customer(user) -> Contact | None:
    """The customer's own contact; None for staff. Staff can have a contact too (a technician
    chatting with the office is one, `contact_for_staff`), but that doesn't make them a
    customer: staff pages and rules come first."""
    if not user.is_authenticated or staff_of(user) is not None:
        return None
    return own_contact(user)


def own_contact(user) -> Contact | None:
    """The contact linked to the user's account, staff or customer (for their own chat)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Contact.objects.filter(user=user).select_related("organisation", "unit").first()


def contact_search(user, q: str, *, exclude=None) -> QuerySet[Contact]:
    """Customers the user may see matching every word of `q` in the name, phone or e-mail (the
    contact list and the duplicate search of the merge flow). The contacts that stand for staff
    members in the office chat are not customers and are left out."""
    qs = contacts_for(user).filter(Q(user__isnull=True) | Q(user__staff__isnull=True))
    for term in (q or "").split()[:5]:
        digits = "".join(c for c in term if c.isdigit())
        match = (
            Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(email__icontains=term)
            | Q(identities__external_id__icontains=term)
        )
        if len(digits) >= 3:
            match |= Q(phone__contains=digits)
        qs = qs.filter(match)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.distinct().order_by("last_name", "first_name", "pk")


# --- the timeline ------------------------------------------------------------------------------

#: Timeline items are ordered newest first by (time, source, id); a cursor names the last
#: item shown, so the next page starts right after it even when several items share a time.
_SOURCES = ("entry", "message")


@dataclass(frozen=True)
class TimelineItem:
    at: datetime.datetime
    source: str  # "entry" (a TimelineEntry: bookings, payments …) or "message"
    pk: int
    obj: Any

    @property
    def cursor(self) -> str:
        return f"{self.at.isoformat()}|{self.source}|{self.pk}"

    @property
    def key(self) -> tuple:
        return (self.at, _SOURCES.index(self.source), self.pk)


@dataclass(frozen=True)
class TimelinePage:
    items: list[TimelineItem]
    next_before: str | None  # the cursor of the next (older) page; None: this is the last


def parse_cursor(value) -> tuple[datetime.datetime, int, int] | None:
    """`before` as a cursor ("<ISO time>|<source>|<id>") or a bare time (aware datetime or
    ISO string; everything older than it). A bad value is a field error."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        return (value, -1, 0)
    text = str(value)
    at_text, _sep, rest = text.partition("|")
    at = parse_datetime(at_text.replace(" ", "+")) if at_text else None
    source, _sep2, pk_text = rest.partition("|")
    if (
        at is None
        or at.tzinfo is None
        or (rest and (source not in _SOURCES or not pk_text.isdigit()))
    ):
        raise ValidationError({"before": [_("This is not a valid position in the timeline.")]})
    if not rest:
        return (at, -1, 0)
    return (at, _SOURCES.index(source), int(pk_text))


def _older(field: str, source: str, cursor) -> Q:
    at, source_rank, pk = cursor
    mine = _SOURCES.index(source)
    q = Q(**{f"{field}__lt": at})
    if mine < source_rank:
        q |= Q(**{field: at})
    elif mine == source_rank:
        q |= Q(**{field: at, "pk__lt": pk})
    return q


def timeline_for(contact: Contact, *, before=None, limit: int = 50) -> TimelinePage:
    """The contact's whole story, newest first: the timeline entries other apps write
    (bookings, payments, consents, merges …) and every message in or out (texts, calls, notes,
    with their delivery status), merged in time order. `before`: the cursor of the previous
    page's `next_before` (or a time). Two queries of at most `limit + 1` rows each."""
    from slotwise.messaging.models import Message

    limit = max(1, min(int(limit), 200))
    cursor = parse_cursor(before)
    entries = TimelineEntry.objects.filter(contact=contact).select_related("actor")
    messages = (
        Message.objects.filter(contact=contact)
        .select_related("author", "channel_config", "conversation")
        .prefetch_related("attachments")
    )
    if cursor is not None:
        entries = entries.filter(_older("occurred_at", "entry", cursor))
        messages = messages.filter(_older("created_at", "message", cursor))
    items = [
        TimelineItem(e.occurred_at, "entry", e.pk, e)
        for e in entries.order_by("-occurred_at", "-pk")[: limit + 1]
    ] + [
        TimelineItem(m.created_at, "message", m.pk, m)
        for m in messages.order_by("-created_at", "-pk")[: limit + 1]
    ]
    items.sort(key=lambda item: item.key, reverse=True)
    page = items[:limit]
    return TimelinePage(items=page, next_before=page[-1].cursor if len(items) > limit else None)
