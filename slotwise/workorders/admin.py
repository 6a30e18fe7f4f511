"""Work orders in the admin, scoped to the organisation and the admin user's units.

Orders are read-only here: every change goes through `services` (state machine, lock, events,
timeline, notifications). The catalogue, the completion questionnaire and the technicians' pay
rules are edited here as well as on their pages."""

from django.contrib import admin

from slotwise.core.admin_scoping import OrgScopedAdmin

from .models import CatalogueItem, PayRule, Question, WorkOrder


@admin.register(WorkOrder)
class WorkOrderAdmin(OrgScopedAdmin):
    list_display = ["number", "title", "status", "technician", "scheduled_start", "total", "unit"]
    list_filter = ["status", "source"]
    search_fields = ["title", "contact__first_name", "contact__last_name", "public_id"]
    list_select_related = ["technician__user", "unit"]
    ordering = ["-created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request, *args):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CatalogueItem)
class CatalogueItemAdmin(OrgScopedAdmin):
    list_display = ["name", "kind", "unit_price", "tax_rate", "active"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "code"]


@admin.register(Question)
class QuestionAdmin(OrgScopedAdmin):
    list_display = ["text", "kind", "required", "position", "active"]


@admin.register(PayRule)
class PayRuleAdmin(OrgScopedAdmin):
    list_display = ["technician", "labour_share_percent", "fixed_per_job", "mileage_rate"]
