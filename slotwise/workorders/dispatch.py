"""Reads of the dispatch pages (S2.3): the board of one unit and day, and the technicians who fit
one order, ranked by the option generator.

The board is read in a constant number of queries whatever the number of technicians and orders:
the unit's technicians (one query), their orders of the day (one), the orders still without a
technician (one) and the free time between visits (`scheduling.selectors.agenda_gaps`: the policy,
the technicians' working time and their busy time — three). The caller has checked that the user
may see the unit.

The candidates of one order come from `find_options` over the order's visit window (the next
`DEFAULT_WINDOW_DAYS` days when it has none) with ``spread=1``, so each technician appears once
with their best time (over several days the generator's best options can all belong to a few
people: each fitting technician not ranked yet is then asked for their own best time, listed after
the ranked ones); the technicians who fit the work (skills, units, regions — the same filters
the option generator applies, `availability.candidate_staff_queryset`) but have no free time in
the window are listed after them, without a time. Both lists hold only staff who do visits.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db.models import Exists, F, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from slotwise.org.models import OrgUnit, Staff, StaffRole
from slotwise.org.postcodes import normalise
from slotwise.org.roles import AGENDA_ROLES
from slotwise.scheduling import availability
from slotwise.scheduling.selectors import RankedOption, agenda_gaps, find_options, visit_spec

from . import transitions
from .models import Status, WorkOrder

#: the search window of an order without a visit window (from now)
DEFAULT_WINDOW_DAYS = 7
#: at most this many ranked technicians per order (one option each)
CANDIDATES_LIMIT = 25
#: the unassigned column shows at most this many orders (the oldest windows first)
UNASSIGNED_LIMIT = 100
#: the board's time axis when nobody works that day (local hours)
DEFAULT_AXIS = (8, 18)
GAP_MIN_MINUTES = 15
#: statuses an order can be (re)assigned from (the state machine's "assign" sources)
ASSIGNABLE = frozenset(transitions.TRANSITIONS["assign"].sources)


# -- the board ----------------------------------------------------------------------------------


def local_day_bounds(tz: str, day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    zone = ZoneInfo(tz)
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=zone)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), tzinfo=zone)
    return start, end


@dataclass(slots=True)
class BoardOrder:
    """What the board shows of one order (read as plain values: hundreds per page)."""

    public_id: str
    number: int
    title: str
    status: str
    status_label: str
    customer: str
    place: str  # the city, else the postcode
    duplicate: bool
    url: str  # the office order page
    candidates_url: str  # find a technician / reassign

    @property
    def reassignable(self) -> bool:
        return self.status in ASSIGNABLE


@dataclass(slots=True)
class BoardItem:
    kind: str  # "order" or "gap"
    start: datetime.datetime | None  # local
    end: datetime.datetime | None  # local
    label: str  # "09:00–10:00"
    left: float = 0.0  # position on the time axis, percent
    width: float = 0.0
    order: BoardOrder | None = None


@dataclass(slots=True)
class BoardStaff:
    pk: int
    name: str
    unit_name: str


@dataclass
class BoardRow:
    staff: BoardStaff
    items: list[BoardItem] = field(default_factory=list)
    orders: int = 0
    free_minutes: int = 0

    @property
    def name(self) -> str:
        return self.staff.name


@dataclass
class Board:
    day: datetime.date
    unit: OrgUnit
    tz: str
    rows: list[BoardRow]
    unassigned: list[BoardItem]
    unassigned_more: bool
    axis_start: int  # local hour
    axis_end: int
    ticks: list[tuple[str, float]]  # ("08", left percent)
    orders: int = 0


def _does_visits():
    return Exists(StaffRole.objects.filter(staff=OuterRef("pk"), role__in=list(AGENDA_ROLES)))


def _technicians(organisation, unit: OrgUnit, day: datetime.date) -> list[BoardStaff]:
    """The staff of `unit` and the units below who do visits and are active on `day`."""
    rows = (
        Staff.objects.filter(
            organisation=organisation, unit__path__startswith=unit.path, active_from__lte=day
        )
        .filter(Q(active_to__isnull=True) | Q(active_to__gte=day))
        .filter(_does_visits())
        .order_by("unit__path", "user__first_name", "user__last_name", "pk")
        .values_list("pk", "user__first_name", "user__last_name", "user__username", "unit__name")
    )
    return [
        BoardStaff(pk=pk, name=f"{first} {last}".strip() or username, unit_name=unit_name)
        for pk, first, last, username, unit_name in rows
    ]


_ORDER_VALUES = (
    "public_id",
    "number",
    "title",
    "status",
    "contact__first_name",
    "contact__last_name",
    "location__city",
    "location__postcode",
    "duplicate_of_id",
)


def _url_maker(name: str):
    """`public_id` → the URL of `name`: reversed once, then formatted (hundreds per page)."""
    marker = "00000000-0000-0000-0000-000000000000"
    template = reverse(f"workorders:{name}", args=[marker])
    head, tail = template.split(marker)
    return lambda public_id: f"{head}{public_id}{tail}"


def _hhmm(moment: datetime.datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


class _Orders:
    """Builds `BoardOrder`s from value rows (labels translated once per status)."""

    def __init__(self):
        self.order_url = _url_maker("order")
        self.candidates_url = _url_maker("dispatch_order")
        self.labels = {value: str(label) for value, label in Status.choices}

    def __call__(self, row) -> BoardOrder:
        public_id, number, title, status, first, last, city, postcode, duplicate = row
        public_id = str(public_id)
        return BoardOrder(
            public_id=public_id,
            number=number,
            title=title,
            status=status,
            status_label=self.labels.get(status, status),
            customer=f"{first} {last}".strip(),
            place=city or postcode or "",
            duplicate=duplicate is not None,
            url=self.order_url(public_id),
            candidates_url=self.candidates_url(public_id),
        )


def dispatch_board(
    *, organisation, unit: OrgUnit, day: datetime.date, now: datetime.datetime | None = None
) -> Board:
    """The board of `unit` (and below) for the local date `day`: one row per technician with
    their orders and free time, and the unassigned orders whose window touches the day (or
    that have no window yet). Orders are read as values, not model instances."""
    now = now or timezone.now()
    tz = organisation.time_zone
    zone = ZoneInfo(tz)
    day_start, day_end = local_day_bounds(tz, day)
    members = _technicians(organisation, unit, day)
    ids = [m.pk for m in members]
    make = _Orders()

    items: dict[int, list[BoardItem]] = {sid: [] for sid in ids}
    counts: dict[int, int] = dict.fromkeys(ids, 0)
    total_orders = 0
    gaps: dict = {}
    if ids:
        rows = (
            WorkOrder.objects.filter(
                organisation=organisation,
                technician_id__in=ids,
                scheduled_start__lt=day_end,
                scheduled_end__gt=day_start,
            )
            .exclude(status=Status.CANCELLED)
            .order_by("scheduled_start", "pk")
            .values_list("technician_id", "scheduled_start", "scheduled_end", *_ORDER_VALUES)
        )
        for technician_id, start, end, *values in rows:
            start, end = start.astimezone(zone), end.astimezone(zone)
            items[technician_id].append(
                BoardItem(
                    kind="order",
                    start=start,
                    end=end,
                    label=f"{_hhmm(start)}–{_hhmm(end)}",
                    order=make(values),
                )
            )
            counts[technician_id] += 1
            total_orders += 1
        gaps = agenda_gaps(
            organisation=organisation,
            staff_ids=ids,
            window_start=day_start,
            window_end=day_end,
            min_minutes=GAP_MIN_MINUTES,
            now=now,
        )
    free: dict[int, int] = dict.fromkeys(ids, 0)
    for sid, ranges in gaps.items():
        for gs, ge in ranges:
            start, end = gs.astimezone(zone), ge.astimezone(zone)
            items[sid].append(
                BoardItem(kind="gap", start=start, end=end, label=f"{_hhmm(start)}–{_hhmm(end)}")
            )
            free[sid] += int((ge - gs).total_seconds() // 60)

    # The time axis: whole hours from the first to the last thing of the day.
    first = min((i.start for row in items.values() for i in row), default=None)
    last = max((i.end for row in items.values() for i in row), default=None)
    if first is None:
        axis_start, axis_end = DEFAULT_AXIS
    else:
        axis_start = first.hour if first.date() == day else 0
        if last.date() == day:
            axis_end = last.hour + (1 if (last.minute or last.second) else 0)
        else:
            axis_end = 24
        axis_end = max(axis_end, axis_start + 1)
    axis_from = datetime.datetime.combine(day, datetime.time(), tzinfo=zone) + datetime.timedelta(
        hours=axis_start
    )
    span = (axis_end - axis_start) * 60.0

    board_rows = []
    for m in members:
        row_items = items[m.pk]
        row_items.sort(key=lambda i: (i.start, i.kind != "order"))
        for item in row_items:
            lo = max(0.0, (item.start - axis_from).total_seconds() / 60)
            hi = min(span, (item.end - axis_from).total_seconds() / 60)
            item.left = round(100 * lo / span, 2)
            item.width = round(max(0.0, 100 * (hi - lo) / span), 2)
        board_rows.append(
            BoardRow(staff=m, items=row_items, orders=counts[m.pk], free_minutes=free[m.pk])
        )

    drafts = list(
        WorkOrder.objects.filter(
            organisation=organisation, status=Status.DRAFT, unit__path__startswith=unit.path
        )
        .filter(
            Q(window_start__isnull=True) | Q(window_start__lt=day_end, window_end__gt=day_start)
        )
        .order_by(F("window_start").asc(nulls_last=True), "created_at", "pk")
        .values_list("window_start", "window_end", *_ORDER_VALUES)[: UNASSIGNED_LIMIT + 1]
    )
    unassigned = []
    for ws, we, *values in drafts[:UNASSIGNED_LIMIT]:
        label = ""
        if ws is not None:
            ws, we = ws.astimezone(zone), we.astimezone(zone)
            if ws.date() == day and (we.date() == day or we == day_end):
                label = f"{_hhmm(ws)}–{_hhmm(we)}"
            else:
                label = f"{ws:%d.%m} {_hhmm(ws)} – {we:%d.%m} {_hhmm(we)}"
        unassigned.append(
            BoardItem(kind="order", start=ws, end=we, label=label, order=make(values))
        )
    ticks = [
        (f"{h:02d}", round(100 * (h - axis_start) / (axis_end - axis_start), 2))
        for h in range(axis_start, axis_end + 1)
    ]
    return Board(
        day=day,
        unit=unit,
        tz=tz,
        rows=board_rows,
        unassigned=unassigned,
        unassigned_more=len(drafts) > UNASSIGNED_LIMIT,
        axis_start=axis_start,
        axis_end=axis_end,
        ticks=ticks,
        orders=total_orders,
    )


# -- the candidates of one order ----------------------------------------------------------------


@dataclass
class Candidate:
    staff: Staff
    name: str
    option: RankedOption | None = None
    current: bool = False  # the order's technician now


@dataclass
class Candidates:
    order: WorkOrder
    window_start: datetime.datetime | None = None
    window_end: datetime.datetime | None = None
    #: the order has no window (or it has passed): the next DEFAULT_WINDOW_DAYS days are searched
    default_window: bool = False
    window_passed: bool = False
    free: list[Candidate] = field(default_factory=list)
    busy: list[Candidate] = field(default_factory=list)
    #: why nobody can be proposed (no work type, no address, a window past the horizon …)
    errors: list[str] = field(default_factory=list)


def _search_window(order: WorkOrder, now: datetime.datetime, tz: str):
    """(start, end, default, passed): the order's window from now on, or the next days."""
    if order.window_start is not None and order.window_end is not None:
        if order.window_end > now:
            return max(order.window_start, now), order.window_end, False, False
        passed = True
    else:
        passed = False
    zone = ZoneInfo(tz)
    last = now.astimezone(zone).date() + datetime.timedelta(days=DEFAULT_WINDOW_DAYS)
    end = datetime.datetime.combine(last, datetime.time(), tzinfo=zone)
    return now, end, True, passed


