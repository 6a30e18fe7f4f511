from django.contrib import admin

from slotwise.core.admin_scoping import ReadOnlyOrgScopedAdmin

from .models import OutboundMessage


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyOrgScopedAdmin):
    """The SMS outbox, read-only: messages are written by services and sent by the worker."""

    list_display = ["created_at", "channel", "to", "purpose", "status", "attempts", "sent_at"]
    list_filter = ["status", "channel"]
    search_fields = ["to", "purpose"]
