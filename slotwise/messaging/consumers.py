"""WebSocket consumers of the inbox (Django Channels): they tell an open page THAT something
changed, never what — the page fetches the change through its normal, access-checked views
(`static/messaging/live.js`). So a socket carries nothing but ids.

- `InboxConsumer` (`ws/inbox/`): staff only; joins their organisation's group
  (`live.inbox_group`). An `inbox.changed` event is forwarded only if the user may see that
  conversation (the rule of `selectors.conversations_for`): org admins see every one; others
  when the contact's unit and the conversation's team are at/below their unit — worked out from
  the event and a cache of unit paths, with no query per event — or, failing that, when it is
  assigned to them: an assignment's event names the assignee (`conversations._publish`), other
  events cost one query whose answer is cached per conversation (briefly when "no").
- `ConversationConsumer` (`ws/conversations/<public id>/`): staff who may see the
  conversation, or the contact's own user (the portal and technician chat pages use it too);
  forwards `conversation.changed`.

A socket the user may not have is refused at the handshake (HTTP 403): the page then falls back
to polling, which the views refuse as well.
"""

from __future__ import annotations

import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import live

#: How long an "assigned to me" / "not assigned to me" answer for one conversation is trusted
#: (assignments themselves refresh it at once). A stale "yes" leaks nothing: the page's fetch
#: is access-checked.
VISIBLE_TTL = 300.0
HIDDEN_TTL = 10.0
UNIT_TTL = 300.0


def _user(scope):
    user = scope.get("user")
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _staff_facts(user) -> dict | None:
    from slotwise.org.roles import Role
    from slotwise.org.selectors import staff_of

    staff = staff_of(user)
    if staff is None:
        return None
    return {
        "pk": staff.pk,
        "organisation_id": staff.organisation_id,
        "path": staff.unit.path,
        "admin": staff.has_role(Role.ORG_ADMIN),
    }


def _unit_path(unit_id: int) -> str | None:
    from slotwise.org.models import OrgUnit

    return OrgUnit.objects.filter(pk=unit_id).values_list("path", flat=True).first()


def _assigned_to(public_id: str, staff_pk: int) -> bool:
    from .models import Conversation

    return Conversation.objects.filter(public_id=public_id, assignee_id=staff_pk).exists()


def _may_open(user, public_id: str) -> bool:
    """Staff who may see the conversation, or the contact's own user."""
    from .models import Conversation
    from .selectors import conversations_for

    return (
        conversations_for(user).filter(public_id=public_id).exists()
        or Conversation.objects.filter(public_id=public_id, contact__user=user).exists()
    )


class InboxConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = _user(self.scope)
        self.staff = await database_sync_to_async(_staff_facts)(user) if user else None
        if self.staff is None:
            await self.close()
            return
        self.assigned: dict[str, tuple[bool, float]] = {}
        self.unit_paths: dict[int, tuple[str | None, float]] = {}
        group = live.inbox_group(self.staff["organisation_id"])
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups.append(group)
        await self.accept()

    async def receive_json(self, content, **kwargs):
        """The browser has nothing to say; a ping is answered so proxies keep the socket."""
        if content == "ping" or (isinstance(content, dict) and content.get("type") == "ping"):
            await self.send_json({"type": "pong"})

    async def inbox_changed(self, event):
        if await self.may_see(event):
            await self.send_json({"conversation": event.get("conversation", "")})

    async def may_see(self, event) -> bool:
        staff = self.staff
        if staff["admin"]:
            return True
        now = time.monotonic()
        mine = staff["path"]
        team_path = event.get("team_path") or ""
        contact_unit = event.get("contact_unit")
        by_unit = not team_path or team_path.startswith(mine)
        if by_unit and contact_unit is not None:
            path = await self.unit_path(contact_unit, now)
            by_unit = path is not None and path.startswith(mine)
        if by_unit:
            return True
        # Outside the user's units: visible only if assigned to them. An assignment's own
        # event says to whom (and refreshes the cached answer); others are looked up once.
        conversation = str(event.get("conversation", ""))
        if "assignee" in event:
            visible = event["assignee"] == staff["pk"]
        else:
            cached = self.assigned.get(conversation)
            if cached is not None and cached[1] > now:
                return cached[0]
            visible = await database_sync_to_async(_assigned_to)(conversation, staff["pk"])
        self.assigned[conversation] = (visible, now + (VISIBLE_TTL if visible else HIDDEN_TTL))
        if len(self.assigned) > 2000:  # a long-lived socket in a busy organisation
            self.assigned = {k: v for k, v in self.assigned.items() if v[1] > now}
        return visible

    async def unit_path(self, unit_id: int, now: float) -> str | None:
        cached = self.unit_paths.get(unit_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        path = await database_sync_to_async(_unit_path)(unit_id)
        self.unit_paths[unit_id] = (path, now + UNIT_TTL)
        return path


class ConversationConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = _user(self.scope)
        self.public_id = str(self.scope["url_route"]["kwargs"]["public_id"])
        allowed = user is not None and await database_sync_to_async(_may_open)(user, self.public_id)
        if not allowed:
            await self.close()
            return
        group = live.conversation_group(self.public_id)
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups.append(group)
        await self.accept()

    async def receive_json(self, content, **kwargs):
        if content == "ping" or (isinstance(content, dict) and content.get("type") == "ping"):
            await self.send_json({"type": "pong"})

    async def conversation_changed(self, event):
        await self.send_json({"conversation": self.public_id, "message": event.get("message", "")})
