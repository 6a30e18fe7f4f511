"""REST endpoints of the scheduling app: appointment types, ranked options, who is free, agenda
gaps and working hours (documented in the OpenAPI schema at /api/schema/).

Every endpoint here is for staff: the organisation is the signed-in staff member's, and every
id or slug in a request is looked up inside it (another organisation's type or staff member is
"unknown", a field error). Times: ISO 8601; a time without an offset is read in the
organisation's time zone, and responses are in the organisation's time zone with the offset.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Prefetch, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from slotwise.customers.selectors import contacts_for
from slotwise.org.models import OrgUnit, Region, Skill, Staff
from slotwise.org.roles import BOOKING_ROLES, Role
from slotwise.org.selectors import (
    models_from_row,
    select_columns,
    staff_for,
    staff_of,
    units_for,
)

from . import selectors
from .models import (
    AppointmentMode,
    AppointmentType,
    AppointmentTypeSkill,
    AvailabilityException,
    Prepayment,
    WorkingHours,
)
from .services import appointment_type_save

DEFAULT_OPTION_DAYS = 14
MAX_GAP_DAYS = 31


# -- shared pieces (also used by bookings.api) -----------------------------------------------


class IsStaffMember(BasePermission):
    """Signed in and a staff member of an organisation."""

    def has_permission(self, request, view) -> bool:
        return staff_of(request.user) is not None


class OrgTimeZoneMixin:
    """Parse naive times and render times in the organisation's time zone."""

    def organisation(self, request):
        staff = staff_of(request.user)
        if staff is None:
            raise PermissionDenied()
        return staff.organisation

    def org_zone(self, request):
        staff = staff_of(request.user)
        if staff is not None:
            return ZoneInfo(staff.organisation.time_zone)
        return None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        zone = self.org_zone(request)
        if zone is not None:
            timezone.activate(zone)

    def finalize_response(self, request, response, *args, **kwargs):
        # Serializers have already formatted the times; restore the default zone.
        timezone.deactivate()
        return super().finalize_response(request, response, *args, **kwargs)


def remap(exc: ValidationError, mapping: dict[str, str]) -> ValidationError:
    """The same errors under the API's field names (e.g. window_start -> start)."""
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError(
        {mapping.get(name, name): errors for name, errors in exc.error_dict.items()}
    )


def _split(values) -> list[str]:
    out: list[str] = []
    for value in values or ():
        out.extend(part.strip() for part in str(value).split(",") if part.strip())
    return out


def _type_q(value: str) -> Q:
    return Q(slug=value) | Q(pk=int(value)) if value.isdigit() else Q(slug=value)


def resolve_type(organisation, value, *, field: str = "type", active_only: bool = True):
    """An appointment type of the organisation by slug or id; unknown = field error."""
    value = str(value or "").strip()
    found = None
    policy = None
    if value and connection.vendor == "postgresql":
        found, policy = _type_and_policy_postgres(organisation, value, active_only)
    elif value:
        # The organisation's scheduling policy comes along (every caller needs it next).
        qs = AppointmentType.objects.filter(
            _type_q(value), organisation=organisation
        ).select_related("organisation__scheduling_policy")
        if active_only:
            qs = qs.filter(active=True)
        found = qs.first()
        if found is not None:
            policy = found.organisation._state.fields_cache.get("scheduling_policy")
    if found is None:
        raise ValidationError({field: _("Unknown appointment type.")})
    if policy is not None and getattr(organisation, "_scheduling_policy_cache", None) is None:
        policy.organisation = organisation
        organisation._scheduling_policy_cache = policy
    found.organisation = organisation  # already loaded: no second read
    return found


@functools.cache
def _type_sql(by_id: bool, active_only: bool) -> str:
    from .models import SchedulingPolicy

    # The type's skills, units and regions come along (`selectors._type_rules`: visit_spec
    # needs them next), as a JSON array of rows.
    rules = selectors.type_rules_sql("{id} = t.id")
    return (
        f"SELECT {select_columns('t', AppointmentType)}, {select_columns('p', SchedulingPolicy)},"
        f" (SELECT coalesce(json_agg(json_build_array(r.kind, r.type_id, r.text, r.number)), '[]') FROM ({rules}) r)"
        f" FROM {AppointmentType._meta.db_table} t"
        f" LEFT JOIN {SchedulingPolicy._meta.db_table} p"
        f" ON p.organisation_id = t.organisation_id"
        f" WHERE t.organisation_id = %s AND (t.slug = %s{' OR t.id = %s' if by_id else ''})"
        f"{' AND t.active' if active_only else ''} ORDER BY t.name LIMIT 1"
    )


