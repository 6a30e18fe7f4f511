"""Fixtures for the booking tests."""

import datetime

import pytest
from django.utils import timezone

from slotwise.scheduling.models import AppointmentType
from slotwise.tests_factories import ContactFactory, OrganisationFactory, StaffFactory, make_unit


@pytest.fixture
def org():
    return OrganisationFactory()


@pytest.fixture
def staff(org):
    return StaffFactory(unit=make_unit(org, "Branch"))


@pytest.fixture
def contact(org):
    return ContactFactory(organisation=org)


def make_type(org, **kwargs) -> AppointmentType:
    defaults = {
        "name": "Consultation",
        "slug": f"consult-{AppointmentType.objects.count() + 1}",
        "duration_minutes": 60,
        "currency": "EUR",
        "horizon_days": 90,
    }
    defaults.update(kwargs)
    return AppointmentType.objects.create(organisation=org, **defaults)


@pytest.fixture
def appt_type(org):
    return make_type(org, buffer_before=15, buffer_after=15, cancel_window_hours=24)


@pytest.fixture
def slot():
    """A start time well in the future, on the hour."""
    return (timezone.now() + datetime.timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
