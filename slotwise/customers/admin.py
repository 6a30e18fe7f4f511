from django.contrib import admin

from slotwise.core.admin_scoping import OrgScopedAdmin, ReadOnlyOrgScopedAdmin

from .models import Consent, Contact, Identity, TimelineEntry


@admin.register(Contact)
class ContactAdmin(OrgScopedAdmin):
    list_display = ["__str__", "phone", "email", "unit", "preferred_channel"]
    search_fields = ["first_name", "last_name", "phone", "email"]
    readonly_fields = ["public_id"]


@admin.register(Identity)
class IdentityAdmin(OrgScopedAdmin):
    list_display = ["contact", "kind", "external_id", "verified"]
    search_fields = ["external_id"]


@admin.register(Consent)
class ConsentAdmin(OrgScopedAdmin):
    list_display = ["contact", "kind", "version", "accepted_at", "withdrawn_at"]


@admin.register(TimelineEntry)
class TimelineEntryAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ["contact", "kind", "summary", "occurred_at"]
