"""Wall-clock working rules -> absolute UTC minute intervals (pure, :mod:`zoneinfo`).

The DST rule
------------
A range ``start``-``end`` on a date means the real time from the **first** moment the local
clock shows ``start`` on that date to the **last** moment it shows ``end``; in other words the
smallest contiguous span of real time that contains every instant whose local wall time lies in
``[start, end)``.  Consequences:

* a wall time that does not exist (spring-forward gap) is clipped to the existing times: on the
  spring-forward day in Europe/Stockholm ``02:00-04:00`` is one real hour (03:00-04:00 CEST) and
  ``02:15-02:45`` is nothing at all;
* an ambiguous wall time (fall-back) takes its first occurrence (``fold=0``) as a start and its
  last occurrence (``fold=1``) as an end: on the fall-back day ``01:00-03:00`` in
  America/Los_Angeles is three real hours and ``00:00-01:30`` is two and a half.  The one
  exception follows from the same definition: an end exactly at the start of the repeated hour
  (``20:00-01:00`` there) is reached the first time the clock shows it, since no wall time of the
  repeated hour lies before it;
* so a day's ranges never invent a local time the rule does not contain, nor lose one it does.

``end <= start`` means the range ends on the following day (``22:00-06:00`` is a night shift,
``00:00-00:00`` is the whole day).  A range belongs to the date it starts on.

Exceptions (:class:`DateException`) replace that date's weekly ranges; an empty tuple makes it a
day off.  ``closed_dates`` (public holidays, whole days of time off) remove the date unless an
exception for that date gives hours.  Touching or overlapping results are merged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class WeeklyRule:
    """Working time every week: ``weekday`` 0 = Monday ... 6 = Sunday, local wall clock."""

    weekday: int
    start: dt.time
    end: dt.time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError("weekday must be 0 (Monday) .. 6 (Sunday)")


@dataclass(frozen=True, slots=True)
class DateException:
    """On ``date`` the working ranges are exactly ``ranges`` (empty = day off)."""

    date: dt.date
    ranges: tuple[tuple[dt.time, dt.time], ...] = ()


def _zone(tz: str | dt.tzinfo) -> dt.tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def to_minutes(value: dt.datetime) -> int:
    """Aware datetime -> minutes since the epoch, UTC (floored to the minute)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("to_minutes needs an aware datetime")
    return (value - EPOCH) // _MINUTE


def from_minutes(minutes: int, tz: str | dt.tzinfo = UTC) -> dt.datetime:
    """Minutes since the epoch -> aware datetime in ``tz`` (a zone name or a tzinfo)."""
    return (EPOCH + dt.timedelta(minutes=minutes)).astimezone(_zone(tz))


def _seconds(value: dt.datetime) -> int:
    return (value - EPOCH) // dt.timedelta(seconds=1)


def _transition_at(zone: dt.tzinfo, lo: int, hi: int) -> int:
    """First second in ``(lo, hi]`` whose UTC offset differs from the offset at ``lo``."""
    base = (EPOCH + dt.timedelta(seconds=lo)).astimezone(zone).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (EPOCH + dt.timedelta(seconds=mid)).astimezone(zone).utcoffset() == base:
            lo = mid
        else:
            hi = mid
    return hi


def _resolve(zone: dt.tzinfo, day: dt.date, wall: dt.time, fold: int) -> int:
    """Local ``day`` + ``wall`` -> UTC seconds; a non-existent wall time maps to the transition."""
    naive = dt.datetime.combine(day, wall.replace(tzinfo=None, fold=0))
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    s0, s1 = _seconds(first), _seconds(second)
    back = (EPOCH + dt.timedelta(seconds=s0 if fold == 0 else s1)).astimezone(zone)
    if back.replace(tzinfo=None, fold=0) == naive:
        if fold == 0 or s0 == s1:
            return s0 if fold == 0 else s1
        # An ambiguous end: its last occurrence, unless the clock jumped back *onto* it (the end
        # is the very start of the repeated hour) - then nothing of the repeated hour lies
        # before it and the span ends the first time the clock shows it.
        just_before = (EPOCH + dt.timedelta(seconds=s1 - 1)).astimezone(zone)
        if just_before.replace(tzinfo=None, fold=0) == naive - dt.timedelta(seconds=1):
            return s1
        return s0
    # In a spring-forward gap: the two readings straddle the transition instant.
    lo, hi = min(s0, s1), max(s0, s1)
    return _transition_at(zone, lo, hi)


def local_range_to_utc(
    day: dt.date, start: dt.time, end: dt.time, tz: str | dt.tzinfo
) -> tuple[int, int] | None:
    """One wall-clock range on ``day`` -> ``(start_min, end_min)`` UTC, or None if empty."""
    zone = _zone(tz)
    end_day = day if end > start else day + dt.timedelta(days=1)
    s = _resolve(zone, day, start, fold=0)
    e = _resolve(zone, end_day, end, fold=1)
    s_min = s // 60
    e_min = -(-e // 60)
    if e_min <= s_min:
        return None
    return s_min, e_min


def merge_intervals(intervals: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sort and merge overlapping or touching intervals; drop empty ones."""
    out: list[list[int]] = []
    for s, e in sorted(i for i in intervals if i[1] > i[0]):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1][1] = e
        else:
            out.append([s, e])
    return tuple((s, e) for s, e in out)


def expand_working_time(
    rules: Iterable[WeeklyRule],
    exceptions: Iterable[DateException],
    tz_name: str,
    first_date: dt.date,
    last_date: dt.date,
    closed_dates: frozenset[dt.date] | set[dt.date] = frozenset(),
) -> tuple[tuple[int, int], ...]:
    """Expand weekly rules for ``first_date``..``last_date`` (inclusive) into UTC minutes.

    Returns a sorted tuple of merged ``(start_min, end_min)`` intervals (see the module doc for
    the DST rule, overnight ranges, exceptions and closed dates).
    """
    zone = ZoneInfo(tz_name)
    by_weekday: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for rule in rules:
        by_weekday.setdefault(rule.weekday, []).append((rule.start, rule.end))
    special: dict[dt.date, list[tuple[dt.time, dt.time]]] = {}
    for exc in exceptions:
        special.setdefault(exc.date, []).extend(exc.ranges)
    out: list[tuple[int, int]] = []
    day = first_date
    one = dt.timedelta(days=1)
    while day <= last_date:
        if day in special:
            ranges = special[day]
        elif day in closed_dates:
            ranges = []
        else:
            ranges = by_weekday.get(day.weekday(), [])
        for start, end in ranges:
            interval = local_range_to_utc(day, start, end, zone)
            if interval is not None:
                out.append(interval)
        day += one
    return merge_intervals(out)
