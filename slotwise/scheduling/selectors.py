"""Reads of the option generator: what a visit is, where, and the ranked options for it.

The contract the booker, the public pages, the API and the booking services code against::

    VisitSpec, visit_spec, resolve_location, find_options, free_staff_at, agenda_gaps,
    check_bookable, RankedOption

Decisions documented here:

* ``resolve_location`` returns an **unsaved** :class:`~slotwise.org.models.Location` for a
  postcode/address (searching must write nothing); the booking service saves it when a booking
  is made (``location.pk is None``). A saved location passed in is returned as it is.
* ``window_start`` before the start of today (organisation's time zone) is an error; a start
  earlier today is moved to ``now``. ``window_end`` after the end of the last bookable day
  (today + the horizon) is an error.
* Regions: see :mod:`slotwise.scheduling.availability`. A type with allowed regions at a
  postcode outside all of them is a ``postcode`` error ("not offered in this area").
* Reasons: the engine's reason codes (:mod:`.engine.reasons`) plus ``group_session`` (an
  existing group session with seats left), each translated by one message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from slotwise.org.geocoding import get_geocoder
from slotwise.org.models import Location
from slotwise.org.postcodes import display, normalise

from . import availability
from .engine import reasons as R
from .engine.calendar import from_minutes, to_minutes
from .engine.gaps import find_gaps, free_at
from .engine.generate import generate_options
from .engine.scoring import continuity_term, fairness_term, skill_term
from .engine.travel import MemoTravel
from .engine.types import Option, Point, Request, Weights
from .models import WEIGHT_NAMES, AppointmentType, SchedulingPolicy
from .travel import prefetch_customer_legs, travel_source_for

GROUP_SESSION = "group_session"


# -- the visit -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitSpec:
    """One visit: a main type and the combinable extras done in the same visit."""

    types: tuple[AppointmentType, ...]
    main: AppointmentType
    duration: int
    buffer_before: int
    buffer_after: int
    needs_travel: bool
    mode: str
    capacity: int
    price: Decimal
    currency: str
    min_notice_minutes: int
    horizon_days: int
    required_skills: dict[str, int] = field(default_factory=dict)
    #: one tuple of unit paths per type that restricts units; a staff member's unit must lie
    #: under one path of every tuple
    allowed_unit_paths: tuple[tuple[str, ...], ...] = ()
    #: None = no restriction; else the regions every restricting type allows (intersection)
    allowed_region_ids: frozenset[int] | None = None
    slot_step_minutes: int | None = None

    @property
    def organisation_id(self) -> int:
        return self.main.organisation_id

    @property
    def is_group(self) -> bool:
        return self.capacity > 1


def visit_spec(types: Sequence[AppointmentType]) -> VisitSpec:
    """Combine one or several types of one organisation into one visit (see the contract)."""
    types = tuple(types or ())
    if not types:
        raise ValidationError({"types": _("Choose an appointment type.")})
    main = types[0]
    errors = []
    if any(t.organisation_id != main.organisation_id for t in types):
        errors.append(_("The services belong to different organisations."))
    if any(not t.active for t in types):
        errors.append(_("This appointment type can no longer be booked."))
    if any(not t.combinable for t in types[1:]):
        errors.append(_("These services cannot be combined in one visit."))
    if len({t.pk for t in types}) != len(types):
        errors.append(_("A service was chosen twice."))
    if errors:
        raise ValidationError({"types": errors})

    required, unit_paths, region_sets = _type_rules(types)
    allowed_regions = None
    for rset in region_sets.values():
        allowed_regions = frozenset(rset) if allowed_regions is None else allowed_regions & rset

    return VisitSpec(
        types=types,
        main=main,
        duration=sum(t.duration_minutes for t in types),
        buffer_before=max(t.buffer_before for t in types),
        buffer_after=max(t.buffer_after for t in types),
        needs_travel=any(t.needs_travel for t in types),
        mode=main.mode,
        capacity=min(t.capacity for t in types),
        price=sum((t.price for t in types), Decimal("0")),
        currency=main.currency,
        min_notice_minutes=max(t.min_notice_minutes for t in types),
        horizon_days=min(t.horizon_days for t in types),
        required_skills=required,
        allowed_unit_paths=tuple(tuple(sorted(p)) for _t, p in sorted(unit_paths.items())),
        allowed_region_ids=allowed_regions,
        slot_step_minutes=main.slot_step_minutes,
    )


def type_rules_sql(condition: str) -> str:
    """The rows of `_type_rules` for the types whose id satisfies `condition` (SQL with the
    placeholder `{id}` for the column): (kind, type id, text, number)."""
    from .models import AppointmentTypeSkill

    units = AppointmentType.allowed_units.through._meta
    regions = AppointmentType.allowed_regions.through._meta
    return f"""
        SELECT 's' AS kind, ts.type_id AS type_id, sk.code AS text, ts.min_level AS number
          FROM {AppointmentTypeSkill._meta.db_table} ts
          JOIN org_skill sk ON sk.id = ts.skill_id
         WHERE {condition.format(id="ts.type_id")}
        UNION ALL
        SELECT 'u', au.appointmenttype_id, ou.path, NULL
          FROM {units.db_table} au JOIN org_orgunit ou ON ou.id = au.orgunit_id
         WHERE {condition.format(id="au.appointmenttype_id")}
        UNION ALL
        SELECT 'r', ar.appointmenttype_id, NULL, ar.region_id
          FROM {regions.db_table} ar
         WHERE {condition.format(id="ar.appointmenttype_id")}
    """


def _type_rules(types: Sequence[AppointmentType]):
    """Required skills (max level), allowed unit paths and allowed regions of the types, in
    one query — or none, when each type came with its rows (`_rules_rows`, read together with
    the type by `scheduling.api.resolve_type`)."""
    rows: list = []
    if all(hasattr(t, "_rules_rows") for t in types):
        for t in types:
            rows.extend(t._rules_rows)
    else:
        ids = [t.pk for t in types]
        marks = ", ".join(["%s"] * len(ids))
        with connection.cursor() as cursor:
            cursor.execute(type_rules_sql(f"{{id}} IN ({marks})"), [*ids, *ids, *ids])
            rows = cursor.fetchall()
    required: dict[str, int] = {}
    unit_paths: dict[int, list[str]] = {}
    region_sets: dict[int, set[int]] = {}
    for kind, tid, text, number in rows:
        if kind == "s":
            required[text] = max(number, required.get(text, 0))
        elif kind == "u":
            unit_paths.setdefault(tid, []).append(text)
        else:
            region_sets.setdefault(tid, set()).add(number)
    return required, unit_paths, region_sets


# -- policy and weights ----------------------------------------------------------------------


def _default_policy(organisation) -> SchedulingPolicy:
    """The defaults of an organisation without a saved policy (travel source: the
    ``TRAVEL_SOURCE`` setting)."""
    return SchedulingPolicy(
        organisation=organisation,
        travel_source=getattr(settings, "TRAVEL_SOURCE", "") or "great_circle",
    )


def scheduling_policy_for(organisation) -> SchedulingPolicy:
    """The organisation's policy, or an unsaved one with the defaults (nothing is written)."""
    cached = getattr(organisation, "_scheduling_policy_cache", None)
    if cached is not None:
        return cached
    if connection.vendor != "postgresql":
        policy = SchedulingPolicy.objects.filter(organisation=organisation).first()
        return policy or _default_policy(organisation)
    # One plain query (the ORM's compile step costs more than the query on this hot path).
    meta = SchedulingPolicy._meta
    fields = list(meta.concrete_fields)
    columns = ", ".join(f'"{f.column}"' for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT {columns} FROM "{meta.db_table}" WHERE "organisation_id" = %s',
            [organisation.pk],
        )
        row = cursor.fetchone()
    if row is None:
        return _default_policy(organisation)
    policy = SchedulingPolicy.from_db(connection.alias, [f.attname for f in fields], row)
    policy.organisation = organisation
    return policy


def weights_for(policy: SchedulingPolicy, spec: VisitSpec) -> Weights:
    """The policy's weights, each overridden by the main type's when that is set."""
    values = {}
    for name in WEIGHT_NAMES:
        own = getattr(spec.main, f"weight_{name}", None)
        value = own if own is not None else getattr(policy, f"weight_{name}")
        values[name] = float(value)
    return Weights(**values)


def slot_step_for(policy: SchedulingPolicy, spec: VisitSpec) -> int:
    return int(spec.slot_step_minutes or policy.slot_step_minutes or 15)


# -- location --------------------------------------------------------------------------------


def resolve_location(
    *,
    organisation,
    postcode: str = "",
    address: str = "",
    country: str = "",
    location: Location | None = None,
) -> Location | None:
    """The place of the visit: `location` as given, else an unsaved, geocoded Location for the
    postcode (and address), else None. A bad or unknown postcode is a `postcode` error."""
    if location is not None:
        if location.organisation_id not in (None, organisation.pk):
            raise ValidationError({"postcode": _("This address belongs to another organisation.")})
        return location
    postcode = (postcode or "").strip()
    if not postcode:
        if address.strip():
            raise ValidationError({"postcode": _("Enter the postcode of the address.")})
        return None
    country = (country or organisation.country).upper()
    try:
        normalise(country, postcode)
    except ValidationError as exc:
        raise ValidationError({"postcode": exc.messages}) from None
    result = get_geocoder().geocode(country=country, postcode=postcode, address=address)
    if result is None:
        raise ValidationError(
            {"postcode": _("We could not find postcode “%(postcode)s”.") % {"postcode": postcode}}
        )
    return Location(
        organisation=organisation,
        address=address.strip(),
        postcode=display(country, postcode),
        country=country,
        lat=result.lat,
        lng=result.lng,
        geocoded_by=result.source,
    )


