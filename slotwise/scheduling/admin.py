from django.contrib import admin

from slotwise.core.admin_scoping import OrgScopedAdmin, OrgScopedInlineMixin

from .models import (
    AppointmentType,
    AppointmentTypeSkill,
    AvailabilityException,
    ExternalBusy,
    SchedulingPolicy,
    TimeOff,
    WorkingHours,
)


@admin.register(WorkingHours)
class WorkingHoursAdmin(OrgScopedAdmin):
    list_display = ["staff", "weekday", "start", "end"]


@admin.register(AvailabilityException)
class AvailabilityExceptionAdmin(OrgScopedAdmin):
    list_display = ["staff", "date", "start", "end", "note"]


@admin.register(TimeOff)
class TimeOffAdmin(OrgScopedAdmin):
    list_display = ["staff", "start", "end", "reason"]


class AppointmentTypeSkillInline(OrgScopedInlineMixin, admin.TabularInline):
    model = AppointmentTypeSkill
    extra = 1


@admin.register(AppointmentType)
class AppointmentTypeAdmin(OrgScopedAdmin):
    list_display = ["name", "slug", "mode", "duration_minutes", "capacity", "price", "active"]
    list_filter = ["mode", "active", "combinable"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["allowed_units", "allowed_regions"]
    inlines = [AppointmentTypeSkillInline]


@admin.register(SchedulingPolicy)
class SchedulingPolicyAdmin(OrgScopedAdmin):
    """One per organisation (OneToOne `organisation`, so scoped like any org-owned model)."""

    list_display = ["organisation", "slot_step_minutes", "travel_source", "hold_minutes"]

    def has_add_permission(self, request, *args):
        # Below the superuser, the organisation already has its policy (created with it).
        return request.user.is_superuser and super().has_add_permission(request, *args)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


@admin.register(ExternalBusy)
class ExternalBusyAdmin(OrgScopedAdmin):
    """Filled by calendar sync; scoped through the staff member (organisation and unit)."""

    list_display = ["staff", "start", "end", "source"]
    list_filter = ["source"]
