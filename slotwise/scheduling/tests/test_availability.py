"""The loader: snapshots from the database (locations, holds, time off, memoised hours, holidays),
and the PostgreSQL fast path agreeing with the ORM path."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from slotwise.bookings.models import BookingStatus
from slotwise.org.models import Location
from slotwise.scheduling import availability
from slotwise.scheduling.engine.calendar import to_minutes
from slotwise.scheduling.holidays import closed_dates
from slotwise.scheduling.models import AvailabilityException, ExternalBusy, TimeOff
from slotwise.scheduling.selectors import scheduling_policy_for, visit_spec
from slotwise.tests_factories import ContactFactory, make_unit

from .availability_fixtures import (
    MONDAY,
    book,
    local,
    make_location,
    make_org,
    make_region,
    make_staff,
    make_type,
)

pytestmark = pytest.mark.django_db

NOW = local(MONDAY, 6)


def load(org, **kw):
    kw.setdefault("window_start", NOW)
    kw.setdefault("window_end", NOW + dt.timedelta(days=1))
    return availability.load_snapshot(
        organisation=org, policy=scheduling_policy_for(org), now=NOW, **kw
    )


def by_id(snap):
    return {st.id: st for st in snap.staff}


def test_booking_locations():
    org = make_org()
    branch_addr = make_location(org, postcode="3511 AX", lat=52.09, lng=5.12)
    parent = make_unit(org, "Region")
    parent.location = branch_addr
    parent.save()
    unit = make_unit(org, "Branch", parent=parent)  # no address: the parent's is used
    staff = make_staff(org, unit=unit)
    home = make_location(org, postcode="1071 AB", lat=52.358, lng=4.88)
    at_home = make_type(org, slug="home")
    at_branch = make_type(org, slug="branch", mode="branch")
    by_phone = make_type(org, slug="phone", mode="phone")
    book(staff, at_home, local(MONDAY, 9), location=home)
    book(staff, at_home, local(MONDAY, 11), location=home)
    book(staff, at_branch, local(MONDAY, 13))
    book(staff, by_phone, local(MONDAY, 15))
    busy = by_id(load(org))[staff.id].busy
    assert [b.start for b in busy] == sorted(b.start for b in busy)
    assert busy[0].location == busy[1].location == (52.358, 4.88) or (
        busy[0].location.lat,
        busy[0].location.lng,
    ) == (52.358, 4.88)
    assert busy[0].location is busy[1].location  # one Point per location
    assert (busy[2].location.lat, busy[2].location.lng) == (52.09, 5.12)
    assert busy[3].location is None
    assert all(b.kind == "booking" for b in busy)


def test_holds_time_off_external_and_exclude():
    org = make_org()
    staff = make_staff(org)
    t = make_type(org, mode="phone", slug="p")
    book(
        staff,
        t,
        local(MONDAY, 9),
        status=BookingStatus.HELD,
        hold_expires_at=NOW - dt.timedelta(minutes=5),
    )
    live = book(
        staff,
        t,
        local(MONDAY, 10),
        status=BookingStatus.HELD,
        hold_expires_at=NOW + dt.timedelta(minutes=5),
    )
    book(staff, t, local(MONDAY, 11), status=BookingStatus.CANCELLED)
    TimeOff.objects.create(staff=staff, start=local(MONDAY, 13), end=local(MONDAY, 14))
    ExternalBusy.objects.create(staff=staff, start=local(MONDAY, 15), end=local(MONDAY, 16))
    busy = by_id(load(org))[staff.id].busy
    assert [(b.start, b.kind) for b in busy] == [
        (to_minutes(local(MONDAY, 10)), "booking"),
        (to_minutes(local(MONDAY, 13)), "time_off"),
        (to_minutes(local(MONDAY, 15)), "external"),
    ]
    busy = by_id(load(org, exclude_booking_id=live.pk))[staff.id].busy
    assert [b.kind for b in busy] == ["time_off", "external"]


def test_buffers_are_part_of_busy_and_booked_minutes():
    org = make_org()
    staff = make_staff(org)
    other = make_staff(org)
    t = make_type(org, mode="phone", slug="p", buffer_before=15, buffer_after=30)
    book(staff, t, local(MONDAY, 10))
    snap = by_id(load(org))
    (b,) = snap[staff.id].busy
    assert (b.start, b.end) == (
        to_minutes(local(MONDAY, 9, 45)),
        to_minutes(local(MONDAY, 11, 30)),
    )
    assert snap[staff.id].booked_minutes == 105
    assert snap[other.id].booked_minutes == 0


def test_working_time_is_memoised_and_exceptions_apply():
    org = make_org()
    a = make_staff(org)
    b = make_staff(org)
    c = make_staff(org)
    AvailabilityException.objects.create(staff=c, date=MONDAY)  # day off
    snap = by_id(load(org, window_end=NOW + dt.timedelta(days=2)))
    assert snap[a.id].working is snap[b.id].working  # one expansion for the same hours
    assert snap[a.id].working[0] == (
        to_minutes(local(MONDAY, 9)),
        to_minutes(local(MONDAY, 17)),
    )
    assert snap[c.id].working[0][0] == to_minutes(local(MONDAY + dt.timedelta(days=1), 9))


def test_active_dates_clip_working_time():
    org = make_org()
    s = make_staff(org)
    s.active_to = MONDAY
    s.save()
    snap = by_id(load(org, window_end=NOW + dt.timedelta(days=3)))
    assert snap[s.id].working
    assert max(e for _s, e in snap[s.id].working) <= to_minutes(local(MONDAY, 23, 59))
    s.active_to = MONDAY - dt.timedelta(days=1)
    s.save()
    gone = by_id(load(org, window_end=NOW + dt.timedelta(days=3))).get(s.id)
    assert gone is None or gone.working == ()


def test_previous_staff_most_recent_first():
    org = make_org()
    a, b, c = make_staff(org), make_staff(org), make_staff(org)
    t = make_type(org, mode="phone", slug="p")
    contact = ContactFactory(organisation=org)
    book(a, t, local(MONDAY, 9) - dt.timedelta(days=30), contact=contact)
    book(b, t, local(MONDAY, 9) - dt.timedelta(days=10), contact=contact)
    book(
        c,
        t,
        local(MONDAY, 9) - dt.timedelta(days=5),
        contact=contact,
        status=BookingStatus.CANCELLED,
    )
    snap = load(org, contact=contact)
    assert snap.previous_staff_ids == (b.id, a.id)


def test_window_widened_to_the_working_interval():
    """A visit earlier in the same working day is loaded even though it ends before the
    window starts: travel from it constrains the first option."""
    org = make_org()
    staff = make_staff(org)
    t = make_type(org, slug="v")
    book(staff, t, local(MONDAY, 9), location=make_location(org))
    snap = load(org, window_start=local(MONDAY, 10, 30))
    assert [b.start for b in by_id(snap)[staff.id].busy] == [to_minutes(local(MONDAY, 9))]


def test_regions_for_postcode():
    org = make_org()
    ams = make_region(org, "Amsterdam", "1000-1099, 1100")
    make_region(org, "Utrecht", "3500-3599")
    assert availability.regions_for_postcode(org, "NL", "1012 AB") == {ams.id}
    assert availability.regions_for_postcode(org, "NL", "1100 AA") == {ams.id}
    assert availability.regions_for_postcode(org, "NL", "2000 AA") == frozenset()
    assert availability.regions_for_postcode(org, "NL", "garbage") == frozenset()


def test_public_holidays():
    se = closed_dates("SE", dt.date(2026, 12, 20), dt.date(2027, 1, 2))
    assert {dt.date(2026, 12, 24), dt.date(2026, 12, 25), dt.date(2027, 1, 1)} <= se
    assert dt.date(2026, 12, 27) not in se  # a Sunday is not a holiday
    assert dt.date(2026, 4, 27) in closed_dates("NL", dt.date(2026, 4, 1), dt.date(2026, 4, 30))
    us = closed_dates("US", dt.date(2026, 7, 1), dt.date(2026, 7, 31))
    assert us == {dt.date(2026, 7, 3), dt.date(2026, 7, 4)}  # observed on the Friday


@pytest.mark.skipif(connection.vendor != "postgresql", reason="compares the PostgreSQL path")
def test_postgres_path_matches_orm_path():
    org = make_org()
    region = make_region(org, "Amsterdam", "1000-1099")
    unit = make_unit(org, "North")
    t = make_type(org, skills={"gas": 2}, slug="v")
    group = make_type(org, slug="g", mode="branch", capacity=4)
    loc = make_location(org)
    staff = [
        make_staff(org, unit=unit, skills={"gas": 3}, regions=[region], home=loc),
        make_staff(org, skills={"gas": 2}),
        make_staff(org, skills={"gas": 1}, regions=[region]),
    ]
    contact = ContactFactory(organisation=org)
    for i, s in enumerate(staff):
        book(s, t, local(MONDAY, 9 + i), location=loc, contact=contact)
        book(s, group, local(MONDAY, 14), seats=2)
        TimeOff.objects.create(staff=s, start=local(MONDAY, 16), end=local(MONDAY, 17))
        ExternalBusy.objects.create(staff=s, start=local(MONDAY, 12), end=local(MONDAY, 13))
        AvailabilityException.objects.create(
            staff=s, date=MONDAY, start=dt.time(8), end=dt.time(12)
        )
        AvailabilityException.objects.create(
            staff=s, date=MONDAY, start=dt.time(13), end=dt.time(18)
        )
    spec = visit_spec([t])
    first, last = MONDAY - dt.timedelta(days=1), MONDAY + dt.timedelta(days=2)
    kwargs = dict(
        organisation=org,
        first=first,
        last=last,
        required_skills=spec.required_skills,
        allowed_unit_paths=(),
        allowed_region_ids=None,
        customer_region_ids=frozenset({region.id}),
        regions_required=True,
        unit=None,
        staff_ids=None,
    )
    fast = availability._staff_rows_postgres(**kwargs)
    slow = availability._staff_rows_orm(**kwargs)
    assert sorted(fast) == sorted(slow)
    assert {r[0] for r in fast} == {staff[0].id, staff[1].id}
    by_postcode = availability._staff_rows_postgres(
        **{**kwargs, "customer_region_ids": None}, postcode=("NL", "1012")
    )
    assert sorted(by_postcode) == sorted(fast)
    ids = [s.id for s in staff]
    ws, we = local(MONDAY, 0), local(MONDAY + dt.timedelta(days=1), 0)
    fast = availability._busy_rows_postgres(ids, ws, we, NOW, None, contact.id)
    slow = availability._busy_rows_orm(ids, ws, we, NOW, None, contact.id)
    norm = sorted(r for r in fast if r[-1] != availability.KIND_PREVIOUS)
    assert norm == sorted(r for r in slow if r[-1] != availability.KIND_PREVIOUS)
    assert len(norm) == 3 * 4
    # One staff member (the re-check before a booking): the same rows through "= id", the
    # form PostgreSQL keeps one generic plan for (no array parameter in the statement).
    from django.test.utils import CaptureQueriesContext

    for member in staff[:2]:
        one = {**kwargs, "staff_ids": [member.id]}
        with CaptureQueriesContext(connection) as seen:
            fast = availability._staff_rows_postgres(**one)
        assert "s.id = ANY(" not in seen[-1]["sql"]
        assert sorted(fast) == sorted(availability._staff_rows_orm(**one))
        assert [r[0] for r in fast] == [member.id]
        fast = availability._busy_rows_postgres([member.id], ws, we, NOW, None, contact.id)
        slow = availability._busy_rows_orm([member.id], ws, we, NOW, None, contact.id)
        own = sorted(r for r in fast if r[-1] != availability.KIND_PREVIOUS)
        assert own == sorted(r for r in slow if r[-1] != availability.KIND_PREVIOUS)
        assert len(own) == 4


def test_unsaved_location_is_not_written():
    org = make_org()
    before = Location.objects.count()
    staff = make_staff(org)
    t = make_type(org, slug="v")
    book(staff, t, local(MONDAY, 9), location=None)
    assert Location.objects.count() == before
