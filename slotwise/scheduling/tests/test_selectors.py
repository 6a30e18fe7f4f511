"""The option generator through the database: the hard rules, ranking inputs and field errors."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from slotwise.bookings.models import Booking, BookingStatus
from slotwise.org.models import Location
from slotwise.scheduling.models import (
    AvailabilityException,
    ExternalBusy,
    SchedulingPolicy,
    TimeOff,
)
from slotwise.scheduling.selectors import (
    RankedOption,
    agenda_gaps,
    check_bookable,
    find_options,
    free_staff_at,
    resolve_location,
    scheduling_policy_for,
    visit_spec,
    weights_for,
)
from slotwise.tests_factories import ContactFactory, make_unit

from .availability_fixtures import (
    AMS,
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

NOW = local(MONDAY, 6)  # Monday 06:00 local, before anyone starts


def options(org, types, location=None, days=1, now=NOW, start=None, **kw) -> list[RankedOption]:
    start = start or now
    return find_options(
        organisation=org,
        spec=visit_spec(types if isinstance(types, list) else [types]),
        location=location,
        window_start=start,
        window_end=start + dt.timedelta(days=days),
        now=now,
        limit=kw.pop("limit", 50),
        **kw,
    )


def local_hours(opts, tz=AMS):
    return [(o.start.astimezone(tz).time(), o.end.astimezone(tz).time()) for o in opts]


@pytest.fixture
def org():
    return make_org()


@pytest.fixture
def phone(org):
    return make_type(org, mode="phone", slug="phone", duration_minutes=60)


@pytest.fixture
def visit(org):
    return make_type(org, slug="visit", duration_minutes=60)


@pytest.fixture
def customer(org):
    return make_location(org)


# -- contract shape -------------------------------------------------------------------------


def test_option_shape_and_utc(org, phone):
    staff = make_staff(org, first_name="Anna")
    opts = options(org, phone)
    assert opts
    o = opts[0]
    assert o.staff_id == staff.id and o.staff_name.startswith("Anna")
    assert o.start.utcoffset() == dt.timedelta(0) and o.end - o.start == dt.timedelta(hours=1)
    assert o.seats_left is None
    assert all(isinstance(r, str) for r in o.reasons)
    assert all("code" in c for c in o.reason_codes)
    assert [o.score for o in opts] == sorted((o.score for o in opts), reverse=True)


# -- hard rules -----------------------------------------------------------------------------


def test_options_inside_working_hours(org, phone):
    make_staff(org, hours=((0, 9, 12), (0, 13, 17)))
    opts = options(org, phone, days=7)
    assert opts
    for o in opts:
        s = o.start.astimezone(AMS)
        e = o.end.astimezone(AMS)
        assert s.date() == MONDAY  # only Monday has hours
        assert (dt.time(9) <= s.time() and e.time() <= dt.time(12)) or (
            dt.time(13) <= s.time() and e.time() <= dt.time(17)
        )


def test_bookings_and_buffers_block(org):
    t = make_type(org, mode="phone", slug="b", buffer_before=15, buffer_after=15)
    staff = make_staff(org)
    book(staff, t, local(MONDAY, 12))  # blocked 11:45-13:15
    opts = options(org, t, limit=100)
    assert opts
    blocked = (local(MONDAY, 11, 45), local(MONDAY, 13, 15))
    for o in opts:
        occ = (o.start - dt.timedelta(minutes=15), o.end + dt.timedelta(minutes=15))
        assert occ[1] <= blocked[0] or occ[0] >= blocked[1]
    # and the time right after the buffer is offered
    assert local(MONDAY, 13, 30) in {o.start for o in opts}


def test_cancelled_and_expired_hold_do_not_block(org, phone):
    staff = make_staff(org, hours=((0, 9, 10),))
    book(staff, phone, local(MONDAY, 9), status=BookingStatus.CANCELLED)
    hold = book(
        staff,
        phone,
        local(MONDAY, 9),
        status=BookingStatus.HELD,
        hold_expires_at=NOW - dt.timedelta(minutes=1),
    )
    assert [o.start for o in options(org, phone)] == [local(MONDAY, 9)]
    hold.hold_expires_at = NOW + dt.timedelta(hours=1)
    hold.save()
    assert options(org, phone) == []


def test_time_off_blocks(org, phone):
    staff = make_staff(org)
    TimeOff.objects.create(staff=staff, start=local(MONDAY, 0), end=local(MONDAY, 13))
    opts = options(org, phone)
    assert opts and all(o.start >= local(MONDAY, 13) for o in opts)


def test_external_busy_blocks(org, phone):
    staff = make_staff(org, hours=((0, 9, 12),))
    ExternalBusy.objects.create(staff=staff, start=local(MONDAY, 9), end=local(MONDAY, 10, 30))
    opts = options(org, phone)
    assert opts and all(o.start >= local(MONDAY, 10, 30) for o in opts)


def test_public_holidays_sweden():
    org = make_org(country="SE", time_zone="Europe/Stockholm", currency="SEK")
    SchedulingPolicy.objects.filter(organisation=org).update(observe_public_holidays=True)
    t = make_type(org, mode="phone", slug="p")
    make_staff(org, hours=[(wd, 9, 17) for wd in range(7)])
    sto = ZoneInfo("Europe/Stockholm")
    now = dt.datetime(2026, 12, 20, 8, tzinfo=sto)
    xmas = dt.datetime(2026, 12, 24, 0, tzinfo=sto)
    assert options(org, t, now=now, start=xmas, days=2) == []
    # the day before is a normal working day
    assert options(org, t, now=now, start=xmas - dt.timedelta(days=1), days=1)
    # without the policy, Christmas Eve is a working day too
    SchedulingPolicy.objects.filter(organisation=org).update(observe_public_holidays=False)
    assert options(org, t, now=now, start=xmas, days=2)


def test_holiday_with_exception_hours_is_open():
    org = make_org(country="SE", time_zone="Europe/Stockholm", currency="SEK")
    SchedulingPolicy.objects.filter(organisation=org).update(observe_public_holidays=True)
    t = make_type(org, mode="phone", slug="p")
    staff = make_staff(org)
    AvailabilityException.objects.create(
        staff=staff, date=dt.date(2026, 12, 24), start=dt.time(10), end=dt.time(12)
    )
    sto = ZoneInfo("Europe/Stockholm")
    now = dt.datetime(2026, 12, 20, 8, tzinfo=sto)
    opts = options(org, t, now=now, start=dt.datetime(2026, 12, 24, tzinfo=sto), days=1)
    assert local_hours(opts, sto) and all(
        dt.time(10) <= s and e <= dt.time(12) for s, e in local_hours(opts, sto)
    )


def test_exceptions_day_off_and_extra_hours(org, phone):
    staff = make_staff(org)
    AvailabilityException.objects.create(staff=staff, date=MONDAY)  # day off
    saturday = MONDAY + dt.timedelta(days=5)
    AvailabilityException.objects.create(
        staff=staff, date=saturday, start=dt.time(10), end=dt.time(12)
    )
    opts = options(org, phone, days=7, limit=200)
    days = {o.start.astimezone(AMS).date() for o in opts}
    assert MONDAY not in days
    assert saturday in days
    assert all(
        dt.time(10) <= o.start.astimezone(AMS).time() < dt.time(12)
        for o in opts
        if o.start.astimezone(AMS).date() == saturday
    )


def test_skills(org, customer):
    t = make_type(org, skills={"plumbing": 3})
    good = make_staff(org, skills={"plumbing": 4})
    make_staff(org, skills={"plumbing": 2})
    make_staff(org)
    opts = options(org, t, location=customer)
    assert opts and {o.staff_id for o in opts} == {good.id}
    assert any("skill level 4" in o.reasons for o in opts)


def test_regions(org):
    ams = make_region(org, "Amsterdam", "1000-1099")
    utr = make_region(org, "Utrecht", "3500-3599")
    t = make_type(org)
    t.allowed_regions.set([ams])
    a = make_staff(org, regions=[ams])
    make_staff(org, regions=[utr])
    make_staff(org)  # no regions: not for a region-restricted type
    loc = resolve_location(organisation=org, postcode="1012 AB")
    assert {o.staff_id for o in options(org, t, location=loc)} == {a.id}
    with pytest.raises(ValidationError) as exc:
        options(org, t, location=resolve_location(organisation=org, postcode="3511 AX"))
    assert "postcode" in exc.value.message_dict


def test_regions_without_type_restriction(org):
    ams = make_region(org, "Amsterdam", "1000-1099")
    utr = make_region(org, "Utrecht", "3500-3599")
    t = make_type(org)
    a = make_staff(org, regions=[ams])
    make_staff(org, regions=[utr])
    anywhere = make_staff(org)
    loc = resolve_location(organisation=org, postcode="1012 AB")
    assert {o.staff_id for o in options(org, t, location=loc)} == {a.id, anywhere.id}
    # a phone call ignores regions
    p = make_type(org, mode="phone", slug="p2")
    assert len({o.staff_id for o in options(org, p, location=loc)}) == 3


def test_allowed_units_and_unit_narrowing(org, phone):
    north = make_unit(org, "North")
    north_team = make_unit(org, "North team", parent=north)
    south = make_unit(org, "South")
    a = make_staff(org, unit=north)
    b = make_staff(org, unit=north_team)
    c = make_staff(org, unit=south)
    phone.allowed_units.set([north])
    assert {o.staff_id for o in options(org, phone)} == {a.id, b.id}
    assert {o.staff_id for o in options(org, phone, unit=north_team)} == {b.id}
    phone.allowed_units.set([])
    assert {o.staff_id for o in options(org, phone, unit=south)} == {c.id}


def test_preferred_staff(org, phone):
    make_staff(org)
    b = make_staff(org)
    assert {o.staff_id for o in options(org, phone, preferred_staff=b)} == {b.id}


def test_min_notice_and_horizon(org):
    t = make_type(org, mode="phone", slug="n", min_notice_minutes=24 * 60, horizon_days=3)
    make_staff(org, hours=[(wd, 9, 17) for wd in range(7)])
    opts = options(org, t, days=3, limit=500)
    assert opts
    assert min(o.start for o in opts) >= NOW + dt.timedelta(hours=24)
    assert max(o.start for o in opts) <= NOW + dt.timedelta(days=3)
    with pytest.raises(ValidationError) as exc:
        options(org, t, days=10)
    assert "window_end" in exc.value.message_dict


def test_inactive_staff_not_offered(org, phone):
    s = make_staff(org)
    s.active_from = MONDAY + dt.timedelta(days=1)
    s.save()
    opts = options(org, phone, days=2, limit=100)
    assert opts and all(o.start.astimezone(AMS).date() > MONDAY for o in opts)


def test_dst_spring_forward_stockholm():
    org = make_org(country="SE", time_zone="Europe/Stockholm", currency="SEK")
    t = make_type(org, mode="phone", slug="p")
    make_staff(org, hours=[(6, 1, 5), (6, 9, 12)])  # Sundays
    sto = ZoneInfo("Europe/Stockholm")
    sunday = dt.date(2031, 3, 30)  # clocks go 02:00 -> 03:00
    now = dt.datetime(2031, 3, 29, 12, tzinfo=sto)
    opts = options(org, t, now=now, start=dt.datetime(2031, 3, 30, tzinfo=sto), limit=100)
    starts = sorted(o.start.astimezone(sto) for o in opts)
    assert starts
    assert all(s.date() == sunday for s in starts)
    # 01:00-05:00 local is three real hours: 01:00 CET, then 03:00-05:00 CEST
    early = [s for s in starts if s.hour < 9]
    assert early[0].time() == dt.time(1) and early[0].utcoffset() == dt.timedelta(hours=1)
    assert all(not (dt.time(2) <= s.time() < dt.time(3)) for s in starts)
    assert max(early).time() <= dt.time(4)
    late = [s for s in starts if s.hour >= 9]
    assert late[0].time() == dt.time(9) and late[0].utcoffset() == dt.timedelta(hours=2)
    assert max(late).time() == dt.time(11)


# -- ranking inputs -------------------------------------------------------------------------


def test_continuity_ranks_usual_staff_first(org, phone):
    a = make_staff(org)
    b = make_staff(org)
    contact = ContactFactory(organisation=org)
    book(b, phone, local(MONDAY, 9) - dt.timedelta(days=14), contact=contact)
    opts = options(org, phone, contact=contact)
    assert opts[0].staff_id == b.id
    assert "your usual advisor" in opts[0].reasons
    assert {"code": "usual_staff", "rank": 0} in opts[0].reason_codes
    others = [o for o in opts if o.staff_id == a.id]
    assert others and "substitute for your usual advisor" in others[0].reasons
    # without the contact, the lower id wins the tie
    assert options(org, phone)[0].staff_id == min(a.id, b.id)


def test_weights_policy_and_type_override(org, phone):
    policy = scheduling_policy_for(org)
    policy.weight_travel = 3
    policy.save()
    phone.weight_travel = None
    phone.weight_earliest = 5
    w = weights_for(scheduling_policy_for(org), visit_spec([phone]))
    assert w.travel == 3 and w.earliest == 5 and w.compact == 1.0


def test_policy_default_is_unsaved():
    org2 = make_org()
    SchedulingPolicy.objects.filter(organisation=org2).delete()
    policy = scheduling_policy_for(org2)
    assert policy.pk is None and policy.slot_step_minutes == 15
    assert not SchedulingPolicy.objects.filter(organisation=org2).exists()


def test_slot_step_from_type(org):
    t = make_type(org, mode="phone", slug="s", slot_step_minutes=30)
    make_staff(org)
    opts = options(org, t, limit=100)
    assert opts and all(o.start.minute in (0, 30) for o in opts)


def test_travel_reasons(org, visit, customer):
    home = make_location(org, postcode="1071 AB", lat=52.358, lng=4.88)
    make_staff(org, home=home)
    opts = options(org, visit, location=customer)
    assert opts[0].travel_before > 0
    assert any(r.startswith("from home base:") for r in opts[0].reasons)


def test_fills_gap_reason_in_local_time(org):
    t = make_type(org, mode="phone", slug="g")
    staff = make_staff(org, hours=((0, 9, 17),))
    book(staff, t, local(MONDAY, 12))
    book(staff, t, local(MONDAY, 14))  # gap 13:00-14:00
    opts = options(org, t, limit=100)
    fills = [o for o in opts if o.start == local(MONDAY, 13)]
    assert fills and "fills 13:00–14:00" in fills[0].reasons


# -- combined services and groups -----------------------------------------------------------


def test_combined_services_add_up(org, customer):
    main = make_type(org, slug="main", duration_minutes=60, skills={"a": 2}, buffer_after=10)
    extra = make_type(
        org, slug="extra", duration_minutes=30, skills={"a": 3, "b": 1}, combinable=True
    )
    spec = visit_spec([main, extra])
    assert spec.duration == 90 and spec.buffer_after == 10
    assert spec.required_skills == {"a": 3, "b": 1}
    assert spec.price == main.price + extra.price
    ok = make_staff(org, skills={"a": 3, "b": 1})
    make_staff(org, skills={"a": 2, "b": 5})
    opts = options(org, [main, extra], location=customer)
    assert opts and {o.staff_id for o in opts} == {ok.id}
    assert all(o.end - o.start == dt.timedelta(minutes=90) for o in opts)


def test_visit_spec_errors(org):
    main = make_type(org, slug="m")
    not_comb = make_type(org, slug="nc")
    other = make_type(make_org(), slug="o", combinable=True)
    inactive = make_type(org, slug="i", combinable=True, active=False)
    for types in ([], [main, not_comb], [main, other], [main, inactive]):
        with pytest.raises(ValidationError) as exc:
            visit_spec(types)
        assert "types" in exc.value.message_dict


def test_group_sessions_with_seats_left(org):
    group = make_type(org, mode="branch", slug="grp", capacity=3, duration_minutes=90)
    staff = make_staff(org, hours=((0, 9, 17),))
    c1 = ContactFactory(organisation=org)
    session = local(MONDAY, 14)
    book(staff, group, session, contact=c1, seats=2)
    opts = options(org, group, limit=100)
    joined = [o for o in opts if o.start == session]
    assert joined and joined[0].seats_left == 1
    assert joined[0].reason_codes[0] == {"code": "group_session", "seats_left": 1}
    new = [o for o in opts if o.start != session]
    assert new and all(o.seats_left == 3 for o in new)
    # no new session overlapping the existing one
    assert all(o.end <= session or o.start >= session + dt.timedelta(minutes=90) for o in new)
    book(staff, group, session, seats=1)
    assert not [o for o in options(org, group, limit=100) if o.start == session]


# -- field errors ---------------------------------------------------------------------------


def _counts():
    return Location.objects.count(), Booking.objects.count(), SchedulingPolicy.objects.count()


def test_bad_input_field_errors_write_nothing(org, visit):
    make_staff(org)
    before = _counts()
    spec = visit_spec([visit])
    with pytest.raises(ValidationError) as exc:
        resolve_location(organisation=org, postcode="9999 ZZ")
    assert "postcode" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        resolve_location(organisation=org, postcode="not a postcode")
    assert "postcode" in exc.value.message_dict
    loc = resolve_location(organisation=org, postcode="1012 AB")
    assert loc.pk is None
    cases = [
        ({"window_start": NOW - dt.timedelta(days=2)}, "window_start"),
        ({"window_end": NOW - dt.timedelta(hours=1)}, "window_end"),
        ({"window_end": NOW + dt.timedelta(days=4000)}, "window_end"),
        ({"location": None}, "postcode"),
    ]
    for change, field in cases:
        kwargs = {
            "organisation": org,
            "spec": spec,
            "location": loc,
            "window_start": NOW,
            "window_end": NOW + dt.timedelta(days=1),
            "now": NOW,
        }
        kwargs.update(change)
        with pytest.raises(ValidationError) as exc:
            find_options(**kwargs)
        assert field in exc.value.message_dict, (change, exc.value.message_dict)
    assert _counts() == before
    assert resolve_location(organisation=org) is None


# -- the other entry points -----------------------------------------------------------------


def test_check_bookable(org, customer):
    t = make_type(org, skills={"gas": 2})
    staff = make_staff(org, skills={"gas": 3}, hours=((0, 9, 17),))
    unskilled = make_staff(org, hours=((0, 9, 17),))
    spec = visit_spec([t])
    check_bookable(spec=spec, staff=staff, start=local(MONDAY, 10), location=customer, now=NOW)
    booking = book(staff, t, local(MONDAY, 12), location=customer)
    bad = [
        (staff, local(MONDAY, 7)),  # outside hours
        (staff, local(MONDAY, 16, 30)),  # ends after hours
        (staff, local(MONDAY, 12, 30)),  # overlaps
        (unskilled, local(MONDAY, 10)),  # no skill
        (staff, NOW - dt.timedelta(hours=1)),  # past
    ]
    for who, start in bad:
        with pytest.raises(ValidationError) as exc:
            check_bookable(spec=spec, staff=who, start=start, location=customer, now=NOW)
        assert "start" in exc.value.message_dict, start
    # rescheduling a booking onto its own time is fine
    check_bookable(
        spec=spec,
        staff=staff,
        start=local(MONDAY, 12, 30),
        location=customer,
        now=NOW,
        exclude_booking=booking,
    )


def test_free_staff_at(org, phone):
    a = make_staff(org)
    b = make_staff(org)
    book(a, phone, local(MONDAY, 10))
    free = free_staff_at(
        organisation=org, spec=visit_spec([phone]), location=None, start=local(MONDAY, 10), now=NOW
    )
    assert [o.staff_id for o in free] == [b.id]
    assert free[0].start == local(MONDAY, 10)


def test_agenda_gaps(org, phone):
    a = make_staff(org, hours=((0, 9, 17),))
    book(a, phone, local(MONDAY, 10))
    gaps = agenda_gaps(
        organisation=org,
        staff_ids=[a.id],
        window_start=local(MONDAY, 0),
        window_end=local(MONDAY + dt.timedelta(days=1), 0),
        now=NOW,
    )
    assert gaps[a.id] == [
        (local(MONDAY, 9), local(MONDAY, 10)),
        (local(MONDAY, 11), local(MONDAY, 17)),
    ]


# -- constant number of queries -------------------------------------------------------------


def _populate(org, t, n, customer):
    contact = ContactFactory(organisation=org)
    region = make_region(org, f"R{n}", "1000-1099")
    for i in range(n):
        s = make_staff(org, skills={"x": 3}, regions=[region], home=customer)
        book(s, t, local(MONDAY, 10), location=customer, contact=contact)
        TimeOff.objects.create(staff=s, start=local(MONDAY, 15), end=local(MONDAY, 16))
        ExternalBusy.objects.create(staff=s, start=local(MONDAY, 13), end=local(MONDAY, 14))
        AvailabilityException.objects.create(staff=s, date=MONDAY + dt.timedelta(days=i % 3))
    return contact


def _count_queries(n):
    org = make_org()
    customer = make_location(org)
    t = make_type(org, skills={"x": 2})
    contact = _populate(org, t, n, customer)
    spec = visit_spec([t])
    with CaptureQueriesContext(connection) as ctx:
        opts = find_options(
            organisation=org,
            spec=spec,
            location=customer,
            window_start=NOW,
            window_end=NOW + dt.timedelta(days=14),
            now=NOW,
            contact=contact,
        )
    assert len(opts) == 10
    return len(ctx.captured_queries)


def test_query_count_does_not_grow_with_staff():
    few = _count_queries(3)
    many = _count_queries(30)
    assert few == many
    # PostgreSQL: the policy, the candidates (with the regions of the postcode, hours and
    # exceptions), the busy time (with the contact's previous staff); SQLite needs a few more.
    assert many <= (3 if connection.vendor == "postgresql" else 10)


@pytest.mark.parametrize(
    ("tz", "country", "sunday"),
    [
        ("America/Los_Angeles", "US", dt.date(2031, 11, 2)),  # 02:00 PDT -> 01:00 PST
        ("Europe/Amsterdam", "NL", dt.date(2031, 10, 26)),  # 03:00 CEST -> 02:00 CET
    ],
)
def test_dst_fall_back_repeated_hour(tz, country, sunday):
    """On the fall-back day 00:00-04:00 local is five real hours; options keep their local
    grid and cover both passes of the repeated hour, nothing outside the range."""
    org = make_org(country=country, time_zone=tz, currency="EUR")
    t = make_type(org, mode="phone", slug="p", duration_minutes=60, slot_step_minutes=60)
    make_staff(org, hours=[(6, 0, 4)])
    zone = ZoneInfo(tz)
    now = dt.datetime.combine(sunday - dt.timedelta(days=2), dt.time(12), tzinfo=zone)
    start = dt.datetime.combine(sunday, dt.time(), tzinfo=zone)
    opts = options(org, t, now=now, start=start, limit=100)
    starts = sorted(o.start for o in opts)
    midnight = start.astimezone(dt.UTC)
    # five real hours: starts at +0h .. +4h minus the duration, every real hour
    assert starts == [midnight + dt.timedelta(hours=h) for h in range(5)]
    assert all(o.end <= midnight + dt.timedelta(hours=5) for o in opts)
