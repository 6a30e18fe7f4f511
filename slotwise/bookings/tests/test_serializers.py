"""BookingSerializer's own `to_representation` gives what DRF's generic one gives."""

import zoneinfo

import pytest
from django.utils import timezone
from rest_framework import serializers

from slotwise.bookings import services
from slotwise.bookings.serializers import BookingSerializer
from slotwise.tests_factories import LocationFactory

from .conftest import make_type

pytestmark = pytest.mark.django_db


def _generic(booking, **kwargs):
    return serializers.Serializer.to_representation(BookingSerializer(**kwargs), booking)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Amsterdam", "America/Los_Angeles"])
def test_same_as_drf(org, staff, contact, appt_type, slot, zone):
    held = services.booking_create(
        type=appt_type, staff=staff, contact=contact, start=slot, hold_minutes=30
    )
    home = make_type(org, mode="customer_address", buffer_after=5)
    visit = services.booking_create(
        type=home,
        staff=staff,
        contact=contact,
        start=slot.replace(hour=slot.hour + 3),
        location=LocationFactory(organisation=org),
        enforce_availability=False,
    )
    services.booking_cancel(booking=visit, reason="test")
    visit.refresh_from_db()
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        for booking in (held, visit):
            ours = BookingSerializer(booking).data
            assert ours == _generic(booking)
            assert list(ours) == list(_generic(booking))
            known = {"services": [appt_type]}
            assert BookingSerializer(booking, context=known).data == _generic(
                booking, context=known
            )
        many = BookingSerializer([held, visit], many=True).data
        assert many == [_generic(held), _generic(visit)]
    assert visit.location is not None and BookingSerializer(visit).data["location"]
    assert BookingSerializer(held).data["location"] is None
