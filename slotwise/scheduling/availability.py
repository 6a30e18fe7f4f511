"""The loader: what the option generator needs, in a constant number of queries.

Whatever the number of staff, one request reads:

1. the candidate staff — organisation, active on the window's dates, every required skill at the
   minimum level, the type's allowed units (and below), the ``unit`` narrowing, the preferred
   staff member, the regions rule (below) — with their name, unit, home base and the levels of
   the required skills: **one query** (skills and regions are ``EXISTS`` sub-queries);
2. their weekly working hours: one query; their dated exceptions in the window: one query;
3. their busy time in the window — active bookings (confirmed, or held and not expired) with
   buffers and locations through the partial index ``booking_active_staff_end_idx``, time off,
   external calendar busy time: **one query** (``UNION ALL``, times already as epoch minutes);
4. the contact's previous staff: one query (only with a contact); the org units with addresses
   (only when a branch booking has no location of its own): one query.

The regions rule: a type with allowed regions is offered only at postcodes inside one of them,
and only by staff who serve one of those regions that contains the postcode. A type at the
customer's address without allowed regions is offered by staff who serve a region containing
the postcode, or who have no regions at all (they go anywhere). Branch, phone and video types
ignore regions unless the type restricts them.

Working time is expanded with :func:`~slotwise.scheduling.engine.calendar.expand_working_time`,
memoised per (rules, exceptions, time zone, dates, closed dates): staff who share the same hours
share one expansion, so 500 staff × 14 days costs a handful of expansions. Public holidays of
the organisation's country are closed dates when ``policy.observe_public_holidays``.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Exists, OuterRef, Q, Subquery

from slotwise.bookings.models import Booking, BookingStatus
from slotwise.org.models import OrgUnit, Region, Staff, StaffSkill
from slotwise.org.postcodes import key_in_range, normalise
from slotwise.scheduling.engine.calendar import (
    DateException,
    WeeklyRule,
    expand_working_time,
    to_minutes,
)
from slotwise.scheduling.engine.types import Busy, Point, StaffSnapshot
from slotwise.scheduling.holidays import closed_dates

from .models import AppointmentMode, AvailabilityException, WorkingHours

UTC = dt.UTC
_NO_REGIONS = frozenset()


@dataclass
class Snapshot:
    """Everything the engine needs for one request, plus what the selectors show."""

    staff: list[StaffSnapshot]
    names: dict[int, str]
    tz: str
    previous_staff_ids: tuple[int, ...] = ()
    #: group sessions of the requested type: (staff_id, start_min, seats taken)
    sessions: list[tuple[int, int, int]] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    load_start: int = 0
    load_end: int = 0


@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while a request builds and ranks its snapshot.

    A snapshot is tens of thousands of small acyclic objects (tuples, busies) freed by reference
    counting; allocating them otherwise triggers collections of the whole heap (a loaded Django
    process), which measured as the slowest 5-10 % of requests. Process-wide and so shared by
    threads: a thread that finds it paused leaves it to the one that paused it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# -- regions ---------------------------------------------------------------------------------


def regions_for_postcode(organisation, country: str, postcode: str) -> frozenset[int]:
    """Ids of the organisation's regions whose postcode ranges contain `postcode` (one query)."""
    if not postcode:
        return _NO_REGIONS
    try:
        key = normalise(country, postcode)
    except Exception:  # noqa: BLE001 - an invalid postcode is in no region
        return _NO_REGIONS
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT rr.region_id, rr.start, rr."end" FROM org_regionrange rr'
            " JOIN org_region r ON r.id = rr.region_id"
            " WHERE r.organisation_id = %s AND r.country = %s",
            [organisation.pk, country],
        )
        rows = cursor.fetchall()
    return frozenset(rid for rid, s, e in rows if key_in_range(key, s, e))


def org_uses_regions(organisation) -> bool:
    return Region.objects.filter(organisation=organisation).exists()


# -- working time ----------------------------------------------------------------------------


def local_dates(tz: str, start: dt.datetime, end: dt.datetime) -> tuple[dt.date, dt.date]:
    """The local dates to expand for a UTC window: one day before (night shifts) to the end."""
    zone = ZoneInfo(tz)
    first = start.astimezone(zone).date() - dt.timedelta(days=1)
    last = end.astimezone(zone).date()
    return first, last


