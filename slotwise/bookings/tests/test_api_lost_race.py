"""A booking that loses to another booking on a rule other than a plain overlap (the travel to a
neighbouring visit) is a lost race: 409 with fresh options, nothing written. Rules of the staff
member's own time (working hours) stay a 400 on "start"."""

import datetime

import pytest
from rest_framework.test import APIClient

from slotwise.bookings.models import Booking
from slotwise.core.errors import Conflict
from slotwise.org.roles import Role
from slotwise.scheduling.models import AppointmentMode
from slotwise.tests_factories import ContactFactory, StaffFactory, make_unit

from .conftest import future_slot, give_hours, make_type

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(org):
    unit = make_unit(org, "Branch")
    w = type("World", (), {})()
    w.org = org
    w.manager = StaffFactory(unit=unit, roles=[Role.MANAGER])
    w.rep = StaffFactory(unit=unit, roles=[Role.REPRESENTATIVE])
    give_hours(w.rep)
    w.contact = ContactFactory(organisation=org)
    w.visit = make_type(
        org, slug="visit", mode=AppointmentMode.CUSTOMER_ADDRESS, duration_minutes=45
    )
    w.slot = future_slot(org)
    w.client = APIClient()
    w.client.force_login(w.manager.user)
    return w


def post(w, start, postcode):
    return w.client.post(
        "/api/bookings/",
        {
            "type": "visit",
            "staff": w.rep.pk,
            "start": start.isoformat(),
            "contact": str(w.contact.public_id),
            "postcode": postcode,
        },
        format="json",
    )


def test_lost_on_travel_to_a_neighbouring_visit_is_a_409_with_options(world):
    first = post(world, world.slot, "1012 AB")  # Amsterdam
    assert first.status_code == 201, first.content
    # Right after it, in Utrecht (~35 km away): no overlap, but no time to get there.
    response = post(world, world.slot + datetime.timedelta(minutes=45), "3511 AX")
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["detail"] and isinstance(body["options"], list) and body["options"]
    assert Booking.objects.count() == 1
    # With enough time for the journey the same visit is bookable.
    later = post(world, world.slot + datetime.timedelta(hours=3), "3511 AX")
    assert later.status_code == 201, later.content


def test_service_raises_conflict_on_travel(world):
    from slotwise.bookings import services
    from slotwise.scheduling.selectors import resolve_location

    near = resolve_location(organisation=world.org, postcode="1012 AB")
    far = resolve_location(organisation=world.org, postcode="3511 AX")
    services.booking_create(
        type=world.visit, staff=world.rep, contact=world.contact, start=world.slot, location=near
    )
    with pytest.raises(Conflict):
        services.booking_create(
            type=world.visit,
            staff=world.rep,
            contact=world.contact,
            start=world.slot + datetime.timedelta(minutes=45),
            location=far,
        )


def test_outside_working_hours_stays_a_400(world):
    other = StaffFactory(unit=world.rep.unit, organisation=world.org)
    give_hours(other, start=datetime.time(9), end=datetime.time(10))
    response = world.client.post(
        "/api/bookings/",
        {
            "type": "visit",
            "staff": other.pk,
            "start": world.slot.replace(hour=14, minute=0).isoformat(),
            "contact": str(world.contact.public_id),
            "postcode": "1012 AB",
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "start" in response.json()
    assert Booking.objects.count() == 0
