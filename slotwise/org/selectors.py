"""Reads, already narrowed to what the user may see (S4.5: own unit and below, never a sibling)."""

from __future__ import annotations

import functools

from django.db import connection
from django.db.models import OuterRef, Q, QuerySet, StringAgg, Subquery, Value

from .models import Organisation, OrgUnit, Region, Staff, StaffRole
from .postcodes import key_in_range, normalise
from .roles import Role


def staff_of(user) -> Staff | None:
    """The staff record of a user (with its organisation, unit and roles), cached on the user
    object for the request."""
    if not getattr(user, "is_authenticated", False):
        return None
    if not hasattr(user, "_staff_cache"):
        if connection.vendor == "postgresql":
            staff = _staff_of_postgres(user.pk)
        else:
            staff = _staff_of_orm(user)
        user._staff_cache = staff
    return user._staff_cache


def _staff_of_orm(user) -> Staff | None:
    # One query: the roles come along as one aggregated string.
    roles = (
        StaffRole.objects.filter(staff=OuterRef("pk"))
        .order_by()
        .values("staff")
        .annotate(joined=StringAgg("role", Value(",")))
        .values("joined")
    )
    found = list(
        Staff.objects.select_related("organisation", "unit")
        .annotate(_roles=Subquery(roles))
        .filter(user=user)
        .order_by()[:1]
    )
    if not found:
        return None
    staff = found[0]
    staff._role_set = frozenset(r for r in (staff._roles or "").split(",") if r)
    return staff


_STAFF_MODELS = (("s", Staff), ("o", Organisation), ("u", OrgUnit))


@functools.cache
def _staff_of_sql() -> str:
    columns = ", ".join(select_columns(alias, model) for alias, model in _STAFF_MODELS)
    return (
        f"SELECT {columns}, (SELECT string_agg(r.role, ',') FROM {StaffRole._meta.db_table} r"
        f" WHERE r.staff_id = s.id)"
        f" FROM {Staff._meta.db_table} s"
        f" JOIN {Organisation._meta.db_table} o ON o.id = s.organisation_id"
        f" JOIN {OrgUnit._meta.db_table} u ON u.id = s.unit_id"
        f" WHERE s.user_id = %s"
    )


def _staff_of_postgres(user_id) -> Staff | None:
    """The same as `_staff_of_orm` as one plain query: this runs on every request of a staff
    member, and the ORM's compile step (three models and a subquery) costs more than the
    query itself."""
    with connection.cursor() as cursor:
        cursor.execute(_staff_of_sql(), [user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    staff, organisation, unit = models_from_row(row, [m for _a, m in _STAFF_MODELS])
    staff.organisation = organisation
    staff.unit = unit
    staff._role_set = frozenset(r for r in (row[-1] or "").split(",") if r)
    return staff


def select_columns(alias: str, model) -> str:
    """The model's concrete columns for a plain SELECT (in `models_from_row`'s order)."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def models_from_row(row, models) -> list:
    """Model instances from one row of plain SQL holding each model's `select_columns` in
    turn (the fields' database converters applied; a LEFT JOINed model without a row is None)."""
    objects, at = [], 0
    for model in models:
        fields = model._meta.concrete_fields
        part = row[at : at + len(fields)]
        at += len(fields)
        if part[0] is None and model._meta.pk is fields[0]:
            objects.append(None)
            continue
        values = [
            f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
            for f, v in zip(fields, part, strict=True)
        ]
        objects.append(model.from_db(connection.alias, [f.attname for f in fields], values))
    return objects


def visible_unit_paths(user) -> list[str] | None:
    """Path prefixes the user may see; None means the whole organisation (org admin)."""
    staff = staff_of(user)
    if staff is None:
        return []
    if staff.has_role(Role.ORG_ADMIN):
        return None
    return [staff.unit.path]


def unit_filter(user, field: str = "unit") -> Q:
    """A Q narrowing a queryset with an org-unit FK at `field` to what the user may see."""
    staff = staff_of(user)
    if staff is None:
        return Q(pk__in=[])
    paths = visible_unit_paths(user)
    org_q = Q(**{f"{field}__organisation": staff.organisation_id})
    if paths is None:
        return org_q
    q = Q(pk__in=[])
    for path in paths:
        q |= Q(**{f"{field}__path__startswith": path})
    return org_q & q


def organisations_for(user) -> QuerySet[Organisation]:
    if user.is_superuser:
        return Organisation.objects.all()
    staff = staff_of(user)
    return (
        Organisation.objects.filter(pk=staff.organisation_id)
        if staff
        else Organisation.objects.none()
    )


def units_for(user) -> QuerySet[OrgUnit]:
    if user.is_superuser:
        return OrgUnit.objects.all()
    staff = staff_of(user)
    if staff is None:
        return OrgUnit.objects.none()
    paths = visible_unit_paths(user)
    qs = OrgUnit.objects.filter(organisation=staff.organisation_id)
    if paths is None:
        return qs
    q = Q(pk__in=[])
    for path in paths:
        q |= Q(path__startswith=path)
    return qs.filter(q)


def staff_for(user) -> QuerySet[Staff]:
    qs = Staff.objects.select_related("user", "unit", "organisation")
    if user.is_superuser:
        return qs
    return qs.filter(unit_filter(user))


def regions_matching(
    organisation: Organisation, postcode: str, country: str | None = None
) -> list[Region]:
    """Regions of the organisation whose postcode ranges contain this postcode."""
    country = country or organisation.country
    key = normalise(country, postcode)
    regions = Region.objects.filter(organisation=organisation, country=country).prefetch_related(
        "ranges"
    )
    return [r for r in regions if any(key_in_range(key, rr.start, rr.end) for rr in r.ranges.all())]