def _customer_regions(organisation, spec, location) -> tuple[frozenset[int] | None, bool]:
    """The customer's regions and whether staff must serve them — the option generator's rule
    (`scheduling.selectors`): only for visits with travel or types limited to regions."""
    if spec.allowed_region_ids is None and not spec.needs_travel:
        return None, False
    country = getattr(location, "country", "") or organisation.country
    try:
        key = normalise(country, getattr(location, "postcode", "") or "")
    except ValidationError:
        key = ""
    ids = availability.regions_for_postcode(organisation, country, key) if key else frozenset()
    return ids, spec.allowed_region_ids is None


def fitting_technicians(
    *, order: WorkOrder, spec, unit: OrgUnit | None, window_start, window_end
) -> list[Staff]:
    """Staff who do visits and fit the order's work (skills, units, regions), active in the
    window, under `unit` (None: the whole organisation) — whether free or not."""
    organisation = order.organisation
    first, last = availability.local_dates(organisation.time_zone, window_start, window_end)
    region_ids, required = _customer_regions(organisation, spec, order.location)
    qs, _skills = availability.candidate_staff_queryset(
        organisation=organisation,
        first=first,
        last=last,
        required_skills=spec.required_skills,
        allowed_unit_paths=spec.allowed_unit_paths,
        allowed_region_ids=spec.allowed_region_ids,
        customer_region_ids=region_ids,
        regions_required=required,
        unit=unit,
    )
    return list(
        qs.filter(_does_visits())
        .select_related("user", "unit")
        .order_by("user__first_name", "user__last_name", "pk")
    )


