from django.contrib import admin

from slotwise.core.admin_scoping import OrgScopedAdmin, ReadOnlyOrgScopedAdmin

from .models import CannedReply, ChannelConfig, Conversation, Message


@admin.register(Message)
class MessageAdmin(ReadOnlyOrgScopedAdmin):
    """Every message in and out, read-only: written by services, sent by the worker."""

    list_display = [
        "created_at",
        "channel",
        "direction",
        "to",
        "purpose",
        "status",
        "attempts",
        "sent_at",
    ]
    list_filter = ["status", "channel", "direction"]
    search_fields = ["to", "purpose", "provider_message_id"]


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ["contact", "channel", "status", "assignee", "bot_active", "last_message_at"]
    list_filter = ["status", "bot_active"]


@admin.register(ChannelConfig)
class ChannelConfigAdmin(OrgScopedAdmin):
    list_display = ["name", "kind", "enabled", "disabled_at", "organisation"]
    list_filter = ["kind", "enabled"]
    readonly_fields = ["inbound_key", "disabled_at", "disabled_reason"]


@admin.register(CannedReply)
class CannedReplyAdmin(OrgScopedAdmin):
    list_display = ["shortcut", "title", "language", "organisation"]