def _type_and_policy_postgres(organisation, value: str, active_only: bool):
    """`resolve_type`'s query as plain SQL (on the hot path of every booking and search; the
    ORM's compile step costs more than the query): the type and the organisation's policy."""
    from .models import SchedulingPolicy

    by_id = value.isdigit() and int(value) <= 2**63 - 1
    params = [organisation.pk, value, *([int(value)] if by_id else [])]
    with connection.cursor() as cursor:
        cursor.execute(_type_sql(by_id, active_only), params)
        row = cursor.fetchone()
    if row is None:
        return None, None
    found, policy = models_from_row(row[:-1], [AppointmentType, SchedulingPolicy])
    found._rules_rows = [tuple(r) for r in row[-1]]
    return found, policy


def resolve_services(organisation, values, *, main) -> list[AppointmentType]:
    """Further (combinable) types by slug or id, in the order given."""
    wanted = [v for v in _split(values) if v not in (main.slug, str(main.pk))]
    if not wanted:
        return []
    q = Q(pk__in=[])
    for value in wanted:
        q |= _type_q(value)
    found = list(
        AppointmentType.objects.filter(q, organisation=organisation, active=True).select_related(
            "organisation"
        )
    )
    by_key = {t.slug: t for t in found} | {str(t.pk): t for t in found}
    missing = [v for v in wanted if v not in by_key]
    if missing:
        raise ValidationError(
            {"services": _("Unknown service: %(names)s.") % {"names": ", ".join(missing)}}
        )
    out: list[AppointmentType] = []
    for value in wanted:
        if by_key[value] not in out:
            out.append(by_key[value])
    return out


def spec_for(main, extras):
    try:
        return selectors.visit_spec([main, *extras])
    except ValidationError as exc:
        raise remap(exc, {"types": "services" if extras else "type"}) from None


def resolve_contact(user, public_id, *, field: str = "contact"):
    if public_id in (None, ""):
        return None
    staff = staff_of(user)
    if staff is not None and not user.is_superuser and connection.vendor == "postgresql":
        found = _contact_postgres(staff, public_id)
    else:
        found = contacts_for(user).filter(public_id=public_id).select_related(None).first()
    if found is None:
        raise ValidationError({field: _("Unknown contact.")})
    if staff is not None and found.organisation_id == staff.organisation_id:
        found.organisation = staff.organisation  # already loaded: no second read
    return found


@functools.cache
def _contact_sql(org_admin: bool) -> str:
    from slotwise.customers.models import Contact

    return (
        f"SELECT {select_columns('c', Contact)} FROM {Contact._meta.db_table} c"
        f" LEFT JOIN {OrgUnit._meta.db_table} u ON u.id = c.unit_id"
        f" WHERE c.public_id = %s AND c.organisation_id = %s"
        + ("" if org_admin else " AND (c.unit_id IS NULL OR starts_with(u.path, %s))")
        + " LIMIT 1"
    )


def _contact_postgres(staff, public_id):
    """`contacts_for(user)` narrowed to one public id, as plain SQL for a staff member (the
    same rule: the organisation's contacts with no unit or a unit at/below the staff member's
    own; org admins all of them). On the hot path of every booking."""
    import uuid

    from slotwise.customers.models import Contact

    try:
        public_id = uuid.UUID(str(public_id))
    except ValueError:
        return None
    org_admin = staff.has_role(Role.ORG_ADMIN)
    params = [public_id, staff.organisation_id, *([] if org_admin else [staff.unit.path])]
    with connection.cursor() as cursor:
        cursor.execute(_contact_sql(org_admin), params)
        row = cursor.fetchone()
    return models_from_row(row, [Contact])[0] if row is not None else None


def resolve_staff(organisation, staff_id, *, field: str = "staff", queryset=None):
    if staff_id in (None, ""):
        return None
    if queryset is None and connection.vendor == "postgresql" and str(staff_id).isdigit():
        found = _staff_postgres(organisation, int(staff_id))
    else:
        qs = queryset if queryset is not None else Staff.objects.filter(organisation=organisation)
        found = qs.filter(pk=staff_id).select_related("user", "unit").first()
    if found is None:
        raise ValidationError({field: _("Unknown staff member.")})
    return found


@functools.cache
def _staff_sql() -> str:
    user_model = get_user_model()
    return (
        f"SELECT {select_columns('s', Staff)}, {select_columns('u', user_model)},"
        f" {select_columns('ou', OrgUnit)}"
        f" FROM {Staff._meta.db_table} s"
        f" JOIN {user_model._meta.db_table} u ON u.id = s.user_id"
        f" JOIN {OrgUnit._meta.db_table} ou ON ou.id = s.unit_id"
        f" WHERE s.id = %s AND s.organisation_id = %s"
    )


def _staff_postgres(organisation, staff_id: int):
    """`resolve_staff`'s default query (a staff member of the organisation, with user and unit)
    as plain SQL: it is on the hot path of every booking."""
    if staff_id > 2**63 - 1:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_staff_sql(), [staff_id, organisation.pk])
        row = cursor.fetchone()
    if row is None:
        return None
    staff, user, unit = models_from_row(row, [Staff, get_user_model(), OrgUnit])
    staff.user = user
    staff.unit = unit
    return staff


def resolve_unit(user, unit_id):
    if unit_id in (None, ""):
        return None
    found = units_for(user).filter(pk=unit_id).first()
    if found is None:
        raise ValidationError({"unit": _("Unknown unit.")})
    return found


def visible_staff(user):
    """Whose agendas the user may read: managers and booking roles their units' staff (org
    admins everyone), anyone else only themselves."""
    me = staff_of(user)
    if me is None:
        return Staff.objects.none()
    if me.has_role(*BOOKING_ROLES):
        return staff_for(user)
    return Staff.objects.filter(pk=me.pk).select_related("user", "unit", "organisation")


def place(organisation, data, contact=None):
    """The visit's location: the postcode/address given, else the contact's address."""
    location = selectors.resolve_location(
        organisation=organisation,
        postcode=data.get("postcode", ""),
        address=data.get("address", ""),
        country=data.get("country", ""),
    )
    if location is None and contact is not None and contact.location_id:
        location = contact.location
    return location


# -- serializers -----------------------------------------------------------------------------


class LocationSerializer(serializers.Serializer):
    address = serializers.CharField()
    postcode = serializers.CharField()
    country = serializers.CharField()
    lat = serializers.FloatField()
    lng = serializers.FloatField()


class RequiredSkillSerializer(serializers.Serializer):
    skill = serializers.CharField(help_text="The skill's code.")
    min_level = serializers.IntegerField(min_value=1, max_value=5)


class AppointmentTypeSerializer(serializers.ModelSerializer):
    required_skills = serializers.SerializerMethodField()
    allowed_units = serializers.SerializerMethodField()
    allowed_regions = serializers.SerializerMethodField()

    class Meta:
        model = AppointmentType
        fields = [
            "id",
            "slug",
            "name",
            "active",
            "duration_minutes",
            "buffer_before",
            "buffer_after",
            "mode",
            "capacity",
            "min_notice_minutes",
            "horizon_days",
            "cancel_window_hours",
            "reschedule_window_hours",
            "price",
            "currency",
            "prepayment",
            "deposit_amount",
            "late_cancel_keeps_deposit",
            "no_show_fee",
            "sold_in_webshop",
            "combinable",
            "slot_step_minutes",
            "required_skills",
            "allowed_units",
            "allowed_regions",
        ]

    @extend_schema_field(RequiredSkillSerializer(many=True))
    def get_required_skills(self, obj) -> list[dict]:
        return [
            {"skill": r.skill.code, "min_level": r.min_level} for r in obj.skill_requirements.all()
        ]

    def get_allowed_units(self, obj) -> list[int]:
        return [u.pk for u in obj.allowed_units.all()]

    def get_allowed_regions(self, obj) -> list[int]:
        return [r.pk for r in obj.allowed_regions.all()]


class AppointmentTypeWriteSerializer(serializers.Serializer):
    """What an org admin or manager may set; omitted fields stay as they are (PATCH)."""

    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=50)
    active = serializers.BooleanField(required=False)
    duration_minutes = serializers.IntegerField(min_value=1)
    buffer_before = serializers.IntegerField(min_value=0, required=False)
    buffer_after = serializers.IntegerField(min_value=0, required=False)
    mode = serializers.ChoiceField(choices=AppointmentMode.choices, required=False)
    capacity = serializers.IntegerField(min_value=1, required=False)
    min_notice_minutes = serializers.IntegerField(min_value=0, required=False)
    horizon_days = serializers.IntegerField(min_value=1, required=False)
    cancel_window_hours = serializers.IntegerField(min_value=0, required=False)
    reschedule_window_hours = serializers.IntegerField(min_value=0, required=False)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    currency = serializers.CharField(max_length=3, required=False)
    prepayment = serializers.ChoiceField(choices=Prepayment.choices, required=False)
    deposit_amount = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    late_cancel_keeps_deposit = serializers.BooleanField(required=False)
    no_show_fee = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    sold_in_webshop = serializers.BooleanField(required=False)
    combinable = serializers.BooleanField(required=False)
    slot_step_minutes = serializers.IntegerField(
        min_value=5, max_value=240, required=False, allow_null=True
    )
    required_skills = RequiredSkillSerializer(many=True, required=False)
    allowed_units = serializers.ListField(child=serializers.IntegerField(), required=False)
    allowed_regions = serializers.ListField(child=serializers.IntegerField(), required=False)


class TypeListQuerySerializer(serializers.Serializer):
    active = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Only active / inactive types."
    )


class OptionSerializer(serializers.Serializer):
    staff = serializers.IntegerField(source="staff_id")
    staff_name = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    travel_before = serializers.IntegerField(help_text="Minutes from the previous place.")
    travel_after = serializers.IntegerField(help_text="Minutes to the next place.")
    score = serializers.FloatField()
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Translated.")
    reason_codes = serializers.ListField(
        child=serializers.DictField(),
        help_text='Machine-readable: {"code": ..., **params}, e.g. {"code": '
        '"travel_from_previous", "minutes": 12}.',
    )
    seats_left = serializers.IntegerField(allow_null=True, help_text="Group types only.")


class _TypeQuery(serializers.Serializer):
    type = serializers.CharField(help_text="The appointment type's slug or id.")
    services = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Further combinable services in the same visit: slugs or ids, comma-separated.",
    )
    postcode = serializers.CharField(required=False, allow_blank=True)
    address = serializers.CharField(required=False, allow_blank=True)
    country = serializers.CharField(
        required=False, allow_blank=True, max_length=2, help_text="Default: the organisation's."
    )
    contact = serializers.UUIDField(
        required=False,
        help_text="The customer's public id: continuity with their usual staff member, and "
        "their address when no postcode is given.",
    )
    unit = serializers.IntegerField(required=False, help_text="Only staff of this unit and below.")


class OptionsQuerySerializer(_TypeQuery):
    start = serializers.DateTimeField(required=False, help_text="Window start (default: now).")
    end = serializers.DateTimeField(
        required=False, help_text="Window end (default: 14 days later, within the horizon)."
    )
    staff = serializers.IntegerField(required=False, help_text="Preferred staff member.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=50, default=10)


class OptionsResponseSerializer(serializers.Serializer):
    type = serializers.CharField()
    services = serializers.ListField(child=serializers.CharField())
    duration = serializers.IntegerField(help_text="Minutes, all services together.")
    location = LocationSerializer(allow_null=True)
    options = OptionSerializer(many=True)


class FreeQuerySerializer(_TypeQuery):
    at = serializers.DateTimeField(help_text="The start time asked about.")


class FreeResponseSerializer(serializers.Serializer):
    type = serializers.CharField()
    at = serializers.DateTimeField()
    location = LocationSerializer(allow_null=True)
    options = OptionSerializer(many=True)


class GapsQuerySerializer(serializers.Serializer):
    staff = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Staff ids, comma-separated (default: every agenda you may see, at most 200).",
    )
    start = serializers.DateTimeField(required=False, help_text="Default: now.")
    end = serializers.DateTimeField(required=False, help_text="Default: 7 days later.")
    min_minutes = serializers.IntegerField(required=False, min_value=5, max_value=720, default=15)


class IntervalSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class StaffGapsSerializer(serializers.Serializer):
    staff = serializers.IntegerField()
    staff_name = serializers.CharField()
    gaps = IntervalSerializer(many=True)


class GapsResponseSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    agendas = StaffGapsSerializer(many=True)


class HoursQuerySerializer(serializers.Serializer):
    staff = serializers.IntegerField(required=False, help_text="Default: yourself.")


class WeeklyHoursSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(help_text="0 = Monday … 6 = Sunday.")
    start = serializers.TimeField()
    end = serializers.TimeField()


class ExceptionSerializer(serializers.Serializer):
    date = serializers.DateField()
    start = serializers.TimeField(allow_null=True)
    end = serializers.TimeField(allow_null=True)
    note = serializers.CharField()


class HoursResponseSerializer(serializers.Serializer):
    staff = serializers.IntegerField()
    staff_name = serializers.CharField()
    time_zone = serializers.CharField()
    hours = WeeklyHoursSerializer(many=True)
    exceptions = ExceptionSerializer(many=True, help_text="From today on.")


class ErrorSerializer(serializers.Serializer):
    """Field-level errors: {"<field>": ["message", ...], ...}, or {"detail": "..."}."""

    detail = serializers.CharField(required=False)


def _staff_name(staff) -> str:
    return staff.user.get_full_name() or staff.user.get_username()


def _location_data(location):
    if location is None:
        return None
    return {
        "address": location.address,
        "postcode": location.postcode,
        "country": location.country,
        "lat": location.lat,
        "lng": location.lng,
    }


def _query(serializer_class, request):
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


ERRORS = {400: OpenApiResponse(ErrorSerializer, description="Field-level errors.")}


# -- appointment types -----------------------------------------------------------------------


def _types_qs(organisation):
    return AppointmentType.objects.filter(organisation=organisation).prefetch_related(
        Prefetch(
            "skill_requirements",
            queryset=AppointmentTypeSkill.objects.select_related("skill"),
        ),
        "allowed_units",
        "allowed_regions",
    )


def _save_type(request, organisation, data, instance=None):
    skills = units = regions = None
    errors = {}
    if "required_skills" in data:
        wanted = {row["skill"]: row["min_level"] for row in data.pop("required_skills")}
        found = {
            s.code: s for s in Skill.objects.filter(organisation=organisation, code__in=wanted)
        }
        unknown = sorted(set(wanted) - set(found))
        if unknown:
            errors["required_skills"] = _("Unknown skill: %(names)s.") % {
                "names": ", ".join(unknown)
            }
        skills = {found[code]: level for code, level in wanted.items() if code in found}
    if "allowed_units" in data:
        ids = set(data.pop("allowed_units"))
        units = list(OrgUnit.objects.filter(organisation=organisation, pk__in=ids))
        if len(units) != len(ids):
            errors["allowed_units"] = _("Unknown unit.")
    if "allowed_regions" in data:
        ids = set(data.pop("allowed_regions"))
        regions = list(Region.objects.filter(organisation=organisation, pk__in=ids))
        if len(regions) != len(ids):
            errors["allowed_regions"] = _("Unknown region.")
    if errors:
        raise ValidationError(errors)
    return appointment_type_save(
        organisation=organisation,
        instance=instance,
        actor=request.user,
        skills=skills,
        allowed_units=units,
        allowed_regions=regions,
        **data,
    )


class AppointmentTypeListView(OrgTimeZoneMixin, APIView):
    permission_classes = [IsStaffMember]

    @extend_schema(
        summary="Appointment types of your organisation",
        parameters=[TypeListQuerySerializer],
        responses=AppointmentTypeSerializer(many=True),
    )
    def get(self, request):
        organisation = self.organisation(request)
        qs = _types_qs(organisation)
        active = _query(TypeListQuerySerializer, request).get("active")
        if active is not None:
            qs = qs.filter(active=active)
        return Response(AppointmentTypeSerializer(qs, many=True).data)

    @extend_schema(
        summary="Create an appointment type (org admins and managers)",
        request=AppointmentTypeWriteSerializer,
        responses={201: AppointmentTypeSerializer, **ERRORS},
    )
    def post(self, request):
        organisation = self.organisation(request)
        if not request.user.has_perm("scheduling.manage_types"):
            raise PermissionDenied()
        serializer = AppointmentTypeWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        obj = _save_type(request, organisation, dict(serializer.validated_data))
        obj = _types_qs(organisation).get(pk=obj.pk)
        return Response(AppointmentTypeSerializer(obj).data, status=status.HTTP_201_CREATED)


class AppointmentTypeDetailView(OrgTimeZoneMixin, APIView):
    permission_classes = [IsStaffMember]

    def _get(self, request, key):
        organisation = self.organisation(request)
        obj = _types_qs(organisation).filter(_type_q(str(key))).first()
        if obj is None:
            raise NotFound()
        return organisation, obj

    @extend_schema(
        summary="One appointment type (by slug or id)", responses=AppointmentTypeSerializer
    )
    def get(self, request, key):
        _org, obj = self._get(request, key)
        return Response(AppointmentTypeSerializer(obj).data)

    @extend_schema(
        summary="Change an appointment type (org admins and managers)",
        request=AppointmentTypeWriteSerializer(partial=True),
        responses={200: AppointmentTypeSerializer, **ERRORS},
    )
    def patch(self, request, key):
        organisation, obj = self._get(request, key)
        if not request.user.has_perm("scheduling.manage_types", obj):
            raise PermissionDenied()
        serializer = AppointmentTypeWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        _save_type(request, organisation, dict(serializer.validated_data), instance=obj)
        obj = _types_qs(organisation).get(pk=obj.pk)
        return Response(AppointmentTypeSerializer(obj).data)


# -- options, who is free, gaps, hours -------------------------------------------------------


def fresh_options(
    *, organisation, spec, location, around, contact=None, exclude_booking=None, limit=5
):
    """Options for the same visit around `around` (for a 409 after a lost race): from a day
    before (not before now) to two days after, within the horizon. Never raises."""
    now = timezone.now()
    start = max(now, around - dt.timedelta(days=1))
    end = min(
        around + dt.timedelta(days=2),
        now + dt.timedelta(days=spec.horizon_days) - dt.timedelta(minutes=1),
    )
    if end <= start:
        return []
    try:
        return selectors.find_options(
            organisation=organisation,
            spec=spec,
            location=location,
            window_start=start,
            window_end=end,
            contact=contact,
            limit=limit,
            now=now,
            exclude_booking=exclude_booking,
        )
    except ValidationError:
        return []


def _visit(request, organisation, q):
    """The visit a query asks about: main type, extra services, their VisitSpec, the contact,
    the unit and the place (all resolved with the user's access checks)."""
    main = resolve_type(organisation, q["type"])
    extras = resolve_services(organisation, [q.get("services", "")], main=main)
    spec = spec_for(main, extras)
    contact = resolve_contact(request.user, q.get("contact"))
    unit = resolve_unit(request.user, q.get("unit"))
    location = place(organisation, q, contact)
    return main, extras, spec, contact, unit, location


class OptionsView(OrgTimeZoneMixin, APIView):
    permission_classes = [IsStaffMember]

    @extend_schema(
        summary="Ranked options for a visit (type + services, place, window)",
        parameters=[OptionsQuerySerializer],
        responses={200: OptionsResponseSerializer, **ERRORS},
    )
    def get(self, request):
        organisation = self.organisation(request)
        q = _query(OptionsQuerySerializer, request)
        main, extras, spec, contact, unit, location = _visit(request, organisation, q)
        preferred = resolve_staff(organisation, q.get("staff"))
        now = timezone.now()
        start = q.get("start") or now
        end = q.get("end")
        if end is None:
            horizon = now + dt.timedelta(days=spec.horizon_days)
            if start >= horizon:
                raise ValidationError(
                    {
                        "start": _(
                            "Bookings open %(days)s days in advance; choose an earlier start."
                        )
                        % {"days": spec.horizon_days}
                    }
                )
            end = min(start + dt.timedelta(days=DEFAULT_OPTION_DAYS), horizon)
        try:
            options = selectors.find_options(
                organisation=organisation,
                spec=spec,
                location=location,
                window_start=start,
                window_end=end,
                contact=contact,
                preferred_staff=preferred,
                unit=unit,
                limit=q["limit"],
                now=now,
            )
        except ValidationError as exc:
            raise remap(
                exc,
                {"window_start": "start", "window_end": "end", "types": "type"},
            ) from None
        data = {
            "type": main.slug,
            "services": [t.slug for t in extras],
            "duration": spec.duration,
            "location": _location_data(location),
            "options": OptionSerializer(options, many=True).data,
        }
        return Response(data)


