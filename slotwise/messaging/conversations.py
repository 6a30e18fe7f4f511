"""Writes of the staff inbox: replies, internal notes, assignment, taking over from the bot and
handing back, read / closed / reopened, and canned replies.

Every function is keyword-only, runs in one transaction and checks everything before it writes
(ARCHITECTURE rule 6): bad input raises `ValidationError` with field errors (`body`, `files`,
`assignee`, `team`, `__all__`) and nothing is saved. A change to the conversation's state locks
its row first, so two managers pressing "Take over" at once get one takeover and one clear
error. Changes a contact's story should show (assigned, taken over, handed back, closed,
reopened) are written to the contact's timeline; every change is published to open inboxes
and conversation pages after commit (`live.publish`).

A reply goes through the outbox (`outbox.message_queue`): it is written here and sent by the
worker's messaging pump, never from the request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from slotwise.core.errors import NotAllowed, ValidationError
from slotwise.customers.services import timeline_add
from slotwise.org.models import OrgUnit, Staff
from slotwise.org.selectors import staff_of

from . import live
from .channels import channels
from .inbound import channel_for
from .media import MediaRejected, check
from .models import (
    CannedReply,
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    MessageStatus,
)
from .outbox import message_queue

#: The longest reply or note we take (WhatsApp's text limit; SMS splits, e-mail has none).
MAX_BODY = 4096


def _staff_of_org(user, conversation: Conversation) -> Staff:
    staff = staff_of(user)
    if staff is None or staff.organisation_id != conversation.organisation_id:
        raise NotAllowed(_("Only staff of the organisation can do this."))
    return staff


def person_name(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _locked(conversation: Conversation) -> Conversation:
    """The conversation's row, locked for this transaction (fresh values)."""
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("contact", "contact__unit", "channel", "team", "assignee__user")
        .get(pk=conversation.pk)
    )


def _refresh(target: Conversation, source: Conversation, fields: Iterable[str]) -> None:
    for name in fields:
        setattr(target, name, getattr(source, name))


def _publish(conversation: Conversation, message: Message | None = None) -> None:
    """`live.publish`, with the assignee in the inbox event: an open inbox of someone outside
    the conversation's units learns at once that it was just assigned to them (or away)."""
    events = live._events(conversation, message)
    for _group, event in events:
        if event.get("type") == "inbox.changed":
            event["assignee"] = conversation.assignee_id
    transaction.on_commit(lambda: live._send(events))


def _system_note(
    conversation: Conversation, *, actor, event: str, body: str, data: dict | None = None
) -> Message:
    """A line in the conversation that says what happened (not sent to the contact). `event`
    lets the page show it in the reader's language."""
    return Message.objects.create(
        organisation_id=conversation.organisation_id,
        conversation=conversation,
        contact=conversation.contact,
        channel_config=conversation.channel,
        direction=Message.Direction.INTERNAL,
        kind=MessageKind.NOTE,
        channel=conversation.channel.medium,
        provider=conversation.channel.kind,
        to=conversation.address,
        body=body,
        data={"system": event, "by": person_name(actor), **(data or {})},
        author=actor if getattr(actor, "is_authenticated", False) else None,
        status=MessageStatus.NOTE,
    )


def _clean_body(body: str, *, field: str = "body") -> str:
    body = (body or "").strip()
    if len(body) > MAX_BODY:
        raise ValidationError(
            {
                field: [
                    _("At most %(limit)s characters (now %(n)s).")
                    % {"limit": MAX_BODY, "n": len(body)}
                ]
            }
        )
    return body


def _read_files(files) -> list[tuple[str, str, bytes]]:
    """Uploaded files (or (filename, content type, bytes) tuples) as checked tuples; every bad
    file is one error on `files`, all of them reported at once."""
    checked, errors = [], []
    for item in files or ():
        if isinstance(item, tuple):
            filename, declared, content = item
        else:
            filename, declared = item.name, getattr(item, "content_type", "") or ""
            item.seek(0)
            content = item.read()
        try:
            content_type = check(content, declared)
        except MediaRejected as exc:
            errors.append(
                _("%(file)s: %(reason)s") % {"file": filename or _("file"), "reason": exc}
            )
            continue
        checked.append((filename, content_type, content))
    if errors:
        raise ValidationError({"files": errors})
    return checked


