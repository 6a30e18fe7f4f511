"""Users in the admin: an organisation's admins and managers issue staff logins here (S2.13).

They see only users who work in their organisation (in units they may see) or are its customers,
and can't hand out superuser rights or Django permissions: roles live on `org.Staff`.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from slotwise.core.admin_scoping import AdminAccessMixin
from slotwise.org.roles import Role
from slotwise.org.selectors import staff_of

from .models import User

RESTRICTED = ("is_superuser", "groups", "user_permissions")


@admin.register(User)
class UserAdmin(AdminAccessMixin, DjangoUserAdmin, SimpleHistoryAdmin):
    list_display = (
        "username",
        "first_name",
        "last_name",
        "email",
        "phone",
        "is_active",
        "last_login",
    )
    search_fields = ("username", "first_name", "last_name", "email", "phone")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (
            _("Personal info"),
            {"fields": ("first_name", "last_name", "email", "phone", "phone_verified", "language")},
        ),
        (
            _("Access"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        staff = staff_of(request.user)
        if staff is None:
            return qs.none()
        in_org = Q(staff__organisation=staff.organisation_id) | Q(
            contact__organisation=staff.organisation_id
        )
        if not staff.has_role(Role.ORG_ADMIN):
            in_org = Q(staff__unit__path__startswith=staff.unit.path) | Q(
                Q(contact__organisation=staff.organisation_id),
                Q(contact__unit__isnull=True) | Q(contact__unit__path__startswith=staff.unit.path),
            )
        # A new user has neither yet: show users created by this admin session too (no org link).
        return qs.filter(
            in_org | Q(staff__isnull=True, contact__isnull=True, is_superuser=False)
        ).distinct()

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [
            (name, {**opts, "fields": tuple(f for f in opts["fields"] if f not in RESTRICTED)})
            for name, opts in fieldsets
        ]

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser
