"""Fixtures of the staff-page tests (part C): one organisation with a unit tree
(HQ → North, South), staff in each role, two appointment types and a customer, plus a second
organisation to prove nothing leaks across."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from slotwise.org.models import Skill, StaffSkill
from slotwise.org.roles import Role
from slotwise.scheduling.models import AppointmentType, SchedulingPolicy, WorkingHours
from slotwise.tests_factories import (
    ContactFactory,
    LocationFactory,
    OrganisationFactory,
    StaffFactory,
    UserFactory,
    make_unit,
)

EVERY_DAY = tuple((wd, 8, 18) for wd in range(7))


def add_hours(staff, hours=EVERY_DAY):
    WorkingHours.objects.bulk_create(
        WorkingHours(staff=staff, weekday=wd, start=dt.time(s), end=dt.time(e))
        for wd, s, e in hours
    )


def person(unit, role, first_name, *, hours=()):
    staff = StaffFactory(
        unit=unit,
        user=UserFactory(first_name=first_name, last_name="Test", is_staff=True, password=None),
        roles=[role],
    )
    add_hours(staff, hours)
    return staff


@pytest.fixture(name="world")
def world_fixture(db):
    org = OrganisationFactory(country="NL", time_zone="Europe/Amsterdam", currency="EUR")
    SchedulingPolicy.objects.create(organisation=org, observe_public_holidays=False)
    hq = make_unit(org, "HQ")
    north = make_unit(org, "North", hq)
    south = make_unit(org, "South", hq)
    admin = person(hq, Role.ORG_ADMIN, "Ada")
    manager = person(north, Role.MANAGER, "Mona")
    caller = person(north, Role.CALL_CENTRE, "Cleo")
    home = LocationFactory(organisation=org, postcode="1012 AB", lat=52.3731, lng=4.8926)
    tech = person(north, Role.TECHNICIAN, "Tom", hours=EVERY_DAY)
    tech.home_base = home
    tech.save()
    south_tech = person(south, Role.TECHNICIAN, "Stan", hours=EVERY_DAY)
    skill = Skill.objects.create(organisation=org, code="plumbing", name="Plumbing")
    StaffSkill.objects.create(staff=tech, skill=skill, level=4)
    visit = AppointmentType.objects.create(
        organisation=org,
        name="Home visit",
        slug="visit",
        duration_minutes=60,
        currency="EUR",
        mode="customer_address",
        horizon_days=60,
    )
    call = AppointmentType.objects.create(
        organisation=org,
        name="Phone call",
        slug="call",
        duration_minutes=30,
        currency="EUR",
        mode="phone",
        horizon_days=60,
        combinable=True,
    )
    contact = ContactFactory(
        organisation=org, first_name="Emma", last_name="Dijk", phone="+31612345678"
    )
    other_org = OrganisationFactory(country="NL", time_zone="Europe/Amsterdam", currency="EUR")
    other_unit = make_unit(other_org, "Elsewhere")
    other_manager = person(other_unit, Role.MANAGER, "Otto")
    other_tech = person(other_unit, Role.TECHNICIAN, "Olga", hours=EVERY_DAY)
    other_type = AppointmentType.objects.create(
        organisation=other_org, name="Theirs", slug="theirs", duration_minutes=30, currency="EUR"
    )
    other_contact = ContactFactory(organisation=other_org, first_name="Eve")
    return SimpleNamespace(**locals())
