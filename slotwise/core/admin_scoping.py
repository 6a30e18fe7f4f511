"""Admin scoped to the admin user's organisation (and, below org admins, to their units).

`OrgScopedAdmin` narrows the change list and every detail page to what the staff member may see,
limits foreign-key choices to the same organisation, sets `organisation` on create and hides it
from everyone but superusers. Only staff with the `org.use_admin` rules permission (managers and
org admins) reach these pages; Django additionally requires `is_staff` to log in to the admin.
"""

from __future__ import annotations

from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin

from slotwise.org.roles import Role
from slotwise.org.selectors import staff_of


def _field_names(model) -> set[str]:
    # Forward fields only: a reverse relation (Region.staff, OrgUnit.staff) is not ownership.
    return {f.name for f in model._meta.fields}


def scope_queryset(
    qs,
    user,
    *,
    org_path: str | None = None,
    unit_path: str | None = None,
    unit_nullable: bool = False,
):
    """Narrow `qs` to the user's organisation (via `org_path`, e.g. "organisation" or
    "staff__organisation") and, for non-org-admins, to units at/below their own (`unit_path`)."""
    if user.is_superuser:
        return qs
    staff = staff_of(user)
    if staff is None:
        return qs.none()
    model = qs.model
    if model.__name__ == "Organisation":
        return qs.filter(pk=staff.organisation_id)
    if org_path:
        qs = qs.filter(**{org_path: staff.organisation_id})
    if unit_path and not staff.has_role(Role.ORG_ADMIN):
        q = Q(**{f"{unit_path}__path__startswith": staff.unit.path})
        if unit_nullable:
            q |= Q(**{f"{unit_path}__isnull": True})
        qs = qs.filter(q)
    return qs


def guess_paths(model) -> tuple[str | None, str | None, bool]:
    """(organisation lookup, unit lookup, unit nullable) for a model of ours."""
    names = _field_names(model)
    if model.__name__ == "Organisation":
        return None, None, False
    if model.__name__ == "OrgUnit":
        return "organisation", "", False
    if "organisation" in names:
        org = "organisation"
    elif "staff" in names:
        org = "staff__organisation"
    elif "contact" in names:
        org = "contact__organisation"
    elif "region" in names:
        org = "region__organisation"
    else:
        org = None
    unit = None
    nullable = False
    if "unit" in names:
        unit = "unit"
        nullable = model._meta.get_field("unit").null
    elif "staff" in names:
        unit = "staff__unit"
    elif "contact" in names:
        unit = "contact__unit"
        nullable = True
    return org, unit, nullable


class AdminAccessMixin:
    """Who may use the admin: active `is_staff` users with the `org.use_admin` rules permission
    (managers and org admins). Which rows they see is up to the admin's `get_queryset`."""

    def _may_use(self, request) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and user.has_perm("org.use_admin"))

    def has_module_permission(self, request):
        return self._may_use(request)

    def has_view_permission(self, request, obj=None):
        return self._may_use(request)

    def has_add_permission(self, request, *args):
        return self._may_use(request)

    def has_change_permission(self, request, obj=None):
        return self._may_use(request)

    def has_delete_permission(self, request, obj=None):
        return self._may_use(request)


class OrgScopedAdminMixin(AdminAccessMixin):
    """Mix into a ModelAdmin/InlineModelAdmin of a model that belongs to one organisation."""

    #: Override when the guesses of `guess_paths` are wrong for a model.
    org_lookup: str | None = None
    unit_lookup: str | None = None

    def _paths(self):
        org, unit, nullable = guess_paths(self.model)
        return (
            (self.org_lookup or org),
            (self.unit_lookup if self.unit_lookup is not None else unit),
            nullable,
        )

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        org, unit, nullable = self._paths()
        if self.model.__name__ == "OrgUnit":
            if request.user.is_superuser:
                return qs
            staff = staff_of(request.user)
            if staff is None:
                return qs.none()
            qs = qs.filter(organisation=staff.organisation_id)
            if not staff.has_role(Role.ORG_ADMIN):
                qs = qs.filter(path__startswith=staff.unit.path)
            return qs
        return scope_queryset(
            qs, request.user, org_path=org, unit_path=unit, unit_nullable=nullable
        )

    # --- history pages: simple_history falls back to the historical rows of objects the
    # queryset doesn't return (meant for deleted objects), which would show other organisations'
    # data; only objects in the scoped queryset have a history page here.
    def _in_scope(self, request, object_id) -> bool:
        if request.user.is_superuser:
            return True
        try:
            return self.get_queryset(request).filter(pk=unquote(object_id)).exists()
        except (ValueError, TypeError, ValidationError):
            return False

    def history_view(self, request, object_id, extra_context=None):
        if not self._in_scope(request, object_id):
            raise Http404
        return super().history_view(request, object_id, extra_context=extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if not self._in_scope(request, object_id):
            raise Http404
        return super().history_form_view(
            request, object_id, version_id, extra_context=extra_context
        )

    # --- choices limited to the same organisation ------------------------------------------
    def _limit_choices(self, db_field, request, kwargs):
        if request.user.is_superuser:
            return
        related = db_field.related_model
        base = kwargs.get("queryset") or related._default_manager.all()
        if related.__name__ in ("User",):
            staff = staff_of(request.user)
            if staff is None:
                kwargs["queryset"] = base.none()
                return
            kwargs["queryset"] = base.filter(
                Q(staff__organisation=staff.organisation_id)
                | Q(contact__organisation=staff.organisation_id)
            ).distinct()
            return
        org, unit, nullable = guess_paths(related)
        if related.__name__ == "OrgUnit":
            staff = staff_of(request.user)
            qs = base.none() if staff is None else base.filter(organisation=staff.organisation_id)
            if staff is not None and not staff.has_role(Role.ORG_ADMIN):
                qs = qs.filter(path__startswith=staff.unit.path)
            kwargs["queryset"] = qs
            return
        if related.__name__ == "Organisation" or org:
            kwargs["queryset"] = scope_queryset(
                base, request.user, org_path=org, unit_path=unit, unit_nullable=nullable
            )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        self._limit_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        self._limit_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # --- organisation is set, not chosen -----------------------------------------------------
    def _has_org_field(self) -> bool:
        return "organisation" in {f.name for f in self.model._meta.concrete_fields}

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if self._has_org_field() and not request.user.is_superuser:
            exclude.append("organisation")
        return exclude

    def save_model(self, request, obj, form, change):
        if self._has_org_field() and not getattr(obj, "organisation_id", None):
            staff = staff_of(request.user)
            if staff is not None:
                obj.organisation = staff.organisation
        super().save_model(request, obj, form, change)


class OrgScopedInlineMixin(OrgScopedAdminMixin):
    """Inlines: the parent form decides; inlines only narrow choices."""

    def get_queryset(self, request):
        return super(OrgScopedAdminMixin, self).get_queryset(request)

    def save_model(self, request, obj, form, change):  # pragma: no cover - inlines don't call it
        raise NotImplementedError


class OrgScopedAdmin(OrgScopedAdminMixin, SimpleHistoryAdmin):
    """The base of every Slotwise model admin."""


class ReadOnlyOrgScopedAdmin(OrgScopedAdmin):
    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