def window_closed(conversation: Conversation, *, now=None) -> bool:
    """True when the channel allows free text only within a window after the contact's last
    message (WhatsApp: 24 hours) and that window has passed."""
    try:
        hours = channel_for(conversation.channel).window_hours  # the console can be WhatsApp
    except Exception:
        return False
    if not hours:
        return False
    last = conversation.last_inbound_at
    return last is None or last < (now or timezone.now()) - timedelta(hours=hours)


def conversation_templates(conversation: Conversation) -> list[tuple[str, str]]:
    """The approved templates an admin listed for the conversation's channel (its settings'
    `templates`: our name → the name approved at the provider), as (our name, approved name)."""
    templates = (conversation.channel.settings or {}).get("templates") or {}
    if not isinstance(templates, dict):
        return []
    return sorted((str(k), str(v)) for k, v in templates.items() if k and v)


@transaction.atomic
def conversation_send_template(*, conversation: Conversation, author, template: str) -> Message:
    """Send an approved template (the way to reach a WhatsApp contact after the 24-hour
    window). Its one parameter is the contact's first name, as the templates we ship expect.
    Field error `template`: not one of the channel's templates."""
    _staff_of_org(author, conversation)
    approved = dict(conversation_templates(conversation)).get(template)
    if not approved:
        raise ValidationError({"template": [_("Choose one of the channel's templates.")]})
    config = conversation.channel
    if not config.enabled or config.disabled_at is not None:
        raise ValidationError(
            {
                NON_FIELD_ERRORS: [
                    _("The channel %(name)s is disabled; nothing can be sent through it.")
                    % {"name": config.name}
                ]
            }
        )
    contact = conversation.contact
    return message_queue(
        conversation=conversation,
        body=_("Template message “%(name)s”") % {"name": template},
        template={
            "name": approved,
            "language": contact.language or contact.organisation.default_language,
            "params": [contact.first_name],
        },
        author=author,
        purpose="conversation.template",
    )


@transaction.atomic
def conversation_reply(*, conversation: Conversation, author, body: str, files=()) -> Message:
    """Send a reply to the contact (through the outbox). Field errors: `body` (empty, too
    long, or the channel's window has passed: a template must be used), `files` (type or size
    refused, or the channel takes no files), `__all__` (the channel is disabled)."""
    _staff_of_org(author, conversation)
    body = _clean_body(body)
    config = conversation.channel
    errors: dict[str, list[str]] = {}
    if not config.enabled or config.disabled_at is not None:
        errors[NON_FIELD_ERRORS] = [
            _("The channel %(name)s is disabled; nothing can be sent through it.")
            % {"name": config.name}
        ]
    if files and not _supports_media(config.kind):
        errors["files"] = [_("%(name)s does not take files.") % {"name": config.name}]
        files = ()
    try:
        attachments = _read_files(files)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        attachments = []
    if not body and not files:
        errors.setdefault("body", []).append(_("Write a message or attach a file."))
    if window_closed(conversation):
        hours = channel_for(config).window_hours
        errors.setdefault("body", []).append(
            _(
                "The contact's last message is more than %(hours)s hours old: %(channel)s only "
                "delivers an approved template message now. Use a template, or wait for the "
                "contact to write."
            )
            % {"hours": hours, "channel": config.name}
        )
    if errors:
        raise ValidationError(errors)
    return message_queue(
        conversation=conversation,
        body=body,
        attachments=attachments,
        author=author,
        purpose="conversation.reply",
    )


def _supports_media(kind: str) -> bool:
    try:
        return bool(channels.get_class(kind).supports_media)
    except Exception:
        return False


@transaction.atomic
def conversation_note_add(*, conversation: Conversation, author, body: str) -> Message:
    """An internal note in the conversation: staff see it, the contact never does; not sent."""
    _staff_of_org(author, conversation)
    body = _clean_body(body)
    if not body:
        raise ValidationError({"body": [_("Write the note.")]})
    note = Message.objects.create(
        organisation_id=conversation.organisation_id,
        conversation=conversation,
        contact=conversation.contact,
        channel_config=conversation.channel,
        direction=Message.Direction.INTERNAL,
        kind=MessageKind.NOTE,
        channel=conversation.channel.medium,
        provider=conversation.channel.kind,
        to=conversation.address,
        body=body,
        author=author,
        status=MessageStatus.NOTE,
    )
    live.publish(conversation, note)
    return note


