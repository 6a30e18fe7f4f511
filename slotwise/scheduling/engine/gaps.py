"""Gap finder and "who is free at this time".

These walk one staff member's agenda directly (linear in their busies) and share the hard rules
and the score with :mod:`.generate`; they are meant for single look-ups, not for ranking a
window.
"""

from __future__ import annotations

from collections.abc import Sequence

from .plan import P_BUSY, P_HOME, P_NONE, Plan
from .scoring import compact_term, earliest_term, travel_term
from .travel import TravelSource
from .types import Option, Request, StaffSnapshot


def find_gaps(
    staff: StaffSnapshot, window_start: int, window_end: int, min_length: int = 1
) -> list[tuple[int, int]]:
    """Free working time of ``staff`` inside ``[window_start, window_end)``, not covered by any
    busy, as sorted ``(start, end)`` pieces at least ``min_length`` minutes long.

    Free time is cut at working-interval edges (two touching working intervals give two gaps);
    travel is not taken into account (that depends on the order being placed).
    """
    min_length = max(1, min_length)
    busies = sorted((b.start, b.end) for b in staff.busy if b.end > b.start)
    out: list[tuple[int, int]] = []
    for ws, we in staff.working:
        lo = max(ws, window_start)
        hi = min(we, window_end)
        if hi - lo < min_length:
            continue
        t = lo
        for bs, be in busies:
            if be <= t:
                continue
            if bs >= hi:
                break
            if bs - t >= min_length:
                out.append((t, bs))
            t = max(t, be)
            if t >= hi:
                break
        if hi - t >= min_length:
            out.append((t, hi))
    return out


def _evaluate_at(plan: Plan, st: StaffSnapshot, start: int, kco, ksk, kfa) -> Option | None:
    """The option of ``st`` starting exactly at ``start``, or None if a hard rule fails
    (eligibility is checked by the caller; the slot grid does not apply to an explicit time)."""
    if start < plan.e0 or start > plan.l0:
        return None
    occ_s = start - plan.bb
    occ_e = start + plan.tail
    for ws, we in st.working:
        if ws <= occ_s and occ_e <= we:
            break
    else:
        return None
    g0, g1 = ws, we
    p = n = None  # (time, travel, point)
    travel_on = plan.travel_on
    for b in st.busy:
        if b.end <= b.start:
            continue
        if b.start < occ_e and b.end > occ_s:
            return None
        if b.end <= occ_s:
            g0 = max(g0, b.end)
            if travel_on and b.location is not None and b.end >= ws:
                leg = plan.to_c(b.location)
                if p is None or b.end > p[0] or (b.end == p[0] and leg > p[1]):
                    p = (b.end, leg, b.location)
        else:  # b.start >= occ_e
            g1 = min(g1, b.start)
            if travel_on and b.location is not None and b.start <= we:
                leg = plan.from_c(b.location)
                if n is None or b.start < n[0] or (b.start == n[0] and leg > n[1]):
                    n = (b.start, leg, b.location)
    p_kind = P_NONE
    if p is not None:
        p_kind = P_BUSY
    elif travel_on and st.home is not None:
        p = (ws, plan.to_c(st.home), st.home)
        p_kind = P_HOME
    if n is None and travel_on and st.home is not None:
        n = (we, plan.from_c(st.home), st.home)
    tb = p[1] if p is not None else 0
    ta = n[1] if n is not None else 0
    a = max(g0, p[0] + tb if p is not None else g0) + plan.bb
    b = min(g1, n[0] - ta if n is not None else g1) - plan.tail
    if not a <= start <= b:
        return None
    added = tb + ta
    if p is not None and n is not None:
        added -= plan.memo.minutes(p[2], n[2])
    w = plan.weights
    e = earliest_term(start, plan.e0, plan.span)
    tt = travel_term(added)
    c = compact_term(start, a, b, plan.duration, g1 - g0)
    sc = w.earliest * e + w.travel * tt + w.compact * c + kco + ksk + kfa
    return plan.build_option(st, start, tb, ta, p_kind, g0, g1, a, b, e, tt, c, sc, False)


def free_at(
    request: Request, staff: Sequence[StaffSnapshot], start: int, travel: TravelSource
) -> list[Option]:
    """Who can take ``request`` starting exactly at ``start``: one option per eligible staff
    member that satisfies every hard rule (except the slot grid, since the time is given),
    ranked like :func:`~.generate.generate_options` (score, then staff id).  ``limit`` is not
    applied: a dispatcher wants to see everyone who is free.
    """
    plan = Plan(request, travel)
    out = []
    for st in plan.eligible(staff):
        kco, ksk, kfa = plan.static_parts(st)
        option = _evaluate_at(plan, st, start, kco, ksk, kfa)
        if option is not None:
            out.append(option)
    out.sort(key=lambda o: (-o.score, o.staff_id))
    return out