def _point(location) -> Point | None:
    if location is None or location.lat is None or location.lng is None:
        return None
    return Point(float(location.lat), float(location.lng))


# -- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankedOption:
    staff_id: int
    staff_name: str
    start: dt.datetime
    end: dt.datetime
    travel_before: int
    travel_after: int
    score: float
    reasons: tuple[str, ...]
    reason_codes: tuple[dict, ...]
    seats_left: int | None = None


def _fmt_local(minutes: int, tz: str) -> str:
    return from_minutes(minutes, tz).strftime("%H:%M")


def reason_text(code: str, params: dict, tz: str) -> str:
    """One translated message per reason code."""
    if code == R.EARLIEST:
        return _("earliest available")
    if code == R.TRAVEL_FROM_PREVIOUS:
        return _("%(minutes)s min from the previous visit") % {"minutes": params["minutes"]}
    if code == R.FROM_HOME:
        return _("from home base: %(minutes)s min") % {"minutes": params["minutes"]}
    if code == R.FILLS_GAP:
        return _("fills %(start)s–%(end)s") % {
            "start": _fmt_local(params["start"], tz),
            "end": _fmt_local(params["end"], tz),
        }
    if code == R.USUAL_STAFF:
        if params.get("rank", 0) == 0:
            return _("your usual advisor")
        return _("advised you before")
    if code == R.SUBSTITUTE:
        return _("substitute for your usual advisor")
    if code == R.SKILL_LEVEL:
        return _("skill level %(level)s") % {"level": params["level"]}
    if code == R.LIGHT_LOAD:
        return _("light agenda")
    if code == GROUP_SESSION:
        seats = params["seats_left"]
        return ngettext(
            "group session, %(seats)s seat left", "group session, %(seats)s seats left", seats
        ) % {"seats": seats}
    return code


def _machine(code: str, params: dict) -> dict:
    out: dict = {"code": code}
    for key, value in params.items():
        if code == R.FILLS_GAP:
            value = from_minutes(value).isoformat()
        out[key] = value
    return out