class FreeStaffView(OrgTimeZoneMixin, APIView):
    permission_classes = [IsStaffMember]

    @extend_schema(
        summary="Who is free for this visit at this time (S2.3)",
        parameters=[FreeQuerySerializer],
        responses={200: FreeResponseSerializer, **ERRORS},
    )
    def get(self, request):
        organisation = self.organisation(request)
        q = _query(FreeQuerySerializer, request)
        main, _extras, spec, contact, unit, location = _visit(request, organisation, q)
        try:
            options = selectors.free_staff_at(
                organisation=organisation,
                spec=spec,
                location=location,
                start=q["at"],
                unit=unit,
                contact=contact,
            )
        except ValidationError as exc:
            raise remap(exc, {"start": "at", "types": "type"}) from None
        data = {
            "type": main.slug,
            "at": q["at"],
            "location": _location_data(location),
            "options": options,
        }
        return Response(FreeResponseSerializer(data).data)


class GapsView(OrgTimeZoneMixin, APIView):
    permission_classes = [IsStaffMember]

    @extend_schema(
        summary="Free working time in agendas (for the gap filler, S4.2)",
        parameters=[GapsQuerySerializer],
        responses={200: GapsResponseSerializer, **ERRORS},
    )
    def get(self, request):
        organisation = self.organisation(request)
        q = _query(GapsQuerySerializer, request)
        visible = visible_staff(request.user)
        ids = _split([q.get("staff", "")])
        if ids:
            if not all(i.isdigit() for i in ids):
                raise ValidationError({"staff": _("Enter staff ids separated by commas.")})
            members = list(visible.filter(pk__in=[int(i) for i in ids]))
            if len(members) != len(set(ids)):
                raise ValidationError({"staff": _("Unknown staff member.")})
        else:
            members = list(visible[:200])
        now = timezone.now()
        start = q.get("start") or now
        end = q.get("end") or start + dt.timedelta(days=7)
        if end <= start:
            raise ValidationError({"end": _("The end must be after the start.")})
        if end - start > dt.timedelta(days=MAX_GAP_DAYS):
            raise ValidationError(
                {"end": _("Ask for at most %(days)s days.") % {"days": MAX_GAP_DAYS}}
            )
        try:
            gaps = selectors.agenda_gaps(
                organisation=organisation,
                staff_ids=[m.pk for m in members],
                window_start=start,
                window_end=end,
                min_minutes=q["min_minutes"],
                now=now,
            )
        except ValidationError as exc:
            raise remap(exc, {"window_start": "start", "window_end": "end"}) from None
        data = {
            "start": start,
            "end": end,
            "agendas": [
                {
                    "staff": m.pk,
                    "staff_name": _staff_name(m),
                    "gaps": [{"start": s, "end": e} for s, e in gaps.get(m.pk, [])],
                }
                for m in members
            ],
        }
        return Response(GapsResponseSerializer(data).data)


class WorkingHoursView(OrgTimeZoneMixin, APIView):
    permission_classes = [IsStaffMember]

    @extend_schema(
        summary="A staff member's weekly working hours and coming exceptions",
        parameters=[HoursQuerySerializer],
        responses={200: HoursResponseSerializer, **ERRORS},
    )
    def get(self, request):
        organisation = self.organisation(request)
        q = _query(HoursQuerySerializer, request)
        if q.get("staff") is None:
            member = staff_of(request.user)
        else:
            member = resolve_staff(organisation, q["staff"], queryset=visible_staff(request.user))
        today = timezone.localdate(timezone=ZoneInfo(organisation.time_zone))
        data = {
            "staff": member.pk,
            "staff_name": _staff_name(member),
            "time_zone": organisation.time_zone,
            "hours": list(
                WorkingHours.objects.filter(staff=member)
                .order_by("weekday", "start")
                .values("weekday", "start", "end")
            ),
            "exceptions": list(
                AvailabilityException.objects.filter(staff=member, date__gte=today)
                .order_by("date", "start")
                .values("date", "start", "end", "note")
            ),
        }
        return Response(HoursResponseSerializer(data).data)
