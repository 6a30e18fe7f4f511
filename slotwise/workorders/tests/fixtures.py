"""Builders shared by the work-orders tests (a home-repair company in Los Angeles, seed 002)."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from slotwise.org.models import Skill, StaffSkill
from slotwise.org.roles import Role
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

LA = ZoneInfo("America/Los_Angeles")
ALL_WEEK = tuple((wd, 7, 20) for wd in range(7))


def next_day(days: int = 7) -> dt.date:
    return timezone.now().astimezone(LA).date() + dt.timedelta(days=days)


def local(day: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=LA)


def make_org(**kwargs):
    defaults = {
        "country": "US",
        "time_zone": "America/Los_Angeles",
        "currency": "USD",
        "default_language": "en",
    }
    defaults.update(kwargs)
    org = OrganisationFactory(**defaults)
    SchedulingPolicy.objects.create(organisation=org, observe_public_holidays=False)
    return org


def make_type(org, *, skills=None, **kwargs) -> AppointmentType:
    defaults = {
        "name": "Repair visit",
        "slug": f"repair-{AppointmentType.objects.count() + 1}",
        "duration_minutes": 60,
        "currency": org.currency,
        "horizon_days": 3650,
        "mode": "customer_address",
    }
    defaults.update(kwargs)
    t = AppointmentType.objects.create(organisation=org, **defaults)
    for code, level in (skills or {}).items():
        skill, _ = Skill.objects.get_or_create(organisation=org, code=code, defaults={"name": code})
        AppointmentTypeSkill.objects.create(type=t, skill=skill, min_level=level)
    return t


def make_staff(
    org, *, unit, roles=(Role.TECHNICIAN,), hours=ALL_WEEK, skills=None, first_name=None, email=""
):
    user = UserFactory(**({"first_name": first_name} if first_name else {}), email=email)
    staff = StaffFactory(unit=unit, user=user, roles=list(roles))
    WorkingHours.objects.bulk_create(
        WorkingHours(staff=staff, weekday=wd, start=dt.time(s), end=dt.time(e))
        for wd, s, e in hours
    )
    for code, level in (skills or {}).items():
        skill, _ = Skill.objects.get_or_create(organisation=org, code=code, defaults={"name": code})
        StaffSkill.objects.create(staff=staff, skill=skill, level=level)
    return staff


def make_location(org, **kwargs):
    defaults = {
        "postcode": "90012",
        "address": "200 N Spring St",
        "city": "Los Angeles",
        "country": "US",
        "lat": 34.0537,
        "lng": -118.2428,
    }
    defaults.update(kwargs)
    return LocationFactory(organisation=org, **defaults)


class World:
    """One organisation with a unit tree, a manager, two technicians, a customer and work."""

    def __init__(self):
        self.org = make_org()
        self.root = make_unit(self.org, "LA Home Repair")
        self.team = make_unit(self.org, "Field team", parent=self.root)
        self.other_team = make_unit(self.org, "Valley team", parent=self.root)
        self.manager = make_staff(
            self.org, unit=self.team, roles=(Role.MANAGER,), hours=(), email="manager@example.com"
        )
        self.tech = make_staff(self.org, unit=self.team, skills={"plumbing": 3}, first_name="Tom")
        self.tech2 = make_staff(self.org, unit=self.team, skills={"plumbing": 4}, first_name="Ana")
        self.contact = ContactFactory(
            organisation=self.org, phone="+13105550101", email="client@example.com"
        )
        self.location = make_location(self.org)
        self.type = make_type(self.org, skills={"plumbing": 2})


def png_bytes(size=(40, 30), color=(200, 50, 50), exif_gps: bool = False) -> bytes:
    from PIL import Image

    image = Image.new("RGB", size, color)
    out = io.BytesIO()
    if exif_gps:
        exif = Image.Exif()
        exif[0x8825] = {2: (34.0, 3.0, 13.0), 1: "N"}  # GPSInfo
        image.save(out, format="JPEG", exif=exif)
    else:
        image.save(out, format="PNG")
    return out.getvalue()


def photo_upload(name="site.png", **kwargs) -> SimpleUploadedFile:
    content = png_bytes(**kwargs)
    ctype = "image/jpeg" if kwargs.get("exif_gps") else "image/png"
    return SimpleUploadedFile(name, content, content_type=ctype)