def _ranked(option: Option, snap: availability.Snapshot, seats_left=None) -> RankedOption:
    reasons = []
    codes = []
    for reason in option.reasons:
        params = reason.as_dict()
        reasons.append(reason_text(reason.code, params, snap.tz))
        codes.append(_machine(reason.code, params))
    return RankedOption(
        staff_id=option.staff_id,
        staff_name=snap.names.get(option.staff_id, ""),
        start=from_minutes(option.start),
        end=from_minutes(option.end),
        travel_before=option.travel_before,
        travel_after=option.travel_after,
        score=option.score,
        reasons=tuple(reasons),
        reason_codes=tuple(codes),
        seats_left=seats_left,
    )


def _local_day_start(now: dt.datetime, tz: str) -> dt.datetime:
    local = now.astimezone(ZoneInfo(tz))
    return dt.datetime.combine(local.date(), dt.time(), tzinfo=ZoneInfo(tz))


def _horizon_end(now: dt.datetime, tz: str, days: int) -> dt.datetime:
    local = now.astimezone(ZoneInfo(tz))
    last = local.date() + dt.timedelta(days=days + 1)
    return dt.datetime.combine(last, dt.time(), tzinfo=ZoneInfo(tz))


def _validate_window(spec, window_start, window_end, now, tz):
    errors = {}
    for name, value in (("window_start", window_start), ("window_end", window_end)):
        if not isinstance(value, dt.datetime):
            errors[name] = _("Enter a valid date and time.")
        elif timezone.is_naive(value):
            errors[name] = _("The time must include a time zone.")
    if errors:
        raise ValidationError(errors)
    if window_start < _local_day_start(now, tz):
        raise ValidationError({"window_start": _("The period cannot start in the past.")})
    if window_end <= window_start:
        raise ValidationError({"window_end": _("The end must be after the start.")})
    if window_end > _horizon_end(now, tz, spec.horizon_days):
        raise ValidationError(
            {
                "window_end": ValidationError(
                    _("Bookings open %(days)s days in advance; choose an earlier end."),
                    code="horizon",
                    params={"days": spec.horizon_days},
                )
            }
        )


def _regions(organisation, spec: VisitSpec, location) -> dict:
    """The loader's region arguments: the customer's postcode (matched to regions inside the
    candidates' query) and whether staff must serve it (see :mod:`.availability`)."""
    if spec.allowed_region_ids is None and not spec.needs_travel:
        return {"customer_postcode": None, "regions_required": False}
    country = getattr(location, "country", "") or organisation.country
    try:
        key = normalise(country, getattr(location, "postcode", "") or "")
    except ValidationError:
        key = ""
    return {
        "customer_postcode": (country, key),
        "regions_required": spec.allowed_region_ids is None,
    }


def _check_region(organisation, spec: VisitSpec, location, snap) -> None:
    """No candidates for a type with allowed regions: a `postcode` error when the postcode lies
    outside all of them (looked up only then, so a search with candidates costs no query)."""
    if spec.allowed_region_ids is None or snap.staff:
        return
    country = getattr(location, "country", "") or organisation.country
    ids = availability.regions_for_postcode(
        organisation, country, getattr(location, "postcode", "") or ""
    )
    if not (ids & spec.allowed_region_ids):
        raise ValidationError({"postcode": _("This service is not offered in this area.")})


