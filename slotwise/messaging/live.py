"""Live updates for the inbox (Django Channels groups), published after the transaction commits.

Groups and events (the consumers in `consumers.py` forward them to the browser):
- `inbox.<organisation id>` — `{"type": "inbox.changed", "conversation": "<public id>",
  "unit_path": "<path of the conversation's unit or ''>"}`: a conversation of the organisation
  changed (new message, status, assignment). Each consumer checks that its user may see it.
- `conversation.<public id>` — `{"type": "conversation.changed", "message": "<public id>"}`:
  something in that conversation changed (a new message, a status tick).

Publishing costs one Redis round trip per group; `publish_many` sends one event per
conversation however many of its messages changed in a batch.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from django.db import transaction

logger = logging.getLogger("slotwise.messaging.live")


def inbox_group(organisation_id: int) -> str:
    return f"inbox.{organisation_id}"


def conversation_group(public_id) -> str:
    return f"conversation.{public_id}"


def _send(events: list[tuple[str, dict]]) -> None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None or not events:
        return

    async def send_all() -> None:
        for group, event in events:
            await layer.group_send(group, event)

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    try:
        if loop is not None:
            # Called from code running on an event loop's thread (a sync function called from
            # async code): async_to_sync can't block here, so the sending is scheduled instead.
            loop.create_task(send_all())
        else:
            async_to_sync(send_all)()
    except Exception:  # live updates are a convenience; the data is committed already
        logger.exception("live update not published")


def _events(conversation, message=None) -> list[tuple[str, dict]]:
    unit_path = ""
    if conversation.team_id and conversation.team is not None:
        unit_path = conversation.team.path
    return [
        (
            inbox_group(conversation.organisation_id),
            {
                "type": "inbox.changed",
                "conversation": str(conversation.public_id),
                "contact_unit": conversation.contact.unit_id if conversation.contact_id else None,
                "team_path": unit_path,
            },
        ),
        (
            conversation_group(conversation.public_id),
            {
                "type": "conversation.changed",
                "message": str(message.public_id) if message is not None else "",
            },
        ),
    ]


def publish(conversation, message=None) -> None:
    """Tell open inboxes and conversation pages that `conversation` changed, after commit."""
    events = _events(conversation, message)
    transaction.on_commit(lambda: _send(events))


def publish_many(conversations) -> None:
    events: list[tuple[str, dict]] = []
    seen = set()
    for conversation in conversations:
        if conversation is None or conversation.pk in seen:
            continue
        seen.add(conversation.pk)
        events.extend(_events(conversation))
    if events:
        transaction.on_commit(lambda: _send(events))