@lru_cache(maxsize=4096)
def _local_midnight(tz: str, day: dt.date) -> int:
    return to_minutes(dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(tz)))


def _clip_active(working, tz, first, last, active_from, active_to):
    lo = _local_midnight(tz, active_from) if active_from > first else None
    hi = (
        _local_midnight(tz, active_to + dt.timedelta(days=1))
        if active_to is not None and active_to < last
        else None
    )
    if lo is None and hi is None:
        return working
    out = []
    for s, e in working:
        if lo is not None and s < lo:
            s = lo
        if hi is not None and e > hi:
            e = hi
        if e > s:
            out.append((s, e))
    return tuple(out)


# -- the loader ------------------------------------------------------------------------------


def candidate_staff_queryset(
    *,
    organisation,
    first: dt.date,
    last: dt.date,
    required_skills: dict[str, int] | None = None,
    allowed_unit_paths: tuple[tuple[str, ...], ...] = (),
    allowed_region_ids: frozenset[int] | None = None,
    customer_region_ids: frozenset[int] | None = None,
    regions_required: bool = False,
    unit=None,
    staff_ids=None,
):
    """The candidate staff as a queryset (skills, units, regions and dates filtered in SQL)."""
    qs = Staff.objects.filter(organisation=organisation, active_from__lte=last).filter(
        Q(active_to__isnull=True) | Q(active_to__gte=first)
    )
    if staff_ids is not None:
        qs = qs.filter(pk__in=list(staff_ids))
    if unit is not None:
        qs = qs.filter(unit__path__startswith=unit.path)
    for paths in allowed_unit_paths:
        q = Q(pk__in=[])
        for path in paths:
            q |= Q(unit__path__startswith=path)
        qs = qs.filter(q)
    annotations = {}
    for i, (code, level) in enumerate(sorted((required_skills or {}).items())):
        sub = StaffSkill.objects.filter(
            staff=OuterRef("pk"), skill__organisation=organisation, skill__code=code
        )
        annotations[f"skill_{i}"] = Subquery(sub.values("level")[:1])
        qs = qs.filter(Exists(sub.filter(level__gte=level)))
    if annotations:
        qs = qs.annotate(**annotations)
    through = Staff.regions.through
    if allowed_region_ids is not None:
        wanted = allowed_region_ids & (customer_region_ids or _NO_REGIONS)
        qs = qs.filter(
            Exists(through.objects.filter(staff_id=OuterRef("pk"), region_id__in=list(wanted)))
        )
    elif regions_required:
        qs = qs.filter(
            Exists(
                through.objects.filter(
                    staff_id=OuterRef("pk"), region_id__in=list(customer_region_ids or ())
                )
            )
            | ~Exists(through.objects.filter(staff_id=OuterRef("pk")))
        )
    return qs, [f"skill_{i}" for i in range(len(annotations))]


# Row shape of the busy query (both paths):
# (staff_id, start_min, end_min, location_id, lat, lng, branch_unit_id, group_type_id,
#  group_start_min, kind) with kind > 0 = a booking's seats, 0 = time off, -1 = external busy,
# -2 = a booking of the contact (start_min = its start; for continuity).
# Times are epoch minutes computed by the server (float date_part: cheap), so nothing is parsed
# into datetimes; the rows come back in binary.
KIND_TIME_OFF, KIND_EXTERNAL, KIND_PREVIOUS = 0, -1, -2