def _grid_ceil(moment: dt.datetime, step: int) -> int:
    """`moment` in epoch minutes, rounded UP to the slot grid: the earliest start offered is
    never in the past (seconds count) and never at an odd minute such as 08:47."""
    minutes = -(-int(moment.timestamp()) // 60)
    return -(-minutes // step) * step


def _request(spec, policy, snap, location, ws, we, now, preferred_id=None, limit=10, grid=False):
    """The engine's request. `grid`: round the window start and `now` up to the slot grid (for
    ranked options; an explicit start being checked is taken as it is)."""
    step = slot_step_for(policy, spec)
    round_up = (lambda m: _grid_ceil(m, step)) if grid else (lambda m: -(-int(m.timestamp()) // 60))
    return Request(
        duration=spec.duration,
        buffer_before=spec.buffer_before,
        buffer_after=spec.buffer_after,
        needs_travel=spec.needs_travel,
        location=_point(location) if spec.needs_travel else None,
        window_start=round_up(ws),
        window_end=to_minutes(we),
        now=round_up(now),
        min_notice=spec.min_notice_minutes,
        horizon=spec.horizon_days * 1440,
        required_skills=spec.required_skills,
        preferred_staff_id=preferred_id,
        previous_staff_ids=snap.previous_staff_ids,
        slot_step=step,
        limit=limit,
        weights=weights_for(policy, spec),
    )


def _travel_on(spec: VisitSpec, location) -> bool:
    """Whether the engine computes travel legs for this visit (the same test as `_request` and
    the engine's plan): only then does the snapshot need the bookings' places."""
    return spec.needs_travel and _point(location) is not None


def _travel(organisation, policy, request: Request, snap: availability.Snapshot) -> MemoTravel:
    memo = MemoTravel(travel_source_for(organisation, policy))
    if request.needs_travel and request.location is not None:
        prefetch_customer_legs(memo, request.location, snap.points)
    return memo


def _session_options(spec, policy, request, snap, limit) -> list[tuple[float, RankedOption]]:
    """Existing group sessions of the type with seats left, scored like engine options (the
    session's time is fixed: full compactness and no added travel)."""
    if not spec.is_group or not snap.sessions:
        return []
    w = request.weights
    e0 = max(request.window_start, request.now + request.min_notice)
    l0 = min(request.window_end - request.duration, request.now + (request.horizon or 0))
    span = max(1, l0 - e0)
    by_id = {st.id: st for st in snap.staff}
    max_booked = max((st.booked_minutes for st in snap.staff), default=0)
    out = []
    for sid, start, taken in snap.sessions:
        left = spec.capacity - taken
        st = by_id.get(sid)
        if left <= 0 or st is None or not e0 <= start <= l0:
            continue
        score = (
            w.earliest * (1.0 - (start - e0) / span)
            + w.travel
            + w.compact
            + w.continuity * continuity_term(sid, request.previous_staff_ids)
            + w.skill * skill_term(st.skills, request.required_skills)
            + w.fairness * fairness_term(st.booked_minutes, max_booked)
        )
        option = Option(sid, start, start + spec.duration, 0, 0, score, ())
        ranked = _ranked(option, snap, seats_left=left)
        params = {"seats_left": left}
        ranked = RankedOption(
            **{
                **ranked.__dict__,
                "reasons": (reason_text(GROUP_SESSION, params, snap.tz),),
                "reason_codes": (_machine(GROUP_SESSION, params),),
            }
        )
        out.append((score, ranked))
    out.sort(key=lambda p: (-p[0], p[1].start, p[1].staff_id))
    return out[:limit]


def find_options(
    *,
    organisation,
    spec: VisitSpec,
    location=None,
    window_start: dt.datetime,
    window_end: dt.datetime,
    contact=None,
    preferred_staff=None,
    unit=None,
    limit: int = 10,
    now: dt.datetime | None = None,
    exclude_booking=None,
    spread: int | None = None,
) -> list[RankedOption]:
    """The best `limit` options for the visit in the window, best first (see the contract).

    `spread` (for screens a person chooses from): at most that many options per staff member
    and local day, as long as other options are left — the engine is asked for
    ``SPREAD_FACTOR × limit`` options and the best of each (staff, day) are kept, so one
    colleague's quarter-hours don't hide everyone else. Without it the list is the exact top
    `limit` under the weights."""
    now = now or timezone.now()
    if spec.organisation_id != organisation.pk:
        raise ValidationError(
            {"types": _("This appointment type belongs to another organisation.")}
        )
    tz = organisation.time_zone
    _validate_window(spec, window_start, window_end, now, tz)
    if spec.needs_travel and _point(location) is None:
        raise ValidationError({"postcode": _("Enter the postcode of the visit address.")})
    if limit <= 0:
        return []
    window_start = max(window_start, now)
    policy = scheduling_policy_for(organisation)
    with availability.gc_paused():
        snap = availability.load_snapshot(
            organisation=organisation,
            policy=policy,
            window_start=window_start,
            window_end=window_end,
            now=now,
            spec=spec,
            unit=unit,
            preferred_staff=preferred_staff,
            contact=contact,
            exclude_booking_id=getattr(exclude_booking, "pk", exclude_booking),
            travel=_travel_on(spec, location),
            **_regions(organisation, spec, location),
        )
        _check_region(organisation, spec, location, snap)
        if not snap.staff:
            return []
        wanted = min(limit * SPREAD_FACTOR, SPREAD_MAX) if spread else limit
        request = _request(
            spec, policy, snap, location, window_start, window_end, now, limit=wanted, grid=True
        )
        memo = _travel(organisation, policy, request, snap)
        options = [(o.score, _ranked(o, snap)) for o in generate_options(request, snap.staff, memo)]
        if spec.is_group:
            options = [
                (score, RankedOption(**{**r.__dict__, "seats_left": spec.capacity}))
                for score, r in options
            ]
            options.extend(_session_options(spec, policy, request, snap, wanted))
            options.sort(key=lambda p: (-p[0], p[1].start, p[1].staff_id))
        ranked = [r for _s, r in options]
        if spread:
            return _spread(ranked, limit=limit, per_group=spread, tz=tz)
        return ranked[:limit]


SPREAD_FACTOR = 4
SPREAD_MAX = 60


def _spread(
    ranked: list[RankedOption], *, limit: int, per_group: int, tz: str
) -> list[RankedOption]:
    """The best `limit` of `ranked` (best first) with at most `per_group` per staff member and
    local day; when fewer than `limit` satisfy that, the best of the rest fill up. Best first."""
    zone = ZoneInfo(tz)
    seen: dict[tuple[int, dt.date], int] = {}
    picked: list[RankedOption] = []
    rest: list[RankedOption] = []
    for option in ranked:
        key = (option.staff_id, option.start.astimezone(zone).date())
        if seen.get(key, 0) < per_group and len(picked) < limit:
            seen[key] = seen.get(key, 0) + 1
            picked.append(option)
        else:
            rest.append(option)
    picked.extend(rest[: limit - len(picked)])
    order = {id(option): i for i, option in enumerate(ranked)}
    return sorted(picked, key=lambda option: order[id(option)])


AROUND = dt.timedelta(hours=12)


def _snapshot_around(organisation, policy, spec, location, start, now, **filters):
    """The agenda snapshot for one explicit start: half a day either side of the visit, so the
    visits before and after it (travel, buffers) are known. Returns (window start, window end,
    snapshot)."""
    ws = start - AROUND
    we = start + dt.timedelta(minutes=spec.duration + spec.buffer_after) + AROUND
    snap = availability.load_snapshot(
        organisation=organisation,
        policy=policy,
        window_start=ws,
        window_end=we,
        now=now,
        spec=spec,
        travel=_travel_on(spec, location),
        **filters,
        **_regions(organisation, spec, location),
    )
    return ws, we, snap


def free_staff_at(
    *,
    organisation,
    spec: VisitSpec,
    location,
    start: dt.datetime,
    unit=None,
    contact=None,
    now: dt.datetime | None = None,
) -> list[RankedOption]:
    """Everyone who can take the visit starting exactly at `start`, best first (S2.3)."""
    now = now or timezone.now()
    if not isinstance(start, dt.datetime) or timezone.is_naive(start):
        raise ValidationError({"start": _("Enter a valid date and time.")})
    if start < now:
        raise ValidationError({"start": _("This time is in the past.")})
    if spec.needs_travel and _point(location) is None:
        raise ValidationError({"postcode": _("Enter the postcode of the visit address.")})
    policy = scheduling_policy_for(organisation)
    ws, we, snap = _snapshot_around(
        organisation, policy, spec, location, start, now, unit=unit, contact=contact
    )
    _check_region(organisation, spec, location, snap)
    if not snap.staff:
        return []
    request = _request(spec, policy, snap, location, max(ws, now), we, now)
    memo = _travel(organisation, policy, request, snap)
    options = free_at(request, snap.staff, to_minutes(start), memo)
    seats = spec.capacity if spec.is_group else None
    return [_ranked(o, snap, seats_left=seats) for o in options]


def agenda_gaps(
    *,
    organisation,
    staff_ids,
    window_start: dt.datetime,
    window_end: dt.datetime,
    min_minutes: int = 15,
    now: dt.datetime | None = None,
) -> dict[int, list[tuple[dt.datetime, dt.datetime]]]:
    """Free working time per staff member in the window, at least `min_minutes` long (S4.2)."""
    if window_end <= window_start:
        raise ValidationError({"window_end": _("The end must be after the start.")})
    now = now or timezone.now()
    policy = scheduling_policy_for(organisation)
    snap = availability.load_snapshot(
        organisation=organisation,
        policy=policy,
        window_start=window_start,
        window_end=window_end,
        now=now,
        staff_ids=list(staff_ids),
    )
    ws, we = to_minutes(window_start), to_minutes(window_end)
    out: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {sid: [] for sid in staff_ids}
    for st in snap.staff:
        out[st.id] = [
            (from_minutes(s), from_minutes(e)) for s, e in find_gaps(st, ws, we, min_minutes)
        ]
    return out


def check_bookable(
    *,
    spec: VisitSpec,
    staff,
    start: dt.datetime,
    location=None,
    now: dt.datetime | None = None,
    exclude_booking=None,
) -> None:
    """Re-run every hard rule for one option; ValidationError({"start": ...}) if it fails."""
    now = now or timezone.now()
    organisation = spec.main.organisation
    if not isinstance(start, dt.datetime) or timezone.is_naive(start):
        raise ValidationError({"start": _("Enter a valid date and time.")})
    if staff.organisation_id != spec.organisation_id:
        raise ValidationError(
            {"staff": _("This staff member does not belong to the organisation.")}
        )
    if start < now + dt.timedelta(minutes=spec.min_notice_minutes):
        raise ValidationError(
            {
                "start": ValidationError(
                    _("This time is too soon; please book at least %(minutes)s minutes ahead."),
                    code="min_notice",
                    params={"minutes": spec.min_notice_minutes},
                )
            }
        )
    if start > now + dt.timedelta(days=spec.horizon_days):
        raise ValidationError(
            {
                "start": ValidationError(
                    _("This time is too far ahead; bookings open %(days)s days in advance."),
                    code="horizon",
                    params={"days": spec.horizon_days},
                )
            }
        )
    if spec.needs_travel and _point(location) is None:
        raise ValidationError({"postcode": _("Enter the postcode of the visit address.")})
    policy = scheduling_policy_for(organisation)
    ws, we, snap = _snapshot_around(
        organisation,
        policy,
        spec,
        location,
        start,
        now,
        staff_ids=[staff.pk],
        exclude_booking_id=getattr(exclude_booking, "pk", exclude_booking),
    )
    if not snap.staff:
        raise ValidationError(
            {"start": _("This staff member cannot do this service here (skills, area or unit).")},
            code="not_eligible",
        )
    s_min = to_minutes(start)
    if spec.is_group:
        # Joining an existing session of the same type: that session is not in the way.
        session = [t for sid, s, t in snap.sessions if s == s_min]
        if session:
            if session[0] >= spec.capacity:
                raise ValidationError({"start": _("This session is full.")}, code="full")
            return
    request = _request(spec, policy, snap, location, max(ws, now), we, now)
    memo = _travel(organisation, policy, request, snap)
    if not free_at(request, snap.staff, s_min, memo):
        # Free once the other bookings are left out: the time was lost to another booking
        # (an overlap with its buffers, or the travel to or from it), i.e. a lost race
        # (code "taken"; the booking services answer Conflict). Otherwise a rule of the staff
        # member's own time (working hours, time off, holidays, external busy) says no.
        from dataclasses import replace

        alone = [
            replace(s, busy=tuple(b for b in s.busy if b.kind != "booking")) for s in snap.staff
        ]
        taken = bool(free_at(request, alone, s_min, memo))
        raise ValidationError(
            {
                "start": ValidationError(
                    _("This time is not available for this staff member."),
                    code="taken" if taken else "unavailable",
                )
            }
        )
