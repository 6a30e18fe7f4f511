"""Writes for organisations, units, regions, locations and staff. Keyword-only, transactional,
audited through django-simple-history."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .geocoding import get_geocoder
from .models import (
    Location,
    Organisation,
    OrgUnit,
    Region,
    RegionRange,
    Staff,
    StaffRole,
    StaffSkill,
)
from .postcodes import display, normalise, parse_ranges


@transaction.atomic
def org_unit_create(
    *,
    organisation: Organisation,
    name: str,
    parent: OrgUnit | None = None,
    kind: str = "department",
) -> OrgUnit:
    if parent is not None and parent.organisation_id != organisation.id:
        raise ValidationError({"parent": _("The parent unit belongs to another organisation.")})
    unit = OrgUnit.objects.create(organisation=organisation, name=name, parent=parent, kind=kind)
    unit.path = f"{parent.path if parent else '/'}{unit.pk}/"
    unit.save(update_fields=["path"])
    return unit


@transaction.atomic
def org_unit_move(*, unit: OrgUnit, parent: OrgUnit | None) -> OrgUnit:
    """Move a unit (and everything below it) under another parent."""
    if parent is not None:
        if parent.organisation_id != unit.organisation_id:
            raise ValidationError({"parent": _("The parent unit belongs to another organisation.")})
        if parent.path.startswith(unit.path):
            raise ValidationError({"parent": _("A unit cannot be moved below itself.")})
    old = unit.path
    new = f"{parent.path if parent else '/'}{unit.pk}/"
    unit.parent = parent
    unit.save(update_fields=["parent"])
    for descendant in OrgUnit.objects.select_for_update().filter(path__startswith=old):
        descendant.path = new + descendant.path[len(old) :]
        descendant.save(update_fields=["path"])
    unit.refresh_from_db()
    return unit


@transaction.atomic
def region_save(
    *,
    organisation: Organisation,
    name: str,
    country: str,
    postcodes: str,
    region: Region | None = None,
) -> Region:
    """Create or update a region; the postcode text is validated and stored as ranges."""
    try:
        ranges = parse_ranges(postcodes)
    except ValidationError as exc:
        raise ValidationError({"postcodes": exc.messages}) from None
    if region is None:
        region = Region(organisation=organisation)
    region.name, region.country, region.postcodes = name, country, postcodes
    region.full_clean(exclude=["organisation"])
    region.save()
    region.ranges.all().delete()
    RegionRange.objects.bulk_create(RegionRange(region=region, start=s, end=e) for s, e in ranges)
    return region


@transaction.atomic
def location_create(
    *,
    organisation: Organisation,
    postcode: str,
    country: str | None = None,
    address: str = "",
    city: str = "",
    label: str = "",
) -> Location:
    """Validate the postcode, geocode it and store the location. A postcode that does not geocode
    is a field error on `postcode`; nothing is written."""
    country = country or organisation.country
    try:
        normalise(country, postcode)
    except ValidationError as exc:
        raise ValidationError({"postcode": exc.messages}) from None
    result = get_geocoder().geocode(country=country, postcode=postcode, address=address)
    if result is None:
        raise ValidationError(
            {"postcode": _("We could not find postcode “%(postcode)s”.") % {"postcode": postcode}}
        )
    return Location.objects.create(
        organisation=organisation,
        label=label,
        address=address,
        postcode=display(country, postcode),
        city=city,
        country=country,
        lat=result.lat,
        lng=result.lng,
        geocoded_by=result.source,
    )


@transaction.atomic
def staff_create(
    *,
    organisation: Organisation,
    user,
    unit: OrgUnit,
    roles: list[str],
    active_from: date,
    skills: dict | None = None,
    regions: list[Region] | None = None,
    languages: list[str] | None = None,
    home_base: Location | None = None,
    title: str = "",
) -> Staff:
    """Add a person to the organisation with roles, skills (code or Skill → level) and regions."""
    if unit.organisation_id != organisation.id:
        raise ValidationError({"unit": _("The unit belongs to another organisation.")})
    staff = Staff.objects.create(
        organisation=organisation,
        user=user,
        unit=unit,
        title=title,
        languages=languages or [],
        home_base=home_base,
        active_from=active_from,
    )
    StaffRole.objects.bulk_create(StaffRole(staff=staff, role=r) for r in dict.fromkeys(roles))
    for skill, level in (skills or {}).items():
        StaffSkill.objects.create(staff=staff, skill=skill, level=level)
    if regions:
        staff.regions.set(regions)
    return staff


@transaction.atomic
def staff_leave(*, staff: Staff, last_day: date) -> Staff:
    """The person leaves: kept for history, no longer offered after `last_day`."""
    if last_day < staff.active_from:
        raise ValidationError({"active_to": _("The last day cannot be before the first day.")})
    staff.active_to = last_day
    staff.save(update_fields=["active_to", "updated_at"])
    return staff