@transaction.atomic
def conversation_assign(
    *,
    conversation: Conversation,
    actor,
    assignee: Staff | None = None,
    team: OrgUnit | None = None,
) -> Conversation:
    """Assign the conversation to a person and/or a team (None clears). The person must be
    staff of the organisation who may see the contact; the team a unit of the organisation."""
    _staff_of_org(actor, conversation)
    errors: dict[str, list[str]] = {}
    if assignee is not None:
        if assignee.organisation_id != conversation.organisation_id:
            errors["assignee"] = [_("Choose a staff member of this organisation.")]
        elif not assignee.is_active_on(timezone.localdate()):
            errors["assignee"] = [
                _("%(name)s no longer works here.") % {"name": person_name(assignee.user)}
            ]
        elif not _may_see_contact(assignee, conversation):
            errors["assignee"] = [
                _("%(name)s may not see this contact (another unit).")
                % {"name": person_name(assignee.user)}
            ]
    if team is not None and team.organisation_id != conversation.organisation_id:
        errors["team"] = [_("Choose a team of this organisation.")]
    if errors:
        raise ValidationError(errors)
    current = _locked(conversation)
    if current.assignee_id == (assignee.pk if assignee else None) and current.team_id == (
        team.pk if team else None
    ):
        _refresh(conversation, current, ("assignee", "team", "bot_active", "status"))
        return conversation
    current.assignee, current.team = assignee, team
    current.save(update_fields=["assignee", "team", "updated_at"])
    _refresh(conversation, current, ("assignee", "team", "bot_active", "status"))
    who = person_name(assignee.user) if assignee else ""
    if assignee and team:
        summary = _("Conversation on %(channel)s assigned to %(person)s (%(team)s)")
    elif assignee:
        summary = _("Conversation on %(channel)s assigned to %(person)s")
    elif team:
        summary = _("Conversation on %(channel)s assigned to the team %(team)s")
    else:
        summary = _("Conversation on %(channel)s no longer assigned")
    timeline_add(
        contact=current.contact,
        kind="conversation.assigned",
        summary=summary % {"channel": current.channel, "person": who, "team": team},
        data={
            "conversation": str(current.public_id),
            "assignee": assignee.pk if assignee else None,
            "team": team.pk if team else None,
        },
        actor=actor,
    )
    _publish(current)
    return conversation


def _may_see_contact(staff: Staff, conversation: Conversation) -> bool:
    from slotwise.org.roles import Role

    unit = conversation.contact.unit
    if unit is None:
        return True
    if staff.has_role(Role.ORG_ADMIN):
        return True
    return unit.path.startswith(staff.unit.path)


@transaction.atomic
def conversation_take_over(*, conversation: Conversation, actor) -> Conversation:
    """A person takes over from the bot: the bot stops answering, the conversation is assigned
    to them, a line "X took over from the bot" is added, and the registered `takeover_hooks`
    (the bot's flow) are told."""
    from .hooks import takeover_hooks

    staff = _staff_of_org(actor, conversation)
    current = _locked(conversation)
    if not current.bot_active:
        raise ValidationError(
            {NON_FIELD_ERRORS: [_("The bot is not answering this conversation (any more).")]}
        )
    current.bot_active = False
    current.assignee = staff
    current.save(update_fields=["bot_active", "assignee", "updated_at"])
    _refresh(conversation, current, ("assignee", "team", "bot_active", "status"))
    name = person_name(actor)
    note = _system_note(
        current,
        actor=actor,
        event="takeover",
        body=_("%(name)s took over from the bot") % {"name": name},
    )
    timeline_add(
        contact=current.contact,
        kind="conversation.taken_over",
        summary=_("%(name)s took over the conversation on %(channel)s from the bot")
        % {"name": name, "channel": current.channel},
        data={"conversation": str(current.public_id)},
        actor=actor,
    )
    for hook in takeover_hooks:
        hook(current, actor)
    _publish(current, note)
    return conversation