_BUSY_SQL = """
SELECT b.staff_id,
       FLOOR(date_part('epoch', b.blocked_start) / 60)::int8,
       CEIL(date_part('epoch', b.blocked_end) / 60)::int8,
       b.location_id, l.lat, l.lng,
       CASE WHEN b.location_id IS NULL AND EXISTS (
                SELECT 1 FROM scheduling_appointmenttype t
                 WHERE t.id = b.type_id AND t.mode = 'branch')
            THEN b.unit_id END,
       CASE WHEN NOT b.exclusive THEN b.type_id END,
       CASE WHEN NOT b.exclusive THEN FLOOR(date_part('epoch', b.start) / 60)::int8 END,
       b.seats
FROM bookings_booking b
LEFT JOIN org_location l ON l.id = b.location_id
WHERE b.staff_id = ANY(%(ids)s)
  AND b.status IN ('held', 'confirmed')
  AND b.blocked_end > %(ws)s AND b.blocked_start < %(we)s
  AND (b.status = 'confirmed' OR b.hold_expires_at IS NULL OR b.hold_expires_at > %(now)s)
  AND b.id <> %(exclude)s
UNION ALL
SELECT o.staff_id, FLOOR(date_part('epoch', o.start) / 60)::int8,
       CEIL(date_part('epoch', o."end") / 60)::int8,
       NULL, NULL, NULL, NULL, NULL, NULL, 0
FROM scheduling_timeoff o
WHERE o.staff_id = ANY(%(ids)s) AND o."end" > %(ws)s AND o.start < %(we)s
UNION ALL
SELECT x.staff_id, FLOOR(date_part('epoch', x.start) / 60)::int8,
       CEIL(date_part('epoch', x."end") / 60)::int8,
       NULL, NULL, NULL, NULL, NULL, NULL, -1
FROM scheduling_externalbusy x
WHERE x.staff_id = ANY(%(ids)s) AND x."end" > %(ws)s AND x.start < %(we)s
"""

_PREVIOUS_SQL = """
UNION ALL
(SELECT p.staff_id, FLOOR(date_part('epoch', p.start) / 60)::int8, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL, -2
 FROM bookings_booking p
 WHERE p.contact_id = %(contact)s AND p.status NOT IN ('cancelled', 'no_show')
 ORDER BY p.start DESC LIMIT 20)
"""


def fast_cursor():
    """A Django-wrapped cursor that binds parameters on the server and reads results in
    binary (integers and floats are not parsed from text): PostgreSQL only. Queries still go
    through Django's wrappers, so they are logged and counted like any other."""
    import psycopg

    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    raw.format = psycopg.pq.Format.BINARY
    return connection._prepare_cursor(raw)


