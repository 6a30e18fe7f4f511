"""Reads of conversations and messages, already narrowed to what the user may see.

Staff see a conversation of their organisation when they may see its contact (the rule of
`customers.selectors.contacts_for`: the contact has no unit, or a unit at/below their own) AND
its team is empty or at/below their unit — org admins see all of them — and, whatever its unit,
every conversation assigned to them. A customer sees only the conversations of their own
contact. Everything else is a 404 in the views (never a 403: existence must not leak).
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from slotwise.org.models import OrgUnit, Staff
from slotwise.org.roles import Role
from slotwise.org.selectors import staff_of

from .models import CannedReply, ChannelConfig, Conversation, ConversationStatus, Message

#: The inbox's filters (the tabs), in the order they are shown.
FILTERS = ("open", "mine", "unassigned", "team", "waiting", "bot", "closed")


def waiting_alert() -> datetime.timedelta:
    """How long a contact may wait for an answer before the inbox flags it red."""
    return datetime.timedelta(minutes=getattr(settings, "MESSAGING_WAITING_ALERT_MINUTES", 15))


def conversations_for(user) -> QuerySet[Conversation]:
    qs = Conversation.objects.select_related(
        "contact", "channel", "assignee", "assignee__user", "team"
    )
    if user.is_superuser:
        return qs
    staff = staff_of(user)
    if staff is None:
        return qs.filter(contact__user=user) if user.is_authenticated else qs.none()
    qs = qs.filter(organisation_id=staff.organisation_id)
    if staff.has_role(Role.ORG_ADMIN):
        return qs
    path = staff.unit.path
    visible = (Q(contact__unit__isnull=True) | Q(contact__unit__path__startswith=path)) & (
        Q(team__isnull=True) | Q(team__path__startswith=path)
    )
    return qs.filter(visible | Q(assignee=staff))


def conversation_visible(user, conversation: Conversation) -> bool:
    """The rule of `conversations_for` for one loaded conversation (its contact and team)."""
    if user.is_superuser:
        return True
    staff = staff_of(user)
    if staff is None:
        return bool(user.is_authenticated and conversation.contact.user_id == user.pk)
    if conversation.organisation_id != staff.organisation_id:
        return False
    if staff.has_role(Role.ORG_ADMIN) or conversation.assignee_id == staff.pk:
        return True
    path = staff.unit.path
    contact_unit = conversation.contact.unit
    team = conversation.team
    return (contact_unit is None or contact_unit.path.startswith(path)) and (
        team is None or team.path.startswith(path)
    )


def messages_for(conversation: Conversation, *, internal: bool = True) -> QuerySet[Message]:
    """The conversation's messages, oldest first, with their authors and attachments.
    `internal=False` leaves out staff notes (what a customer may see)."""
    qs = (
        Message.objects.filter(conversation=conversation)
        .select_related("author")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )
    if not internal:
        qs = qs.exclude(direction=Message.Direction.INTERNAL)
    return qs


def inbox_filter(
    qs: QuerySet[Conversation],
    *,
    staff: Staff | None,
    view: str = "open",
    channel: ChannelConfig | None = None,
    q: str = "",
) -> QuerySet[Conversation]:
    """The inbox's tabs: open (all open), mine, unassigned, team (the user's unit and below),
    waiting (the contact waits for an answer; longest wait first), bot (the bot answers),
    closed; plus a channel and a search by the contact's name, phone, e-mail or address."""
    open_ = Q(status=ConversationStatus.OPEN)
    if view == "mine":
        qs = qs.filter(open_, assignee=staff)
    elif view == "unassigned":
        qs = qs.filter(open_, assignee__isnull=True)
    elif view == "team":
        path = staff.unit.path if staff is not None else "\0"
        qs = qs.filter(open_, team__path__startswith=path)
    elif view == "waiting":
        qs = qs.filter(open_, waiting_since__isnull=False).order_by("waiting_since", "id")
    elif view == "bot":
        qs = qs.filter(open_, bot_active=True)
    elif view == "closed":
        qs = qs.filter(status=ConversationStatus.CLOSED)
    else:
        qs = qs.filter(open_)
    if channel is not None:
        qs = qs.filter(channel=channel)
    for term in (q or "").split()[:5]:
        digits = "".join(c for c in term if c.isdigit())
        match = (
            Q(contact__first_name__icontains=term)
            | Q(contact__last_name__icontains=term)
            | Q(contact__email__icontains=term)
            | Q(address__icontains=term)
        )
        if len(digits) >= 3:
            match |= Q(contact__phone__contains=digits) | Q(address__contains=digits)
        qs = qs.filter(match)
    return qs


