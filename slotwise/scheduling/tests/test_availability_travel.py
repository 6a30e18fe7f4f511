"""load_snapshot(travel=False): the same busy time without the bookings' places (and without
reading the units' addresses); check_bookable asks for places only when the visit travels."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from slotwise.scheduling.models import AppointmentType
from slotwise.scheduling.selectors import check_bookable, scheduling_policy_for, visit_spec
from slotwise.tests_factories import make_unit

from .availability_fixtures import MONDAY, book, local, make_location, make_org, make_staff
from .availability_fixtures import make_type as make_appointment_type
from .test_availability import NOW, by_id, load

pytestmark = pytest.mark.django_db


def _setup():
    org = make_org()
    branch = make_unit(org, "Branch")
    branch.location = make_location(org, postcode="3511 AX", lat=52.09, lng=5.12)
    branch.save()
    staff = make_staff(org, unit=branch)
    home = make_location(org, postcode="1071 AB", lat=52.358, lng=4.88)
    at_home = make_appointment_type(org, slug="home")
    at_branch = make_appointment_type(org, slug="branch", mode="branch")
    book(staff, at_home, local(MONDAY, 9), location=home)
    book(staff, at_branch, local(MONDAY, 13))
    return org, staff, at_branch


def test_same_busy_time_without_places():
    org, staff, _t = _setup()
    with_places = by_id(load(org))[staff.id]
    without = by_id(load(org, travel=False))[staff.id]
    assert [(b.start, b.end, b.kind) for b in without.busy] == [
        (b.start, b.end, b.kind) for b in with_places.busy
    ]
    assert all(b.location is not None for b in with_places.busy)
    assert all(b.location is None for b in without.busy)
    assert without.working == with_places.working


def _unit_address_reads(spec, staff, location=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        try:
            check_bookable(
                spec=spec, staff=staff, start=local(MONDAY, 15), location=location, now=NOW
            )
        except ValidationError:
            pass  # only the reads matter here
    return sum('"org_orgunit"."path"' in q["sql"] for q in queries)


def test_check_bookable_reads_unit_addresses_only_for_travel():
    org, staff, at_branch = _setup()
    scheduling_policy_for(org)
    assert _unit_address_reads(visit_spec([at_branch]), staff) == 0
    at_home = AppointmentType.objects.get(organisation=org, slug="home")
    there = make_location(org, postcode="1012 AB")
    assert _unit_address_reads(visit_spec([at_home]), staff, there) == 1
