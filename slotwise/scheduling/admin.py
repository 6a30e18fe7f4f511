from django.contrib import admin

from slotwise.core.admin_scoping import OrgScopedAdmin

from .models import AvailabilityException, TimeOff, WorkingHours


@admin.register(WorkingHours)
class WorkingHoursAdmin(OrgScopedAdmin):
    list_display = ["staff", "weekday", "start", "end"]


@admin.register(AvailabilityException)
class AvailabilityExceptionAdmin(OrgScopedAdmin):
    list_display = ["staff", "date", "start", "end", "note"]


@admin.register(TimeOff)
class TimeOffAdmin(OrgScopedAdmin):
    list_display = ["staff", "start", "end", "reason"]
