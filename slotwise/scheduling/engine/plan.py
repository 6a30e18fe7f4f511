"""Per-request constants, eligibility, the travel memo and option building (shared internals)."""

from __future__ import annotations

from collections.abc import Sequence

from . import reasons as R
from .scoring import continuity_term, fairness_term, skill_term
from .travel import MemoTravel, TravelSource
from .types import Option, Point, Reason, Request, StaffSnapshot

# Fixed order used to break ties between reasons of equal strength.
_REASON_ORDER = {code: i for i, code in enumerate(R.REASON_CODES)}

P_NONE, P_BUSY, P_HOME = 0, 1, 2


class Plan:
    """Everything about a request that does not depend on the staff member or the start."""

    __slots__ = (
        "request",
        "duration",
        "bb",
        "ba",
        "tail",
        "e0",
        "l0",
        "span",
        "step",
        "cust",
        "travel_on",
        "memo",
        "to_cust",
        "from_cust",
        "required",
        "prev",
        "weights",
        "max_booked",
    )

    def __init__(self, request: Request, travel: TravelSource):
        self.request = request
        self.duration = request.duration
        self.bb = request.buffer_before
        self.ba = request.buffer_after
        self.tail = request.duration + request.buffer_after
        self.e0 = max(request.window_start, request.now + request.min_notice)
        l0 = request.window_end - request.duration
        if request.horizon is not None:
            l0 = min(l0, request.now + request.horizon)
        self.l0 = l0
        self.span = max(1, l0 - self.e0)
        self.step = request.slot_step
        self.cust: Point | None = request.location
        self.travel_on = bool(request.needs_travel and request.location is not None)
        self.memo = travel if isinstance(travel, MemoTravel) else MemoTravel(travel)
        self.to_cust: dict[int, int] = {}  # id(point) -> minutes to the customer
        self.from_cust: dict[int, int] = {}  # id(point) -> minutes from the customer
        self.required = tuple(request.required_skills.items())
        self.prev = tuple(request.previous_staff_ids)
        self.weights = request.weights
        self.max_booked = 0

    # -- eligibility -------------------------------------------------------------------------
    def eligible(self, staff: Sequence[StaffSnapshot]) -> list[StaffSnapshot]:
        req = self.request
        pref = req.preferred_staff_id
        region = req.region_id
        required = self.required
        out = []
        for st in staff:
            if pref is not None and st.id != pref:
                continue
            if region is not None and region not in st.region_ids:
                continue
            if required:
                skills = st.skills
                ok = True
                for code, level in required:
                    have = skills.get(code)
                    if have is None or have < level:
                        ok = False
                        break
                if not ok:
                    continue
            out.append(st)
        self.max_booked = max((st.booked_minutes for st in out), default=0)
        return out

    def static_parts(self, st: StaffSnapshot) -> tuple[float, float, float]:
        """Weighted continuity, skill and fairness contributions of a staff member."""
        w = self.weights
        return (
            w.continuity * continuity_term(st.id, self.prev),
            w.skill * skill_term(st.skills, self.request.required_skills),
            w.fairness * fairness_term(st.booked_minutes, self.max_booked),
        )

    # -- travel --------------------------------------------------------------------------------
    # Keyed by id(): the snapshots keep every point alive for the whole request, and an int key
    # hashes in C; equal points held by different objects still meet in the value-keyed memo.
    def to_c(self, loc: Point) -> int:
        value = self.to_cust.get(id(loc))
        if value is None:
            value = self.to_cust[id(loc)] = self.memo.minutes(loc, self.cust)
        return value

    def from_c(self, loc: Point) -> int:
        value = self.from_cust.get(id(loc))
        if value is None:
            value = self.from_cust[id(loc)] = self.memo.minutes(self.cust, loc)
        return value

    # -- output --------------------------------------------------------------------------------
    def build_option(
        self,
        st: StaffSnapshot,
        start: int,
        travel_before: int,
        travel_after: int,
        p_kind: int,
        g0: int,
        g1: int,
        a: int,
        b: int,
        e: float,
        tt: float,
        c: float,
        score: float,
        is_earliest: bool,
    ) -> Option:
        w = self.weights
        kco, ksk, kfa = self.static_parts(st)
        found: list[tuple[float, str, tuple[tuple[str, object], ...]]] = []
        if is_earliest:
            found.append((w.earliest * e, R.EARLIEST, ()))
        if self.travel_on and p_kind == P_BUSY:
            found.append((w.travel * tt, R.TRAVEL_FROM_PREVIOUS, (("minutes", travel_before),)))
        elif self.travel_on and p_kind == P_HOME:
            found.append((w.travel * tt, R.FROM_HOME, (("minutes", travel_before),)))
        if start == a == b:
            found.append((w.compact * c, R.FILLS_GAP, (("start", g0), ("end", g1))))
        if self.prev:
            if st.id in self.prev:
                found.append((kco, R.USUAL_STAFF, (("rank", self.prev.index(st.id)),)))
            else:
                found.append((0.0, R.SUBSTITUTE, ()))
        if self.required:
            level = min(st.skills.get(code, 0) for code, _ in self.required)
            found.append((ksk, R.SKILL_LEVEL, (("level", level),)))
        if self.max_booked > 0 and st.booked_minutes * 2 <= self.max_booked:
            found.append((kfa, R.LIGHT_LOAD, (("booked_minutes", st.booked_minutes),)))
        found.sort(key=lambda f: (-f[0], _REASON_ORDER[f[1]]))
        return Option(
            staff_id=st.id,
            start=start,
            end=start + self.duration,
            travel_before=travel_before,
            travel_after=travel_after,
            score=score,
            reasons=tuple(Reason(code, params) for _, code, params in found[: R.MAX_REASONS]),
        )
