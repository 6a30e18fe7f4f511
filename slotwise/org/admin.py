from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from slotwise.core.admin_scoping import OrgScopedAdmin, OrgScopedInlineMixin
from slotwise.org.roles import Role
from slotwise.org.selectors import staff_of
from slotwise.scheduling.models import AvailabilityException, WorkingHours

from . import services
from .models import Location, Organisation, OrgUnit, Region, Skill, Staff, StaffRole, StaffSkill
from .postcodes import parse_ranges


@admin.register(Organisation)
class OrganisationAdmin(OrgScopedAdmin):
    list_display = ["name", "slug", "country", "currency"]
    search_fields = ["name", "slug"]

    def has_add_permission(self, request, *args):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class OrgUnitForm(forms.ModelForm):
    class Meta:
        model = OrgUnit
        fields = ["organisation", "name", "kind", "parent", "location"]

    def clean_parent(self):
        parent = self.cleaned_data.get("parent")
        if parent is not None and self.instance.pk and parent.path.startswith(self.instance.path):
            raise ValidationError(_("A unit cannot be moved below itself."))
        return parent


@admin.register(OrgUnit)
class OrgUnitAdmin(OrgScopedAdmin):
    form = OrgUnitForm
    list_display = ["name", "kind", "parent", "path"]
    readonly_fields = ["path"]
    search_fields = ["name"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        staff = staff_of(request.user)
        if "parent" in form.base_fields and not request.user.is_superuser:
            # Below org admins a unit must sit under one the user can see, or they'd lose it.
            if staff is None or not staff.has_role(Role.ORG_ADMIN):
                form.base_fields["parent"].required = True
        return form

    def save_model(self, request, obj, form, change):
        organisation = (
            obj.organisation if obj.organisation_id else staff_of(request.user).organisation
        )
        if not change:
            unit = services.org_unit_create(
                organisation=organisation, name=obj.name, parent=obj.parent, kind=obj.kind
            )
            obj.pk, obj.path, obj.organisation = unit.pk, unit.path, unit.organisation
            obj.created_at = unit.created_at
            if obj.location_id:
                obj.save(update_fields=["location"])
            return
        if "parent" in form.changed_data:
            original = OrgUnit.objects.get(pk=obj.pk)
            moved = services.org_unit_move(unit=original, parent=obj.parent)
            obj.path = moved.path
        super().save_model(request, obj, form, change)


class RegionForm(forms.ModelForm):
    class Meta:
        model = Region
        fields = ["organisation", "name", "country", "postcodes"]

    def clean_postcodes(self):
        value = self.cleaned_data.get("postcodes", "")
        parse_ranges(value)  # ValidationError → shown on the field
        return value


@admin.register(Region)
class RegionAdmin(OrgScopedAdmin):
    form = RegionForm
    list_display = ["name", "country", "postcodes"]
    search_fields = ["name"]

    def save_model(self, request, obj, form, change):
        organisation = (
            obj.organisation if obj.organisation_id else staff_of(request.user).organisation
        )
        saved = services.region_save(
            organisation=organisation,
            name=obj.name,
            country=obj.country,
            postcodes=obj.postcodes,
            region=obj if change else None,
        )
        obj.pk, obj.organisation = saved.pk, saved.organisation


@admin.register(Skill)
class SkillAdmin(OrgScopedAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


@admin.register(Location)
class LocationAdmin(OrgScopedAdmin):
    list_display = ["__str__", "postcode", "city", "country", "geocoded_by"]
    search_fields = ["label", "address", "postcode", "city"]


class StaffRoleInline(OrgScopedInlineMixin, admin.TabularInline):
    model = StaffRole
    extra = 0


class StaffSkillInline(OrgScopedInlineMixin, admin.TabularInline):
    model = StaffSkill
    extra = 0


class WorkingHoursInline(OrgScopedInlineMixin, admin.TabularInline):
    model = WorkingHours
    extra = 0


class AvailabilityExceptionInline(OrgScopedInlineMixin, admin.TabularInline):
    model = AvailabilityException
    extra = 0


@admin.register(Staff)
class StaffAdmin(OrgScopedAdmin):
    list_display = ["__str__", "unit", "title", "active_from", "active_to"]
    list_filter = ["active_to"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "title"]
    inlines = [StaffRoleInline, StaffSkillInline, WorkingHoursInline, AvailabilityExceptionInline]


@admin.register(StaffRole)
class StaffRoleAdmin(OrgScopedAdmin):
    list_display = ["staff", "role"]


@admin.register(StaffSkill)
class StaffSkillAdmin(OrgScopedAdmin):
    list_display = ["staff", "skill", "level"]
