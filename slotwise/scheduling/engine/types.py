"""Value types of the option generator.

Every time is an ``int``: minutes since the Unix epoch, UTC.  Every interval is half-open
``[start, end)``: two intervals that only touch do not overlap.  All types are frozen, slotted
dataclasses so a snapshot can be shared between threads and requests without copying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_EMPTY: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Point:
    """A place on earth in decimal degrees (WGS 84)."""

    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class Busy:
    """Time a staff member cannot take a new visit.

    ``start``/``end`` already include the buffers of the booking it stands for.  ``location`` is
    where the staff member is during it; ``None`` means "not at a place" (a phone call, time off,
    an external calendar entry): such a busy only blocks time and never causes travel.
    Busies with ``end <= start`` are ignored by the engine.
    """

    start: int
    end: int
    location: Point | None = None
    kind: str = "booking"


@dataclass(frozen=True, slots=True)
class StaffSnapshot:
    """One staff member as the engine sees them for one request.

    ``working``: sorted, non-overlapping, already expanded working intervals (UTC minutes), see
    :func:`~slotwise.scheduling.engine.calendar.expand_working_time`.  ``busy``: sorted by start;
    busies may overlap each other and the edges of working time.  ``booked_minutes`` is the load
    inside the request window (used by the fairness term only).
    """

    id: int
    working: tuple[tuple[int, int], ...]
    busy: tuple[Busy, ...] = ()
    home: Point | None = None
    skills: Mapping[str, int] = field(default=_EMPTY)
    region_ids: frozenset[int] = frozenset()
    booked_minutes: int = 0
    unit_id: int | None = None


@dataclass(frozen=True, slots=True)
class Weights:
    """Weights of the score terms; each must be >= 0 (see :mod:`.scoring`)."""

    earliest: float = 1.0
    travel: float = 1.0
    compact: float = 1.0
    continuity: float = 1.0
    skill: float = 0.5
    fairness: float = 0.5

    def __post_init__(self) -> None:
        for name in ("earliest", "travel", "compact", "continuity", "skill", "fairness"):
            value = getattr(self, name)
            if not value >= 0:  # also rejects NaN
                raise ValueError(f"weight {name} must be >= 0, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """What the customer asks for.  Keyword-only.

    ``duration`` excludes the buffers; the staff member is occupied for
    ``[start - buffer_before, start + duration + buffer_after)``.  ``needs_travel=False`` is a
    phone or video appointment: no travel legs, ``location`` may be ``None`` (travel is also
    skipped when ``location`` is ``None``).  ``horizon`` (minutes after ``now``): options must start
    no later than ``now + horizon``.  ``required_skills`` maps a skill code to the minimum level.
    ``region_id``: when set, the staff member must serve that region.  ``preferred_staff_id``: when
    set, only that staff member is considered.  ``previous_staff_ids``: most recent first.
    ``slot_step``: candidate starts lie on multiples of ``slot_step`` minutes since the epoch
    (plus the two ends of each gap's feasible window, see :mod:`.generate`).
    """

    duration: int
    buffer_before: int = 0
    buffer_after: int = 0
    needs_travel: bool = True
    location: Point | None = None
    window_start: int
    window_end: int
    now: int
    min_notice: int = 0
    horizon: int | None = None
    required_skills: Mapping[str, int] = field(default=_EMPTY)
    region_id: int | None = None
    preferred_staff_id: int | None = None
    previous_staff_ids: tuple[int, ...] = ()
    slot_step: int = 15
    limit: int = 10
    weights: Weights = Weights()

    def __post_init__(self) -> None:
        if self.duration <= 0:
            raise ValueError("duration must be > 0")
        if self.buffer_before < 0 or self.buffer_after < 0:
            raise ValueError("buffers must be >= 0")
        if self.slot_step <= 0:
            raise ValueError("slot_step must be > 0")
        if self.min_notice < 0:
            raise ValueError("min_notice must be >= 0")
        if self.horizon is not None and self.horizon < 0:
            raise ValueError("horizon must be >= 0")


@dataclass(frozen=True, slots=True)
class Reason:
    """A machine-readable reason; ``code`` is one of :data:`.reasons.REASON_CODES`."""

    code: str
    params: tuple[tuple[str, object], ...] = ()

    def as_dict(self) -> dict[str, object]:
        return dict(self.params)


@dataclass(frozen=True, slots=True)
class Option:
    """A bookable option; ``end = start + duration`` (buffers excluded).  Higher score wins."""

    staff_id: int
    start: int
    end: int
    travel_before: int
    travel_after: int
    score: float
    reasons: tuple[Reason, ...] = ()
