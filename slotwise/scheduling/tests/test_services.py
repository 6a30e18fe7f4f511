"""The scheduling write services of the staff pages: working hours, exceptions, time off,
appointment types, the scheduling policy and the booker's book step."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from slotwise.bookings.models import Booking
from slotwise.core.errors import Conflict
from slotwise.customers.models import Contact
from slotwise.org.models import Skill
from slotwise.scheduling import services
from slotwise.scheduling.models import (
    AppointmentType,
    AppointmentTypeSkill,
    AvailabilityException,
    ExternalBusy,
    SchedulingPolicy,
    TimeOff,
    WorkingHours,
)

from .staff_pages_fixtures import world_fixture  # noqa: F401 (the `world` fixture)

pytestmark = pytest.mark.django_db
AMS = ZoneInfo("Europe/Amsterdam")
T = dt.time


def hours_of(staff):
    return [
        (h.weekday, h.start, h.end)
        for h in WorkingHours.objects.filter(staff=staff).order_by("weekday", "start")
    ]


# --- working hours ------------------------------------------------------------------------------


def test_working_hours_set_replaces_the_week_with_history(world):
    before = WorkingHours.history.count()
    services.working_hours_set(
        staff=world.tech,
        weekday_ranges={0: [(T(13), T(17)), (T(8, 30), T(12))], 4: [(T(8), T(18))]},
        actor=world.manager.user,
    )
    assert hours_of(world.tech) == [
        (0, T(8, 30), T(12)),
        (0, T(13), T(17)),
        (4, T(8), T(18)),
    ]
    # Friday 08–18 was kept (unchanged), the six other days deleted, two Monday ranges added.
    assert WorkingHours.history.count() == before + 6 + 2
    latest = WorkingHours.history.order_by("-history_id").first()
    assert latest.history_user == world.manager.user


@pytest.mark.parametrize(
    "ranges, key",
    [
        ({0: [(T(12), T(8))]}, "mon"),
        ({2: [(T(8), T(8))]}, "wed"),
        ({6: [(T(8), T(12)), (T(11), T(13))]}, "sun"),
        ({1: [(T(h), T(h, 30)) for h in range(8, 13)]}, "tue"),
    ],
)
def test_working_hours_set_bad_input_writes_nothing(world, ranges, key):
    before = hours_of(world.tech)
    with pytest.raises(ValidationError) as info:
        services.working_hours_set(staff=world.tech, weekday_ranges=ranges, actor=None)
    assert key in info.value.message_dict
    assert hours_of(world.tech) == before


def test_working_hours_touching_ranges_are_fine(world):
    services.working_hours_set(
        staff=world.tech, weekday_ranges={3: [(T(8), T(12)), (T(12), T(16))]}, actor=None
    )
    assert len(hours_of(world.tech)) == 2


# --- exceptions ---------------------------------------------------------------------------------


def test_exceptions_day_off_and_ranges_do_not_mix(world):
    day = timezone.now().astimezone(AMS).date() + dt.timedelta(days=3)
    services.availability_exception_add(staff=world.tech, date=day, start=T(9), end=T(12))
    with pytest.raises(ValidationError) as info:
        services.availability_exception_add(staff=world.tech, date=day)
    assert "date" in info.value.message_dict
    with pytest.raises(ValidationError) as info:
        services.availability_exception_add(staff=world.tech, date=day, start=T(11), end=T(13))
    assert "start" in info.value.message_dict
    services.availability_exception_add(staff=world.tech, date=day, start=T(13), end=T(15))
    other = day + dt.timedelta(days=1)
    off = services.availability_exception_add(staff=world.tech, date=other, note="Course")
    with pytest.raises(ValidationError):
        services.availability_exception_add(staff=world.tech, date=other, start=T(9), end=T(10))
    assert AvailabilityException.objects.filter(staff=world.tech).count() == 3
    services.availability_exception_delete(exception=off, actor=world.tech.user)
    assert AvailabilityException.objects.filter(staff=world.tech).count() == 2


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"start": T(9)}, "end"),
        ({"end": T(9)}, "start"),
        ({"start": T(12), "end": T(9)}, "end"),
        ({"days": -1}, "date"),
        ({"note": "x" * 201}, "note"),
    ],
)
def test_exception_bad_input(world, kwargs, key):
    days = kwargs.pop("days", 2)
    day = timezone.now().astimezone(AMS).date() + dt.timedelta(days=days)
    with pytest.raises(ValidationError) as info:
        services.availability_exception_add(staff=world.tech, date=day, **kwargs)
    assert key in info.value.message_dict
    assert not AvailabilityException.objects.exists()


# --- time off -----------------------------------------------------------------------------------


def test_time_off_local_times_are_stored_in_utc(world):
    # 1 July: Amsterdam is UTC+2; 1 December: UTC+1.
    summer = services.time_off_add(
        staff=world.tech, start=dt.datetime(2031, 7, 1, 9), end=dt.datetime(2031, 7, 1, 17)
    )
    assert summer.start == dt.datetime(2031, 7, 1, 7, tzinfo=dt.UTC)
    winter = services.time_off_add(
        staff=world.tech, start=dt.datetime(2031, 12, 1, 9), end=dt.datetime(2031, 12, 1, 17)
    )
    assert winter.start == dt.datetime(2031, 12, 1, 8, tzinfo=dt.UTC)
    # DST change night (30 March 2031, 02:00 → 03:00): a range across it keeps its wall clock.
    dst = services.time_off_add(
        staff=world.tech, start=dt.datetime(2031, 3, 29, 22), end=dt.datetime(2031, 3, 30, 6)
    )
    assert dst.end - dst.start == dt.timedelta(hours=7)


def test_time_off_bad_input_and_overlap(world):
    with pytest.raises(ValidationError) as info:
        services.time_off_add(
            staff=world.tech, start=dt.datetime(2031, 7, 1, 9), end=dt.datetime(2031, 7, 1, 9)
        )
    assert "end" in info.value.message_dict
    with pytest.raises(ValidationError) as info:
        services.time_off_add(staff=world.tech, start="tomorrow", end=dt.datetime(2031, 7, 1))
    assert "start" in info.value.message_dict
    off = services.time_off_add(
        staff=world.tech, start=dt.datetime(2031, 7, 1), end=dt.datetime(2031, 7, 8), reason="Trip"
    )
    with pytest.raises(ValidationError) as info:
        services.time_off_add(
            staff=world.tech, start=dt.datetime(2031, 7, 7), end=dt.datetime(2031, 7, 10)
        )
    assert "start" in info.value.message_dict
    # someone else's time off does not overlap mine
    services.time_off_add(
        staff=world.south_tech, start=dt.datetime(2031, 7, 7), end=dt.datetime(2031, 7, 10)
    )
    assert TimeOff.objects.count() == 2
    services.time_off_delete(time_off=off, actor=None)
    assert TimeOff.objects.count() == 1


# --- appointment types --------------------------------------------------------------------------


def base_type(**overrides):
    data = {
        "name": "Inspection",
        "slug": "inspection",
        "duration_minutes": 30,
        "mode": "branch",
        "price": Decimal("40.00"),
    }
    data.update(overrides)
    return data


def test_appointment_type_create_and_change(world):
    t = services.appointment_type_save(
        organisation=world.org,
        actor=world.manager.user,
        skills={world.skill: 2},
        allowed_units=[world.north],
        allowed_regions=[],
        **base_type(),
    )
    assert t.currency == "EUR" and t.organisation == world.org
    assert list(t.skill_requirements.values_list("skill_id", "min_level")) == [(world.skill.pk, 2)]
    gas = Skill.objects.create(organisation=world.org, code="gas", name="Gas")
    t = services.appointment_type_save(
        organisation=world.org,
        instance=t,
        actor=world.manager.user,
        skills={world.skill: 4, gas: 1},
        **base_type(name="Inspection plus", duration_minutes=45),
    )
    t.refresh_from_db()
    assert t.name == "Inspection plus" and t.duration_minutes == 45
    assert dict(t.skill_requirements.values_list("skill__code", "min_level")) == {
        "plumbing": 4,
        "gas": 1,
    }
    assert list(t.allowed_units.all()) == [world.north]  # None leaves it as it was
    assert t.history.count() == 2
    assert AppointmentTypeSkill.history.filter(type_id=t.pk).count() == 3


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"slug": "visit"}, "slug"),
        ({"name": " "}, "name"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"capacity": 0}, "capacity"),
        ({"mode": "teleport"}, "mode"),
        ({"price": Decimal("-1")}, "price"),
        ({"prepayment": "deposit", "deposit_amount": Decimal("0")}, "deposit_amount"),
        ({"prepayment": "full", "price": Decimal("0")}, "prepayment"),
        ({"no_show_fee": Decimal("-5")}, "no_show_fee"),
        ({"sold_in_webshop": True, "price": Decimal("0"), "prepayment": "none"}, "sold_in_webshop"),
        ({"weight_travel": Decimal("10.5")}, "weight_travel"),
        ({"slot_step_minutes": 3}, "slot_step_minutes"),
        ({"mode": "customer_address", "capacity": 4}, "capacity"),
        ({"created_by": 1}, "created_by"),
    ],
)
def test_appointment_type_bad_input(world, overrides, key):
    count = AppointmentType.objects.count()
    with pytest.raises(ValidationError) as info:
        services.appointment_type_save(organisation=world.org, **base_type(**overrides))
    assert key in info.value.message_dict
    assert AppointmentType.objects.count() == count


def test_appointment_type_refuses_other_organisations_things(world):
    other_skill = Skill.objects.create(organisation=world.other_org, code="x", name="X")
    for kwargs, key in (
        ({"skills": {other_skill: 2}}, "skills"),
        ({"skills": {world.skill: 9}}, "skills"),
        ({"allowed_units": [world.other_unit]}, "allowed_units"),
    ):
        with pytest.raises(ValidationError) as info:
            services.appointment_type_save(organisation=world.org, **kwargs, **base_type())
        assert key in info.value.message_dict
    with pytest.raises(ValidationError):
        services.appointment_type_save(
            organisation=world.org, instance=world.other_type, **base_type()
        )
    assert not AppointmentType.objects.filter(slug="inspection").exists()
    world.other_type.refresh_from_db()
    assert world.other_type.name == "Theirs"


# --- policy -------------------------------------------------------------------------------------


def test_policy_save_and_bad_input(world):
    policy = services.scheduling_policy_save(
        organisation=world.org, actor=world.admin.user, weight_travel=Decimal("4"), hold_minutes=5
    )
    assert policy.weight_travel == Decimal("4") and policy.hold_minutes == 5
    with pytest.raises(ValidationError) as info:
        services.scheduling_policy_save(
            organisation=world.org, weight_travel=Decimal("12"), travel_source="carrier-pigeon"
        )
    assert {"weight_travel", "travel_source"} <= set(info.value.message_dict)
    policy.refresh_from_db()
    assert policy.weight_travel == Decimal("4")
    # created with defaults when the organisation has none yet
    fresh = services.scheduling_policy_save(organisation=world.other_org, slot_step_minutes=30)
    assert fresh.pk and fresh.slot_step_minutes == 30
    assert SchedulingPolicy.objects.count() == 2


# --- booker_book --------------------------------------------------------------------------------


def slot(days=2, hour=10):
    day = timezone.now().astimezone(AMS).date() + dt.timedelta(days=days)
    return dt.datetime.combine(day, T(hour), tzinfo=AMS)


def test_booker_book_new_contact_rolled_back_on_conflict(world):
    start = slot()
    first = services.booker_book(
        organisation=world.org,
        type=world.call,
        staff=world.tech,
        start=start,
        actor=world.caller.user,
        contact=world.contact,
    )
    assert first.source == "booker" and first.created_by == world.caller.user
    contacts = Contact.objects.count()
    with pytest.raises(Conflict):
        services.booker_book(
            organisation=world.org,
            type=world.call,
            staff=world.tech,
            start=start,
            actor=world.caller.user,
            new_contact={"first_name": "Late", "phone": "0612000000"},
        )
    assert Contact.objects.count() == contacts
    assert Booking.objects.count() == 1


def test_booker_book_needs_a_customer_and_the_same_organisation(world):
    with pytest.raises(ValidationError) as info:
        services.booker_book(
            organisation=world.org, type=world.call, staff=world.tech, start=slot(), actor=None
        )
    assert "contact" in info.value.message_dict
    with pytest.raises(ValidationError) as info:
        services.booker_book(
            organisation=world.org,
            type=world.call,
            staff=world.tech,
            start=slot(),
            actor=None,
            new_contact={"first_name": "Anna"},
        )
    assert "phone" in info.value.message_dict
    with pytest.raises(ValidationError):
        services.booker_book(
            organisation=world.org,
            type=world.call,
            staff=world.other_tech,
            start=slot(),
            actor=None,
            contact=world.contact,
        )
    with pytest.raises(ValidationError):
        services.booker_book(
            organisation=world.org,
            type=world.call,
            staff=world.tech,
            start=slot(),
            actor=None,
            contact=world.other_contact,
        )
    assert not Booking.objects.exists()


def test_booker_book_saves_a_geocoded_location_with_the_booking(world):
    from slotwise.scheduling.selectors import resolve_location

    location = resolve_location(organisation=world.org, postcode="1012 AB")
    assert location.pk is None
    booking = services.booker_book(
        organisation=world.org,
        type=world.visit,
        staff=world.tech,
        start=slot(hour=11),
        actor=world.caller.user,
        new_contact={"first_name": "Noor", "phone": "0611122233"},
        location=location,
    )
    assert booking.location_id == location.pk
    assert booking.contact.location_id == location.pk


# --- admin scoping ------------------------------------------------------------------------------


def test_admin_lists_only_the_organisations_scheduling_objects(client, world):
    ExternalBusy.objects.create(
        staff=world.tech, start=slot(), end=slot(hour=11), source="ics", summary="Mine"
    )
    ExternalBusy.objects.create(
        staff=world.other_tech, start=slot(), end=slot(hour=11), source="ics", summary="Theirs"
    )
    SchedulingPolicy.objects.create(organisation=world.other_org)
    client.force_login(world.admin.user)
    body = client.get(reverse("admin:scheduling_appointmenttype_changelist")).content.decode()
    assert "Home visit" in body and "Theirs" not in body
    assert client.get(
        reverse("admin:scheduling_appointmenttype_change", args=[world.other_type.pk])
    ).status_code in (302, 404)
    own_type = client.get(reverse("admin:scheduling_appointmenttype_change", args=[world.visit.pk]))
    assert own_type.status_code == 200 and b"skill_requirements" in own_type.content
    busy = client.get(reverse("admin:scheduling_externalbusy_changelist"))
    assert busy.status_code == 200
    assert list(busy.context["cl"].queryset.values_list("staff_id", flat=True)) == [world.tech.pk]
    policies = client.get(reverse("admin:scheduling_schedulingpolicy_changelist"))
    assert [p.organisation_id for p in policies.context["cl"].queryset] == [world.org.pk]
    # a manager of North sees North's external busy time only
    ExternalBusy.objects.create(staff=world.south_tech, start=slot(), end=slot(hour=11))
    client.force_login(world.manager.user)
    busy = client.get(reverse("admin:scheduling_externalbusy_changelist"))
    assert list(busy.context["cl"].queryset.values_list("staff_id", flat=True)) == [world.tech.pk]
