"""An independent, deliberately naive re-statement of the hard rules and the score.

Nothing here imports the engine's internals: only the public value types.  It is slow on
purpose (every check scans the whole agenda) so that it is easy to read against the spec.
"""

from __future__ import annotations

from dataclasses import dataclass

from slotwise.scheduling.engine.types import Option, Request, StaffSnapshot


@dataclass
class Ctx:
    ws: int
    we: int
    g0: int
    g1: int
    p: tuple | None  # (time, leg, point, is_home)
    n: tuple | None
    tb: int
    ta: int
    a: int
    b: int


def eligible(req: Request, st: StaffSnapshot) -> bool:
    if req.preferred_staff_id is not None and st.id != req.preferred_staff_id:
        return False
    if req.region_id is not None and req.region_id not in st.region_ids:
        return False
    return all(
        code in st.skills and st.skills[code] >= level
        for code, level in req.required_skills.items()
    )


def bounds(req: Request) -> tuple[int, int]:
    e0 = max(req.window_start, req.now + req.min_notice)
    l0 = req.window_end - req.duration
    if req.horizon is not None:
        l0 = min(l0, req.now + req.horizon)
    return e0, l0


def context(req: Request, st: StaffSnapshot, s: int, travel) -> tuple[Ctx | None, list[str]]:
    """Check every hard rule but eligibility and the grid for a start ``s``."""
    bad = []
    e0, l0 = bounds(req)
    end = s + req.duration
    if s < req.now + req.min_notice:
        bad.append("notice")
    if s < req.window_start:
        bad.append("window_start")
    if end > req.window_end:
        bad.append("window_end")
    if req.horizon is not None and s > req.now + req.horizon:
        bad.append("horizon")
    os_, oe = s - req.buffer_before, end + req.buffer_after
    inside = [(ws, we) for ws, we in st.working if ws <= os_ and oe <= we]
    if len(inside) != 1:
        bad.append("working")
        return None, bad
    ws, we = inside[0]
    real = [b for b in st.busy if b.end > b.start]
    if any(b.start < oe and b.end > os_ for b in real):
        bad.append("busy_overlap")
        return None, bad
    g0 = max([ws] + [b.end for b in real if b.end <= os_])
    g1 = min([we] + [b.start for b in real if b.start >= oe])
    travel_on = req.needs_travel and req.location is not None
    p = n = None
    if travel_on:
        before = [b for b in real if b.location is not None and ws <= b.end <= os_]
        if before:
            last = max(b.end for b in before)
            tied = [b for b in before if b.end == last]
            legs = [travel.minutes(b.location, req.location) for b in tied]
            k = legs.index(max(legs))  # longest leg, first in busy order
            p = (last, legs[k], tied[k].location, False)
        elif st.home is not None:
            p = (ws, travel.minutes(st.home, req.location), st.home, True)
        after = [b for b in real if b.location is not None and oe <= b.start <= we]
        if after:
            first = min(b.start for b in after)
            tied = [b for b in after if b.start == first]
            legs = [travel.minutes(req.location, b.location) for b in tied]
            k = legs.index(max(legs))
            n = (first, legs[k], tied[k].location, False)
        elif st.home is not None:
            n = (we, travel.minutes(req.location, st.home), st.home, True)
        if p is not None and p[0] + p[1] > os_:
            bad.append("travel_before")
        if n is not None and oe + n[1] > n[0]:
            bad.append("travel_after")
    tb = p[1] if p else 0
    ta = n[1] if n else 0
    a = max(g0, p[0] + tb if p else g0) + req.buffer_before
    b = min(g1, n[0] - ta if n else g1) - req.buffer_after - req.duration
    return Ctx(ws, we, g0, g1, p, n, tb, ta, a, b), bad


def feasible(req, st, s, travel) -> bool:
    ctx, bad = context(req, st, s, travel)
    return not bad


def score(req: Request, staff: list[StaffSnapshot], st: StaffSnapshot, s: int, travel) -> float:
    ctx, bad = context(req, st, s, travel)
    assert not bad, bad
    e0, l0 = bounds(req)
    span = max(1, l0 - e0)
    earliest = 1 - (s - e0) / span
    added = ctx.tb + ctx.ta
    if ctx.p and ctx.n:
        added -= travel.minutes(ctx.p[2], ctx.n[2])
    trav = min(1.0, max(0.0, 1 - added / 120))
    d = req.duration
    idle_before, idle_after = s - ctx.a, ctx.b - s
    wasted = (idle_before if idle_before < d else 0) + (idle_after if idle_after < d else 0)
    compact = 1 - wasted / (ctx.g1 - ctx.g0)
    prev = req.previous_staff_ids
    cont = 1.0 if prev and prev[0] == st.id else (0.5 if st.id in prev else 0.0)
    req_sk = req.required_skills
    skill = sum(min(st.skills[c], 5) / 5 for c in req_sk) / len(req_sk) if req_sk else 1.0
    mx = max(x.booked_minutes for x in staff if eligible(req, x))
    fair = 1 - st.booked_minutes / mx if mx > 0 else 1.0
    w = req.weights
    return (
        w.earliest * earliest
        + w.travel * trav
        + w.compact * compact
        + w.continuity * cont
        + w.skill * skill
        + w.fairness * fair
    )


def is_candidate(req, st, s, travel) -> bool:
    """On the slot grid, or an end of a maximal run of feasible starts (a gap's window ends)."""
    if s % req.slot_step == 0:
        return True
    here, _ = context(req, st, s, travel)
    for t in (s - 1, s + 1):
        there, bad = context(req, st, t, travel)
        if bad or there.ws != here.ws:  # runs never continue into another working interval
            return True
    return False


def violations(option: Option, req: Request, staff: list[StaffSnapshot], travel) -> list[str]:
    matches = [x for x in staff if x.id == option.staff_id]
    if len(matches) != 1:
        return ["unknown staff"]
    st = matches[0]
    bad = []
    if not eligible(req, st):
        bad.append("ineligible")
    if option.end != option.start + req.duration:
        bad.append("end")
    ctx, more = context(req, st, option.start, travel)
    bad += more
    if bad:
        return bad
    if not is_candidate(req, st, option.start, travel):
        bad.append("not_a_candidate")
    if (option.travel_before, option.travel_after) != (ctx.tb, ctx.ta):
        bad.append(f"travel legs {option.travel_before, option.travel_after} != {ctx.tb, ctx.ta}")
    expect = score(req, staff, st, option.start, travel)
    if abs(expect - option.score) > 1e-9:
        bad.append(f"score {option.score} != {expect}")
    return bad


def brute_force(req: Request, staff: list[StaffSnapshot], travel) -> list[tuple[float, int, int]]:
    """Every candidate start of every eligible staff member, minute by minute, ranked."""
    e0, l0 = bounds(req)
    out = []
    for st in staff:
        if not eligible(req, st):
            continue
        for ws, we in st.working:
            lo = max(e0, ws + req.buffer_before)
            hi = min(l0, we - req.buffer_after - req.duration)
            ok = {s for s in range(lo - 1, hi + 2) if feasible(req, st, s, travel)}
            for s in sorted(ok):
                if s % req.slot_step == 0 or s - 1 not in ok or s + 1 not in ok:
                    out.append((score(req, staff, st, s, travel), s, st.id))
    out.sort(key=lambda x: (-x[0], x[1], x[2]))
    return out
