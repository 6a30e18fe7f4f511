"""Builders shared by the selector, loader and travel tests (part A)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from slotwise.bookings.models import Booking, BookingStatus
from slotwise.org import services as org_services
from slotwise.org.models import Skill, StaffSkill
from slotwise.scheduling.models import (
    AppointmentType,
    AppointmentTypeSkill,
    SchedulingPolicy,
    WorkingHours,
)
from slotwise.tests_factories import (
    ContactFactory,
    LocationFactory,
    OrganisationFactory,
    StaffFactory,
    UserFactory,
    make_unit,
)

AMS = ZoneInfo("Europe/Amsterdam")
# A Monday well in the future (tests pass `now` explicitly).
MONDAY = dt.date(2031, 3, 3)


def local(day: dt.date, hh: int, mm: int = 0, tz=AMS) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=tz)


def make_org(**kwargs):
    defaults = {"country": "NL", "time_zone": "Europe/Amsterdam", "currency": "EUR"}
    defaults.update(kwargs)
    org = OrganisationFactory(**defaults)
    SchedulingPolicy.objects.create(organisation=org, observe_public_holidays=False)
    return org


def make_type(org, **kwargs) -> AppointmentType:
    skills = kwargs.pop("skills", {})
    defaults = {
        "name": "Visit",
        "slug": f"visit-{AppointmentType.objects.count() + 1}",
        "duration_minutes": 60,
        "currency": "EUR",
        "horizon_days": 3650,
        "mode": "customer_address",
    }
    defaults.update(kwargs)
    t = AppointmentType.objects.create(organisation=org, **defaults)
    for code, level in skills.items():
        skill, _ = Skill.objects.get_or_create(organisation=org, code=code, defaults={"name": code})
        AppointmentTypeSkill.objects.create(type=t, skill=skill, min_level=level)
    return t


def make_staff(
    org,
    *,
    unit=None,
    hours=((0, 9, 17), (1, 9, 17), (2, 9, 17), (3, 9, 17), (4, 9, 17)),
    skills=None,
    regions=(),
    home=None,
    first_name=None,
):
    unit = unit or make_unit(org, "Team")
    user = UserFactory(**({"first_name": first_name} if first_name else {}))
    staff = StaffFactory(unit=unit, user=user, home_base=home)
    WorkingHours.objects.bulk_create(
        WorkingHours(staff=staff, weekday=wd, start=dt.time(s), end=dt.time(e))
        for wd, s, e in hours
    )
    for code, level in (skills or {}).items():
        skill, _ = Skill.objects.get_or_create(organisation=org, code=code, defaults={"name": code})
        StaffSkill.objects.create(staff=staff, skill=skill, level=level)
    if regions:
        staff.regions.set(regions)
    return staff


def make_location(org, postcode="1012 AB", lat=52.374, lng=4.897):
    return LocationFactory(organisation=org, postcode=postcode, lat=lat, lng=lng)


def make_region(org, name, postcodes):
    return org_services.region_save(organisation=org, name=name, country="NL", postcodes=postcodes)


def book(staff, type_, start, *, contact=None, location=None, status=BookingStatus.CONFIRMED, **kw):
    contact = contact or ContactFactory(organisation=staff.organisation)
    end = start + dt.timedelta(minutes=type_.duration_minutes)
    return Booking.objects.create(
        organisation=staff.organisation,
        type=type_,
        staff=staff,
        contact=contact,
        unit=staff.unit,
        start=start,
        end=end,
        blocked_start=start - dt.timedelta(minutes=type_.buffer_before),
        blocked_end=end + dt.timedelta(minutes=type_.buffer_after),
        status=status,
        exclusive=type_.capacity == 1,
        location=location,
        **kw,
    )