def _busy_rows_postgres(ids, ws, we, now, exclude_id, contact_id):
    ids = list(ids)
    params = {"ids": ids, "ws": ws, "we": we, "now": now, "exclude": exclude_id or 0}
    sql = _BUSY_SQL
    if len(ids) == 1:
        # One staff member (re-checking one option before booking it): "= id" instead of
        # "= ANY(ids)", so PostgreSQL keeps one generic plan for the prepared statement instead
        # of planning it afresh on every booking (an array's length is unknown to a generic
        # plan, so it never looked cheap enough).
        sql = sql.replace("= ANY(%(ids)s)", "= %(id)s")
        params["id"] = ids[0]
    if contact_id is not None:
        sql += _PREVIOUS_SQL
        params["contact"] = contact_id
    with fast_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _busy_rows_orm(ids, ws, we, now, exclude_id, contact_id):
    """The same rows as :data:`_BUSY_SQL`, through the ORM (SQLite)."""
    from .models import ExternalBusy, TimeOff

    bookings = (
        Booking.objects.filter(
            staff_id__in=ids,
            status__in=[BookingStatus.HELD, BookingStatus.CONFIRMED],
            blocked_end__gt=ws,
            blocked_start__lt=we,
        )
        .filter(
            Q(status=BookingStatus.CONFIRMED)
            | Q(hold_expires_at__isnull=True)
            | Q(hold_expires_at__gt=now)
        )
        .exclude(pk=exclude_id or 0)
        .values_list(
            "staff_id",
            "blocked_start",
            "blocked_end",
            "location_id",
            "location__lat",
            "location__lng",
            "type__mode",
            "unit_id",
            "type_id",
            "start",
            "seats",
            "exclusive",
        )
    )
    rows = []
    for sid, bs, be, loc, lat, lng, mode, unit_id, type_id, start, seats, exclusive in bookings:
        rows.append(
            (
                sid,
                to_minutes(bs),
                -(-_seconds(be) // 60),
                loc,
                lat,
                lng,
                unit_id if loc is None and mode == AppointmentMode.BRANCH else None,
                None if exclusive else type_id,
                None if exclusive else to_minutes(start),
                seats,
            )
        )
    for model, kind in ((TimeOff, KIND_TIME_OFF), (ExternalBusy, KIND_EXTERNAL)):
        for sid, s, e in model.objects.filter(
            staff_id__in=ids, end__gt=ws, start__lt=we
        ).values_list("staff_id", "start", "end"):
            rows.append((sid, to_minutes(s), -(-_seconds(e) // 60), *([None] * 6), kind))
    for rank, sid in enumerate(previous_staff_ids(contact_id)):
        rows.append((sid, -rank, None, *([None] * 6), KIND_PREVIOUS))
    return rows


def _seconds(value: dt.datetime) -> int:
    return int(value.timestamp())


def busy_rows(ids, ws, we, now, exclude_id=None, contact_id=None):
    """Raw busy rows of staff `ids` in ``[ws, we)`` (and, with a contact, the staff of their
    last 20 bookings, newest first, tagged "p"); one query on PostgreSQL."""
    if connection.vendor == "postgresql":
        return _busy_rows_postgres(ids, ws, we, now, exclude_id, contact_id)
    return _busy_rows_orm(ids, ws, we, now, exclude_id, contact_id)


def _unit_points(organisation) -> dict[int, Point | None]:
    """Each unit's address, or its nearest ancestor's (one query)."""
    rows = list(
        OrgUnit.objects.filter(organisation=organisation).values_list(
            "id", "path", "location__lat", "location__lng"
        )
    )
    own = {uid: Point(lat, lng) for uid, _p, lat, lng in rows if lat is not None}
    out: dict[int, Point | None] = {}
    for uid, path, _lat, _lng in rows:
        point = None
        for part in reversed([p for p in path.split("/") if p]):
            point = own.get(int(part))
            if point is not None:
                break
        out[uid] = point if point is not None else own.get(uid)
    return out


def previous_staff_ids(contact, organisation=None) -> tuple[int, ...]:
    """The contact's staff members, most recent booking first (one query)."""
    if contact is None:
        return ()
    rows = (
        Booking.objects.filter(contact_id=getattr(contact, "pk", contact))
        .exclude(status__in=[BookingStatus.CANCELLED, BookingStatus.NO_SHOW])
        .order_by("-start")
        .values_list("staff_id", flat=True)[:20]
    )
    return tuple(dict.fromkeys(rows))


_STAFF_SQL = """
SELECT s.id, u.first_name, u.last_name, u.username, s.unit_id, s.home_base_id, h.lat, h.lng,
       s.active_from, s.active_to,
       (SELECT string_agg(w.weekday || ' ' || w.start::text || ' ' || w."end"::text, ','
                          ORDER BY w.weekday, w.start, w."end")
          FROM scheduling_workinghours w WHERE w.staff_id = s.id),
       (SELECT string_agg(e.date::text || ' ' || coalesce(e.start::text, '-') || ' '
                          || coalesce(e."end"::text, '-'), ',' ORDER BY e.date, e.start, e."end")
          FROM scheduling_availabilityexception e
         WHERE e.staff_id = s.id AND e.date BETWEEN %(first)s AND %(last)s)
       {skill_cols}
FROM org_staff s
{skill_joins}
JOIN accounts_user u ON u.id = s.user_id
{unit_join}
LEFT JOIN org_location h ON h.id = s.home_base_id
WHERE s.organisation_id = %(org)s AND s.active_from <= %(last)s
  AND (s.active_to IS NULL OR s.active_to >= %(first)s)
  {where}
"""

_REGIONS_CTE = """creg AS (
    SELECT rr.region_id FROM org_regionrange rr JOIN org_region r ON r.id = rr.region_id
     WHERE r.organisation_id = %(org)s AND r.country = %(pc_country)s
       AND length(%(pc_key)s) >= length(rr.start)
       AND substr(%(pc_key)s, 1, length(rr.start)) BETWEEN rr.start AND rr."end")
"""


def _staff_rows_postgres(
    *,
    organisation,
    first,
    last,
    required_skills,
    allowed_unit_paths,
    allowed_region_ids,
    customer_region_ids,
    regions_required,
    unit,
    staff_ids,
    postcode: tuple[str, str] | None = None,
):
    """One query: the candidates with their hours and exceptions as text (memo keys). With
    ``postcode`` = (country, normalised key) the customer's regions are matched in the same
    statement (``creg``) instead of being passed as ``customer_region_ids``."""
    params: dict[str, object] = {"org": organisation.pk, "first": first, "last": last}
    where: list[str] = []
    ids = None if staff_ids is None else list(staff_ids)
    if ids is not None and len(ids) == 1:
        # One staff member (re-checking one option before booking it): "= id", as in
        # `_busy_rows_postgres`, so that PostgreSQL keeps a generic plan for the prepared
        # statement; with "= ANY(ids)" it planned the statement afresh on every booking
        # (pg_stat_statements: as many plans as calls, 0.5 ms of its CPU each).
        params["id"] = ids[0]
        where.append("s.id = %(id)s")
    elif ids is not None:
        params["ids"] = ids
        where.append("s.id = ANY(%(ids)s)")
    paths_groups = list(allowed_unit_paths)
    if unit is not None:
        paths_groups.append((unit.path,))
    for gi, paths in enumerate(paths_groups):
        ors = []
        for pi, path in enumerate(paths):
            key = f"path_{gi}_{pi}"
            params[key] = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            ors.append(f"ou.path LIKE %({key})s")
        where.append("(" + (" OR ".join(ors) or "FALSE") + ")")
    skill_cols = []
    skill_joins = []
    for i, (code, level) in enumerate(sorted((required_skills or {}).items())):
        params[f"code_{i}"] = code
        params[f"level_{i}"] = level
        # One lateral look-up per required skill: it filters and gives the level.
        skill_joins.append(
            f"JOIN LATERAL (SELECT max(ss.level) AS level FROM org_staffskill ss"
            f" JOIN org_skill sk ON sk.id = ss.skill_id WHERE ss.staff_id = s.id"
            f" AND sk.organisation_id = %(org)s AND sk.code = %(code_{i})s) k{i}"
            f" ON k{i}.level >= %(level_{i})s"
        )
        skill_cols.append(f"k{i}.level")
    if postcode is not None:
        params["pc_country"], params["pc_key"] = postcode
        in_customer = "sr.region_id IN (SELECT region_id FROM creg)"
    else:
        params["customer"] = sorted(customer_region_ids or ())
        in_customer = "sr.region_id = ANY(%(customer)s)"
    if allowed_region_ids is not None:
        params["allowed"] = sorted(allowed_region_ids)
        where.append(
            "EXISTS (SELECT 1 FROM org_staff_regions sr WHERE sr.staff_id = s.id"
            f" AND sr.region_id = ANY(%(allowed)s) AND {in_customer})"
        )
    elif regions_required:
        where.append(
            "(EXISTS (SELECT 1 FROM org_staff_regions sr WHERE sr.staff_id = s.id"
            f" AND {in_customer}) OR NOT EXISTS (SELECT 1 FROM org_staff_regions sr2"
            " WHERE sr2.staff_id = s.id))"
        )
    sql = _STAFF_SQL.format(
        skill_cols="".join(f", {c}" for c in skill_cols),
        skill_joins="\n".join(skill_joins),
        unit_join="JOIN org_orgunit ou ON ou.id = s.unit_id" if paths_groups else "",
        where="".join(f" AND {w}" for w in where),
    )
    if postcode is not None and (allowed_region_ids is not None or regions_required):
        sql = f"WITH {_REGIONS_CTE}{sql}"
    with fast_cursor() as cursor:
        cursor.execute(sql, params)
        return [(*r[:10], r[10] or "", r[11] or "", *r[12:]) for r in cursor.fetchall()]


def _staff_rows_orm(*, first, last, **kwargs):
    """The same rows as :func:`_staff_rows_postgres`, through the ORM (three queries)."""
    qs, skill_cols = candidate_staff_queryset(first=first, last=last, **kwargs)
    rows = list(
        qs.order_by().values_list(
            "id",
            "user__first_name",
            "user__last_name",
            "user__username",
            "unit_id",
            "home_base_id",
            "home_base__lat",
            "home_base__lng",
            "active_from",
            "active_to",
            *skill_cols,
        )
    )
    if not rows:
        return []
    ids = [r[0] for r in rows]
    hours: dict[int, list[str]] = defaultdict(list)
    for sid, weekday, start, end in (
        WorkingHours.objects.filter(staff_id__in=ids)
        .order_by("weekday", "start", "end")
        .values_list("staff_id", "weekday", "start", "end")
    ):
        hours[sid].append(f"{weekday} {start.isoformat()} {end.isoformat()}")
    exc: dict[int, list[str]] = defaultdict(list)
    for sid, day, start, end in (
        AvailabilityException.objects.filter(staff_id__in=ids, date__range=(first, last))
        .order_by("date", "start", "end")
        .values_list("staff_id", "date", "start", "end")
    ):
        s = start.isoformat() if start is not None else "-"
        e = end.isoformat() if end is not None else "-"
        exc[sid].append(f"{day.isoformat()} {s} {e}")
    return [
        (*r[:10], ",".join(hours.get(r[0], ())), ",".join(exc.get(r[0], ())), *r[10:]) for r in rows
    ]


@lru_cache(maxsize=4096)
def _parse_hours(text: str) -> tuple[WeeklyRule, ...]:
    out = []
    for part in text.split(","):
        if part:
            wd, s, e = part.split(" ")
            out.append(WeeklyRule(int(wd), dt.time.fromisoformat(s), dt.time.fromisoformat(e)))
    return tuple(out)


@lru_cache(maxsize=4096)
def _parse_exceptions(text: str) -> tuple[DateException, ...]:
    days: dict[dt.date, list] = {}
    for part in text.split(","):
        if part:
            d, s, e = part.split(" ")
            ranges = days.setdefault(dt.date.fromisoformat(d), [])
            if s != "-" and e != "-":
                ranges.append((dt.time.fromisoformat(s), dt.time.fromisoformat(e)))
    return tuple(DateException(d, tuple(r)) for d, r in sorted(days.items()))


@lru_cache(maxsize=4096)
def _working_time(hours: str, exceptions: str, tz, first, last, closed):
    """Working intervals for one hours/exceptions text: staff who share their hours share
    the expansion (and its conversions to UTC)."""
    return expand_working_time(
        _parse_hours(hours), _parse_exceptions(exceptions), tz, first, last, closed
    )


def load_snapshot(
    *,
    organisation,
    policy,
    window_start: dt.datetime,
    window_end: dt.datetime,
    now: dt.datetime,
    spec=None,
    customer_region_ids: frozenset[int] | None = None,
    customer_postcode: tuple[str, str] | None = None,
    regions_required: bool = False,
    unit=None,
    preferred_staff=None,
    staff_ids=None,
    contact=None,
    exclude_booking_id: int | None = None,
    travel: bool = True,
) -> Snapshot:
    """Snapshots of the candidate staff for ``[window_start, window_end)`` (see module doc).

    `travel=False` (the caller computes no travel legs: a visit without travel, or without a
    known place) leaves the bookings' places out (``Busy.location`` None, no ``points``), so
    the units' addresses are not read.

    The customer's regions are given either as ``customer_region_ids`` or as
    ``customer_postcode`` = (country, normalised key), matched inside the candidates' query."""
    tz = organisation.time_zone
    first, last = local_dates(tz, window_start, window_end)
    if preferred_staff is not None:
        pid = getattr(preferred_staff, "pk", preferred_staff)
        staff_ids = [pid] if staff_ids is None else [s for s in staff_ids if s == pid]
    common = dict(
        organisation=organisation,
        first=first,
        last=last,
        required_skills=spec.required_skills if spec is not None else None,
        allowed_unit_paths=spec.allowed_unit_paths if spec is not None else (),
        allowed_region_ids=spec.allowed_region_ids if spec is not None else None,
        regions_required=regions_required,
        unit=unit,
        staff_ids=staff_ids,
    )
    if connection.vendor == "postgresql":
        staff_rows = _staff_rows_postgres(
            customer_region_ids=customer_region_ids, postcode=customer_postcode, **common
        )
    else:
        if customer_postcode is not None:
            customer_region_ids = regions_for_postcode(organisation, *customer_postcode)
        staff_rows = _staff_rows_orm(customer_region_ids=customer_region_ids, **common)
    if not staff_rows:
        return Snapshot(staff=[], names={}, tz=tz, previous_staff_ids=previous_staff_ids(contact))
    ids = [r[0] for r in staff_rows]
    policy_closed = (
        closed_dates(organisation.country, first, last)
        if getattr(policy, "observe_public_holidays", True)
        else frozenset()
    )

    working: dict[int, tuple[tuple[int, int], ...]] = {}
    w_start = to_minutes(window_start)
    w_end = to_minutes(window_end)
    load_start, load_end = w_start, w_end
    widened: set[int] = set()
    for row in staff_rows:
        sid = row[0]
        intervals = _working_time(row[10], row[11], tz, first, last, policy_closed)
        if row[8] > first or row[9] is not None:
            intervals = _clip_active(intervals, tz, first, last, row[8], row[9])
        working[sid] = intervals
        if id(intervals) in widened:
            continue
        widened.add(id(intervals))
        # Widen the busy read to the working intervals around the window's edges, so the
        # visit before the first gap and after the last one are known (travel).
        for s, e in intervals:
            if e > w_start and s < load_start:
                load_start = s
            if s < w_end and e > load_end:
                load_end = e

    ws_dt = dt.datetime.fromtimestamp(load_start * 60, UTC)
    we_dt = dt.datetime.fromtimestamp(load_end * 60, UTC)
    contact_id = getattr(contact, "pk", contact)
    rows = busy_rows(ids, ws_dt, we_dt, now, exclude_booking_id, contact_id)
    prev: list[int] = []

    points: dict[int, Point] = {}
    unit_points = None
    busy: dict[int, list[Busy]] = defaultdict(list)
    booked: dict[int, int] = defaultdict(int)
    sessions: dict[tuple[int, int], int] = defaultdict(int)
    main_type_id = spec.main.id if spec is not None and spec.capacity > 1 else None
    for sid, bs, be, loc_id, lat, lng, branch_unit, group_type, group_start, kind in rows:
        if kind > 0:  # a booking
            point = None
            if not travel:
                pass
            elif loc_id is not None:
                point = points.get(loc_id)
                if point is None and lat is not None:
                    point = points[loc_id] = Point(lat, lng)
            elif branch_unit is not None:
                if unit_points is None:
                    unit_points = _unit_points(organisation)
                point = unit_points.get(branch_unit)
            busy[sid].append(_busy(bs, be, point))
            lo = bs if bs > w_start else w_start
            hi = be if be < w_end else w_end
            if hi > lo:
                booked[sid] += hi - lo
            if group_type is not None and group_type == main_type_id:
                sessions[(sid, group_start)] += kind
        elif kind == KIND_PREVIOUS:
            prev.append((bs, sid))
        else:
            busy[sid].append(
                _busy(bs, be, None, "time_off" if kind == KIND_TIME_OFF else "external")
            )

    homes: dict[int, Point] = {}
    snapshots = []
    names = {}
    required = sorted(spec.required_skills.items()) if spec is not None else []
    for row in staff_rows:
        sid = row[0]
        names[sid] = f"{row[1]} {row[2]}".strip() or row[3]
        home = None
        if row[5] is not None and row[6] is not None:
            home = homes.get(row[5])
            if home is None:
                home = homes[row[5]] = Point(row[6], row[7])
        skills = {code: row[12 + i] for i, (code, _level) in enumerate(required)}
        b = busy.get(sid)
        if b:
            b.sort(key=_busy_start)
        snapshots.append(
            StaffSnapshot(
                id=sid,
                working=working[sid],
                busy=tuple(b) if b else (),
                home=home,
                skills=skills,
                booked_minutes=booked.get(sid, 0),
                unit_id=row[4],
            )
        )
    all_points = list(points.values()) + list(homes.values())
    if unit_points:
        all_points.extend(p for p in unit_points.values() if p is not None)
    return Snapshot(
        staff=snapshots,
        names=names,
        tz=tz,
        previous_staff_ids=tuple(dict.fromkeys(sid for _s, sid in sorted(prev, reverse=True))),
        sessions=[(sid, s, taken) for (sid, s), taken in sessions.items()],
        points=all_points,
        load_start=load_start,
        load_end=load_end,
    )


_busy_start = attrgetter("start")
_new = object.__new__
_set_start = Busy.start.__set__  # type: ignore[attr-defined]  # slot descriptors
_set_end = Busy.end.__set__  # type: ignore[attr-defined]
_set_location = Busy.location.__set__  # type: ignore[attr-defined]
_set_kind = Busy.kind.__set__  # type: ignore[attr-defined]


def _busy(start: int, end: int, location: Point | None, kind: str = "booking") -> Busy:
    """``Busy(start, end, location, kind)`` without the frozen dataclass's ``__init__``
    (which sets each field through ``object.__setattr__``): half the cost, and a snapshot
    makes thousands of them."""
    b = _new(Busy)
    _set_start(b, start)
    _set_end(b, end)
    _set_location(b, location)
    _set_kind(b, kind)
    return b
