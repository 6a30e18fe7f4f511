"""Wall-clock rules -> UTC minutes, with the DST days of the four zones the product promises."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slotwise.scheduling.engine import (
    DateException,
    WeeklyRule,
    expand_working_time,
    from_minutes,
    local_range_to_utc,
    to_minutes,
)

T = dt.time
D = dt.date
UTC = dt.UTC


def z(y, mo, d, hh=0, mm=0) -> int:
    return to_minutes(dt.datetime(y, mo, d, hh, mm, tzinfo=UTC))


def one_day(tz, day, start, end):
    rule = WeeklyRule(day.weekday(), start, end)
    return expand_working_time([rule], [], tz, day, day)


CET_SPRING = [
    ((T(0), T(23, 59)), (z(2024, 3, 30, 23), z(2024, 3, 31, 21, 59)), 1379),
    ((T(1), T(4)), (z(2024, 3, 31, 0), z(2024, 3, 31, 2)), 120),
    ((T(8), T(17)), (z(2024, 3, 31, 6), z(2024, 3, 31, 15)), 540),
    ((T(2), T(4)), (z(2024, 3, 31, 1), z(2024, 3, 31, 2)), 60),  # 02:00-03:00 does not exist
]
CET_FALL = [
    ((T(0), T(23, 59)), (z(2024, 10, 26, 22), z(2024, 10, 27, 22, 59)), 1499),
    ((T(1), T(4)), (z(2024, 10, 26, 23), z(2024, 10, 27, 3)), 240),
    ((T(8), T(17)), (z(2024, 10, 27, 7), z(2024, 10, 27, 16)), 540),
    ((T(2), T(3)), (z(2024, 10, 27, 0), z(2024, 10, 27, 2)), 120),  # 02:00-03:00 happens twice
]
CASES = (
    [("Europe/Stockholm", D(2024, 3, 31), *c) for c in CET_SPRING]
    + [("Europe/Stockholm", D(2024, 10, 27), *c) for c in CET_FALL]
    + [("Europe/Amsterdam", D(2024, 3, 31), *c) for c in CET_SPRING]
    + [("Europe/Amsterdam", D(2024, 10, 27), *c) for c in CET_FALL]
    + [
        (
            "America/Los_Angeles",
            D(2024, 3, 10),
            (T(0), T(23, 59)),
            (z(2024, 3, 10, 8), z(2024, 3, 11, 6, 59)),
            1379,
        ),
        (
            "America/Los_Angeles",
            D(2024, 3, 10),
            (T(1), T(4)),
            (z(2024, 3, 10, 9), z(2024, 3, 10, 11)),
            120,
        ),
        (
            "America/Los_Angeles",
            D(2024, 3, 10),
            (T(8), T(17)),
            (z(2024, 3, 10, 15), z(2024, 3, 11, 0)),
            540,
        ),
        (
            "America/Los_Angeles",
            D(2024, 11, 3),
            (T(0), T(23, 59)),
            (z(2024, 11, 3, 7), z(2024, 11, 4, 7, 59)),
            1499,
        ),
        (
            "America/Los_Angeles",
            D(2024, 11, 3),
            (T(1), T(4)),
            (z(2024, 11, 3, 8), z(2024, 11, 3, 12)),
            240,
        ),
        (
            "America/Los_Angeles",
            D(2024, 11, 3),
            (T(8), T(17)),
            (z(2024, 11, 3, 16), z(2024, 11, 4, 1)),
            540,
        ),
        (
            "America/Los_Angeles",
            D(2024, 11, 3),
            (T(1), T(3)),  # the design brief's example
            (z(2024, 11, 3, 8), z(2024, 11, 3, 11)),
            180,
        ),
        (
            "America/Los_Angeles",
            D(2024, 11, 3),
            (T(0), T(1, 30)),  # 01:00-01:30 happens twice, both inside
            (z(2024, 11, 3, 7), z(2024, 11, 3, 9, 30)),
            150,
        ),
        (
            "America/Los_Angeles",
            D(2024, 11, 2),
            (T(20), T(1)),  # ends the first time the clock shows 01:00
            (z(2024, 11, 3, 3), z(2024, 11, 3, 8)),
            300,
        ),
        # Moscow: no DST since 2014; the old change weekends are ordinary days.
        (
            "Europe/Moscow",
            D(2024, 3, 31),
            (T(0), T(23, 59)),
            (z(2024, 3, 30, 21), z(2024, 3, 31, 20, 59)),
            1439,
        ),
        (
            "Europe/Moscow",
            D(2024, 3, 31),
            (T(1), T(4)),
            (z(2024, 3, 30, 22), z(2024, 3, 31, 1)),
            180,
        ),
        (
            "Europe/Moscow",
            D(2024, 10, 27),
            (T(8), T(17)),
            (z(2024, 10, 27, 5), z(2024, 10, 27, 14)),
            540,
        ),
        (
            "Europe/Moscow",
            D(2024, 10, 27),
            (T(0), T(23, 59)),
            (z(2024, 10, 26, 21), z(2024, 10, 27, 20, 59)),
            1439,
        ),
        # ... but the 2014 switch from +04 to +03 was a real fall-back.
        (
            "Europe/Moscow",
            D(2014, 10, 26),
            (T(1), T(4)),
            (z(2014, 10, 25, 21), z(2014, 10, 26, 1)),
            240,
        ),
    ]
)


@pytest.mark.parametrize(("tz", "day", "rng", "expected", "minutes"), CASES)
def test_dst_days_exact_utc_boundaries(tz, day, rng, expected, minutes):
    got = one_day(tz, day, *rng)
    assert got == (expected,)
    assert got[0][1] - got[0][0] == minutes


@pytest.mark.parametrize("tz", ["Europe/Stockholm", "America/Los_Angeles", "Europe/Amsterdam"])
def test_range_inside_the_spring_gap_is_empty(tz):
    day = D(2024, 3, 10) if tz.startswith("America") else D(2024, 3, 31)
    assert one_day(tz, day, T(2, 15), T(2, 45)) == ()


def test_moscow_has_24_hour_days_all_year():
    rules = [WeeklyRule(wd, T(0), T(0)) for wd in range(7)]  # 00:00-00:00 = whole day
    for day in (D(2024, 1, 1) + dt.timedelta(days=i) for i in range(366)):
        got = expand_working_time(rules, [], "Europe/Moscow", day, day)
        assert got[0][1] - got[0][0] == 1440, day


@pytest.mark.parametrize(
    ("tz", "year", "short", "long"),
    [
        ("Europe/Stockholm", 2024, D(2024, 3, 31), D(2024, 10, 27)),
        ("Europe/Amsterdam", 2025, D(2025, 3, 30), D(2025, 10, 26)),
        ("America/Los_Angeles", 2024, D(2024, 3, 10), D(2024, 11, 3)),
    ],
)
def test_whole_days_never_invent_or_lose_time(tz, year, short, long):
    rules = [WeeklyRule(wd, T(0), T(0)) for wd in range(7)]
    first, last = D(year, 1, 1), D(year, 12, 31)
    got = expand_working_time(rules, [], tz, first, last)
    zone = ZoneInfo(tz)
    start = to_minutes(dt.datetime(year, 1, 1, tzinfo=zone))
    end = to_minutes(dt.datetime(year + 1, 1, 1, tzinfo=zone))
    assert got == ((start, end),)  # touching days merge into one interval, no hole, no overlap
    for day in (first + dt.timedelta(days=i) for i in range((last - first).days + 1)):
        single = expand_working_time(rules, [], tz, day, day)
        expected = {short: 1380, long: 1500}.get(day, 1440)
        assert single[0][1] - single[0][0] == expected, day


# ------------------------------------------------------------------ rules, exceptions, closing

WEEKDAYS_9_17 = [WeeklyRule(wd, T(9), T(17)) for wd in range(5)]


def test_weekly_rules_skip_weekends():
    got = expand_working_time(WEEKDAYS_9_17, [], "UTC", D(2024, 6, 7), D(2024, 6, 10))  # Fri-Mon
    assert got == ((z(2024, 6, 7, 9), z(2024, 6, 7, 17)), (z(2024, 6, 10, 9), z(2024, 6, 10, 17)))


def test_exception_replaces_the_day():
    exc = DateException(D(2024, 6, 7), ((T(7), T(8)), (T(12), T(13))))
    got = expand_working_time(WEEKDAYS_9_17, [exc], "UTC", D(2024, 6, 7), D(2024, 6, 7))
    assert got == ((z(2024, 6, 7, 7), z(2024, 6, 7, 8)), (z(2024, 6, 7, 12), z(2024, 6, 7, 13)))
    off = DateException(D(2024, 6, 7), ())
    assert expand_working_time(WEEKDAYS_9_17, [off], "UTC", D(2024, 6, 7), D(2024, 6, 7)) == ()
    saturday = DateException(D(2024, 6, 8), ((T(10), T(12)),))
    got = expand_working_time(WEEKDAYS_9_17, [saturday], "UTC", D(2024, 6, 8), D(2024, 6, 8))
    assert got == ((z(2024, 6, 8, 10), z(2024, 6, 8, 12)),)


def test_closed_dates_are_removed_unless_an_exception_gives_hours():
    se = holidays.country_holidays("SE", years=2024)
    closed = frozenset(d for d in se if D(2024, 6, 1) <= d <= D(2024, 6, 30))
    assert D(2024, 6, 6) in closed  # National Day, a Thursday
    got = expand_working_time(
        WEEKDAYS_9_17, [], "Europe/Stockholm", D(2024, 6, 3), D(2024, 6, 7), closed
    )
    days = {from_minutes(s, "Europe/Stockholm").date() for s, _ in got}
    assert days == {D(2024, 6, 3), D(2024, 6, 4), D(2024, 6, 5), D(2024, 6, 7)}
    exc = DateException(D(2024, 6, 6), ((T(10), T(14)),))
    got = expand_working_time(
        WEEKDAYS_9_17, [exc], "Europe/Stockholm", D(2024, 6, 6), D(2024, 6, 6), closed
    )
    assert got == ((z(2024, 6, 6, 8), z(2024, 6, 6, 12)),)


def test_overnight_and_merging():
    rules = [WeeklyRule(0, T(22), T(6)), WeeklyRule(1, T(6), T(10)), WeeklyRule(1, T(9), T(12))]
    got = expand_working_time(rules, [], "UTC", D(2024, 6, 3), D(2024, 6, 4))  # Mon, Tue
    assert got == ((z(2024, 6, 3, 22), z(2024, 6, 4, 12)),)


def test_minutes_helpers():
    moment = dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Stockholm"))
    m = to_minutes(moment)
    assert m == z(2024, 10, 27, 1, 30)
    back = from_minutes(m, "Europe/Stockholm")
    assert back == moment and back.utcoffset() == dt.timedelta(hours=1)
    assert from_minutes(0) == dt.datetime(1970, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        to_minutes(dt.datetime(2024, 1, 1))
    with pytest.raises(ValueError):
        WeeklyRule(7, T(9), T(10))


# ------------------------------------------------------------------ the rule, by brute force

ZONES = ["Europe/Stockholm", "Europe/Amsterdam", "Europe/Moscow", "America/Los_Angeles"]
AROUND = [
    D(2024, 3, 9),
    D(2024, 3, 10),
    D(2024, 3, 30),
    D(2024, 3, 31),
    D(2024, 10, 26),
    D(2024, 10, 27),
    D(2024, 11, 2),
    D(2024, 11, 3),
    D(2014, 10, 26),
    D(2024, 7, 1),
]


def hull_of_wall_time(tz: str, day: dt.date, start: dt.time, end: dt.time):
    """Scan every real minute; keep those whose local wall time lies in the range."""
    zone = ZoneInfo(tz)
    lo = z(day.year, day.month, day.day) - 24 * 60
    hits = []
    s_min = start.hour * 60 + start.minute
    e_min = end.hour * 60 + end.minute
    nxt = day + dt.timedelta(days=1)
    for m in range(lo, lo + 4 * 1440):
        local = from_minutes(m, zone)
        wall = local.hour * 60 + local.minute
        d = local.date()
        if e_min > s_min:
            inside = d == day and s_min <= wall < e_min
        else:
            inside = (d == day and wall >= s_min) or (d == nxt and wall < e_min)
        if inside:
            hits.append(m)
    return (hits[0], hits[-1] + 1) if hits else None


quarter = st.integers(0, 95).map(lambda q: T(q // 4, q % 4 * 15))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(ZONES), st.sampled_from(AROUND), quarter, quarter)
def test_range_is_the_hull_of_its_wall_time(tz, day, start, end):
    assert local_range_to_utc(day, start, end, tz) == hull_of_wall_time(tz, day, start, end)
