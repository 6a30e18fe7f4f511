"""Bookings in the admin: scoped to the organisation and the admin user's units, read-only.

Every change to a booking goes through `services` (lock, re-check, timeline, customer message),
so the admin shows bookings and their history but does not edit them; the one write it offers is
the "Cancel" action, which calls `booking_cancel` (staff are not bound by the cancel window).
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from slotwise.core.admin_scoping import OrgScopedAdmin

from . import services
from .models import ACTIVE_STATUSES, Booking


@admin.register(Booking)
class BookingAdmin(OrgScopedAdmin):
    list_display = ["start", "type", "staff", "contact", "unit", "status", "source"]
    list_filter = ["status", "source", "type"]
    date_hierarchy = "start"
    search_fields = ["contact__first_name", "contact__last_name", "contact__phone", "public_id"]
    list_select_related = ["type", "staff__user", "contact", "unit"]
    ordering = ["-start"]
    actions = ["cancel_bookings"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + ["services"]

    def has_add_permission(self, request, *args):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Cancel the selected bookings"))
    def cancel_bookings(self, request, queryset):
        done = 0
        for booking in queryset.filter(status__in=ACTIVE_STATUSES):
            try:
                services.booking_cancel(
                    booking=booking,
                    actor=request.user,
                    reason=str(_("Cancelled in the admin")),
                    enforce_window=False,
                )
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            else:
                done += 1
        self.message_user(
            request,
            ngettext("%(count)d booking cancelled.", "%(count)d bookings cancelled.", done)
            % {"count": done},
            messages.SUCCESS,
        )