def inbox_counts(user) -> dict[str, int]:
    """The tabs' badges, in one query: per tab, how many open conversations have unread
    messages; for "waiting", how many wait for an answer."""
    staff = staff_of(user)
    unread = Q(unread_count__gt=0)
    counts = (
        conversations_for(user)
        .filter(status=ConversationStatus.OPEN)
        .order_by()
        .aggregate(
            open=Count("id", filter=unread),
            mine=Count("id", filter=unread & Q(assignee_id=staff.pk if staff else 0)),
            unassigned=Count("id", filter=unread & Q(assignee__isnull=True)),
            team=Count(
                "id",
                filter=unread & Q(team__path__startswith=staff.unit.path if staff else "\0"),
            ),
            waiting=Count("id", filter=Q(waiting_since__isnull=False)),
            bot=Count("id", filter=unread & Q(bot_active=True)),
        )
    )
    return {key: value or 0 for key, value in counts.items()}


def unread_conversations(user) -> int | None:
    """How many open conversations the user may see have unread messages (the navigation's
    badge); None for someone without an inbox."""
    if staff_of(user) is None:
        return None
    return (
        conversations_for(user)
        .filter(status=ConversationStatus.OPEN, unread_count__gt=0)
        .order_by()
        .count()
    )


def channels_of(organisation_id: int) -> QuerySet[ChannelConfig]:
    return ChannelConfig.objects.filter(organisation_id=organisation_id).order_by("position", "id")


def assignable_staff(conversation: Conversation) -> QuerySet[Staff]:
    """Staff of the organisation who may see the conversation's contact (who it may be
    assigned to): everyone when the contact has no unit; else those whose unit is the
    contact's unit or above it, and the org admins."""
    today = timezone.localdate()
    qs = (
        Staff.objects.filter(organisation_id=conversation.organisation_id, active_from__lte=today)
        .filter(Q(active_to__isnull=True) | Q(active_to__gte=today))
        .select_related("user", "unit")
        .order_by("user__first_name", "user__last_name", "id")
    )
    unit = conversation.contact.unit
    if unit is None:
        return qs
    prefixes = _path_prefixes(unit.path)
    return qs.filter(Q(unit__path__in=prefixes) | Q(roles__role=Role.ORG_ADMIN)).distinct()


def _path_prefixes(path: str) -> list[str]:
    """ "/3/7/12/" → ["/3/", "/3/7/", "/3/7/12/"]."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def teams_of(organisation_id: int) -> QuerySet[OrgUnit]:
    return OrgUnit.objects.filter(organisation_id=organisation_id).order_by("path")


def canned_replies_for(conversation: Conversation) -> list[CannedReply]:
    """The organisation's canned replies, one per shortcut: in the contact's language if there
    is one, else the one without a language, else any."""
    language = conversation.contact.language
    best: dict[str, CannedReply] = {}
    rank = {language: 0, "": 1}
    for reply in CannedReply.objects.filter(organisation_id=conversation.organisation_id):
        current = best.get(reply.shortcut)
        if current is None or rank.get(reply.language, 2) < rank.get(current.language, 2):
            best[reply.shortcut] = reply
    return [best[key] for key in sorted(best)]