def candidate_name(staff: Staff) -> str:
    return f"{staff.user.first_name} {staff.user.last_name}".strip() or staff.user.get_username()


def _candidate(staff: Staff, option: RankedOption | None, order: WorkOrder) -> Candidate:
    return Candidate(
        staff=staff,
        name=candidate_name(staff),
        option=option,
        current=staff.pk == order.technician_id,
    )


def order_candidates(
    *, order: WorkOrder, unit: OrgUnit | None, now: datetime.datetime | None = None
) -> Candidates:
    """The technicians for `order` under `unit` (the manager's scope; None: every unit): those
    with a free time in the window, ranked by the option generator with their best time and its
    reasons, then those who fit but have none (see the module doc)."""
    now = now or timezone.now()
    organisation = order.organisation
    ws, we, default, passed = _search_window(order, now, organisation.time_zone)
    out = Candidates(
        order=order, window_start=ws, window_end=we, default_window=default, window_passed=passed
    )
    if order.type is None:
        out.errors.append(_("Choose the work first: it sets the visit's length and skills."))
        return out
    try:
        spec = visit_spec([order.type])
        fitting = fitting_technicians(
            order=order, spec=spec, unit=unit, window_start=ws, window_end=we
        )
        by_id = {s.pk: s for s in fitting}
        common = {
            "organisation": organisation,
            "spec": spec,
            "location": order.location,
            "window_start": ws,
            "window_end": we,
            "contact": order.contact,
            "unit": unit,
            "now": now,
            "exclude_booking": order.booking_id,
        }
        options = (
            find_options(**common, limit=min(CANDIDATES_LIMIT, len(fitting)), spread=1)
            if fitting
            else []
        )
        seen: set[int] = set()
        for option in options:
            staff = by_id.get(option.staff_id)
            if staff is None or option.staff_id in seen:
                continue  # not a technician, or their second-best day
            seen.add(option.staff_id)
            out.free.append(_candidate(staff, option, order))
        # Over several days the best options can all belong to a few people: ask for the best
        # time of each fitting technician not ranked yet (their own snapshot, one at a time).
        extra = []
        for staff in fitting:
            if staff.pk in seen or len(out.free) + len(extra) >= CANDIDATES_LIMIT:
                continue
            best = find_options(**common, preferred_staff=staff, limit=1)
            if best:
                seen.add(staff.pk)
                extra.append((best[0].score, _candidate(staff, best[0], order)))
        extra.sort(key=lambda pair: (-pair[0], pair[1].option.start, pair[1].staff.pk))
        out.free.extend(c for _score, c in extra)
    except ValidationError as exc:
        out.errors.extend(exc.messages)
        out.free = []
        return out
    out.busy = [_candidate(s, None, order) for s in fitting if s.pk not in seen]
    return out
