"""Reads, already narrowed to what the user may see (S4.5: own unit and below, never a sibling)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from .models import Organisation, OrgUnit, Region, Staff
from .postcodes import key_in_range, normalise
from .roles import Role


def staff_of(user) -> Staff | None:
    """The staff record of a user, cached on the user object for the request."""
    if not getattr(user, "is_authenticated", False):
        return None
    if not hasattr(user, "_staff_cache"):
        user._staff_cache = (
            Staff.objects.select_related("organisation", "unit")
            .prefetch_related("roles")
            .filter(user=user)
            .first()
        )
    return user._staff_cache


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
