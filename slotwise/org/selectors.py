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


_STAFF_MODELS = (("s", Staff), ("o", Organisation), ("ou", OrgUnit))


@functools.cache
def staff_join_sql(user_id_column: str) -> tuple[str, str]:
    """(columns, joins) that read the staff record of the user whose id is `user_id_column`
    (with its organisation, unit and roles) in another query — the API's token query reads the
    token, its user and their staff record at once (`prime_staff_of`). No staff record: NULLs."""
    columns = ", ".join(select_columns(alias, model) for alias, model in _STAFF_MODELS)
    columns += (
        f", (SELECT string_agg(r.role, ',') FROM {StaffRole._meta.db_table} r"
        f" WHERE r.staff_id = s.id)"
    )
    joins = (
        f" LEFT JOIN {Staff._meta.db_table} s ON s.user_id = {user_id_column}"
        f" LEFT JOIN {Organisation._meta.db_table} o ON o.id = s.organisation_id"
        f" LEFT JOIN {OrgUnit._meta.db_table} ou ON ou.id = s.unit_id"
    )
    return columns, joins


@functools.cache
def _staff_of_sql() -> str:
    columns, joins = staff_join_sql("%s")
    # The user's id is the join's parameter; a user without a staff record gives no row.
    return f"SELECT {columns} FROM (SELECT 1) one{joins} WHERE s.id IS NOT NULL"


def _staff_of_postgres(user_id) -> Staff | None:
    """The same as `_staff_of_orm` as one plain query: this runs on every request of a staff
    member, and the ORM's compile step (three models and a subquery) costs more than the
    query itself."""
    with connection.cursor() as cursor:
        cursor.execute(_staff_of_sql(), [user_id])
        row = cursor.fetchone()
    return None if row is None else staff_from_row(row)


def staff_from_row(row) -> Staff | None:
    """The staff record from the end of a row read with `staff_join_sql`'s columns (None when
    the user has none)."""
    width = sum(len(m._meta.concrete_fields) for _a, m in _STAFF_MODELS) + 1
    part = row[len(row) - width :]
    staff, organisation, unit = models_from_row(part[:-1], [m for _a, m in _STAFF_MODELS])
    if staff is None:
        return None
    staff.organisation = organisation
    staff.unit = unit
    staff._role_set = frozenset(r for r in (part[-1] or "").split(",") if r)
    return staff


def prime_staff_of(user, staff: Staff | None) -> None:
    """Set what `staff_of(user)` answers for this request (read together with the user)."""
    user._staff_cache = staff


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