@transaction.atomic
def conversation_hand_back(*, conversation: Conversation, actor) -> Conversation:
    """Let the bot answer again (it picks up at the contact's next message)."""
    _staff_of_org(actor, conversation)
    current = _locked(conversation)
    if current.bot_active:
        raise ValidationError({NON_FIELD_ERRORS: [_("The bot is already answering.")]})
    current.bot_active = True
    current.save(update_fields=["bot_active", "updated_at"])
    _refresh(conversation, current, ("assignee", "team", "bot_active", "status"))
    name = person_name(actor)
    note = _system_note(
        current,
        actor=actor,
        event="handback",
        body=_("%(name)s handed the conversation back to the bot") % {"name": name},
    )
    timeline_add(
        contact=current.contact,
        kind="conversation.handed_back",
        summary=_("%(name)s handed the conversation on %(channel)s back to the bot")
        % {"name": name, "channel": current.channel},
        data={"conversation": str(current.public_id)},
        actor=actor,
    )
    _publish(current, note)
    return conversation


@transaction.atomic
def conversation_mark_read(*, conversation: Conversation, actor) -> bool:
    """Someone of the staff has read the conversation: no unread messages. Returns whether
    anything changed (nothing is published when nothing changed)."""
    _staff_of_org(actor, conversation)
    changed = Conversation.objects.filter(pk=conversation.pk, unread_count__gt=0).update(
        unread_count=0
    )
    conversation.unread_count = 0
    if changed:
        live.publish(conversation)
    return bool(changed)


@transaction.atomic
def conversation_close(*, conversation: Conversation, actor) -> Conversation:
    """Done: the conversation leaves the open tabs (a new message from the contact reopens
    it). Nobody waits for an answer in a closed conversation."""
    _staff_of_org(actor, conversation)
    current = _locked(conversation)
    if current.status == ConversationStatus.CLOSED:
        raise ValidationError({NON_FIELD_ERRORS: [_("The conversation is already closed.")]})
    current.status = ConversationStatus.CLOSED
    current.waiting_since = None
    current.unread_count = 0
    current.save(update_fields=["status", "waiting_since", "unread_count", "updated_at"])
    _refresh(
        conversation,
        current,
        ("assignee", "team", "bot_active", "status", "waiting_since", "unread_count"),
    )
    timeline_add(
        contact=current.contact,
        kind="conversation.closed",
        summary=_("Conversation on %(channel)s closed by %(name)s")
        % {"channel": current.channel, "name": person_name(actor)},
        data={"conversation": str(current.public_id)},
        actor=actor,
    )
    _publish(current)
    return conversation


@transaction.atomic
def conversation_reopen(*, conversation: Conversation, actor) -> Conversation:
    _staff_of_org(actor, conversation)
    current = _locked(conversation)
    if current.status == ConversationStatus.OPEN:
        raise ValidationError({NON_FIELD_ERRORS: [_("The conversation is already open.")]})
    current.status = ConversationStatus.OPEN
    current.save(update_fields=["status", "updated_at"])
    _refresh(conversation, current, ("assignee", "team", "bot_active", "status"))
    timeline_add(
        contact=current.contact,
        kind="conversation.reopened",
        summary=_("Conversation on %(channel)s reopened by %(name)s")
        % {"channel": current.channel, "name": person_name(actor)},
        data={"conversation": str(current.public_id)},
        actor=actor,
    )
    _publish(current)
    return conversation


# --- canned replies ------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def canned_reply_render(reply: CannedReply | str, contact, *, staff_user=None) -> str:
    """The reply's text for this contact: {first_name}, {last_name}, {name}, {phone},
    {email}, {organisation} and {my_name} (the person answering) are filled in; an unknown
    placeholder is left as written. (A plain substitution, not str.format: a template can't
    reach attributes.)"""
    text = reply.body if isinstance(reply, CannedReply) else str(reply)
    values = {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "name": str(contact),
        "phone": contact.phone,
        "email": contact.email,
        "organisation": str(contact.organisation) if contact.organisation_id else "",
        "my_name": person_name(staff_user) if staff_user is not None else "",
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
