"""Fixtures for the booking tests."""

import datetime
import zoneinfo

import holidays
import pytest
from django.utils import timezone

from slotwise.scheduling.models import AppointmentType, WorkingHours
from slotwise.tests_factories import ContactFactory, OrganisationFactory, StaffFactory, make_unit


@pytest.fixture
def org():
    return OrganisationFactory()


def give_hours(staff, start=datetime.time(0, 0), end=datetime.time(23, 59)) -> None:
    """Working hours every day of the week (so the availability re-check passes)."""
    WorkingHours.objects.bulk_create(
        WorkingHours(staff=staff, weekday=day, start=start, end=end) for day in range(7)
    )


@pytest.fixture
def staff(org):
    member = StaffFactory(unit=make_unit(org, "Branch"))
    give_hours(member)
    return member


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


def future_slot(org=None, days: int = 3, hour: int = 10) -> datetime.datetime:
    """`hour`:00 local time at least `days` ahead, on a day that is no public holiday (UTC)."""
    zone = zoneinfo.ZoneInfo(org.time_zone if org else "Europe/Amsterdam")
    country = holidays.country_holidays(org.country if org else "NL")
    day = (timezone.now() + datetime.timedelta(days=days)).astimezone(zone).date()
    while day in country:
        day += datetime.timedelta(days=1)
    local = datetime.datetime.combine(day, datetime.time(hour), tzinfo=zone)
    return local.astimezone(datetime.UTC)


@pytest.fixture
def slot(org):
    """A start time well in the future, on the hour (10:00 local, not a public holiday)."""
    return future_slot(org)
