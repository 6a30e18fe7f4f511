"""In-app chat: customers in the portal (S3.9) and technicians in their app (S2.11) write to the
office on a page of Slotwise itself; there is no outside provider.

Delivery IS storing the message: a staff reply is written to the outbox like any other message
(so the inbox treats every channel alike) and the dispatcher's `send` here only confirms it — it
is `delivered` at once, and the live event (`live.publish`, sent when the status is recorded and
already when it was queued) updates the customer's open chat page through the
`ws/conversations/<public id>/` consumer; the page also polls as a fallback. Messages from the
customer come in through `messaging.chat.chat_message_post`, not through a webhook, so
`parse_inbound` keeps the base class's "no inbound calls" (404).

The address of a chat conversation is the contact's public id (the medium "chat" has no other
address); attachments are the stored files themselves (nothing to fetch).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from ..base import Channel, OutgoingMessage, SendResult


class ChatChannel(Channel):
    kind = "chat"
    medium = "chat"
    verbose_name = _("In-app chat")
    settings_fields = ()
    supports_media = True
    #: nothing arrives by webhook: no replayed captures to date
    max_event_age_seconds = None

    def send(self, message: OutgoingMessage) -> SendResult:
        """The message is already stored where the chat page reads it: delivered."""
        return SendResult(
            external_id=f"chat-{message.message_id or message.idempotency_key}",
            status="delivered",
        )
