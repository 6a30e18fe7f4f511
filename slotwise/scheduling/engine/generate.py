"""The option generator: ranked bookable options for one request.

Hard rules (every returned option satisfies all of them; ``S`` = start, ``E = S + duration``,
occupied interval ``O = [S - buffer_before, E + buffer_after)``):

1. the staff member is eligible: every required skill at >= the minimum level; the customer's
   region among ``region_ids`` when ``region_id`` is set; ``id == preferred_staff_id`` when set;
2. ``O`` lies inside one working interval ``[ws, we)`` and overlaps no busy (touching is fine);
3. travel (only when ``needs_travel`` and the location is known).  *P* is the busy with a location
   and the latest end such that ``ws <= P.end <= O.start``; if there is none, P is the home base at
   ``ws`` (if known).  Then ``P.end + travel(P, customer) <= O.start``.  *N* is the busy with a
   location and the earliest start such that ``O.end <= N.start <= we``, else the home base at
   ``we``: ``O.end + travel(customer, N) <= N.start``.  Ties (equal end / equal start) resolve to
   the one with the longest travel leg, then the first in ``busy`` order — so the rule holds for
   all tied busies.  Busies without a location only block time;
4. ``S >= now + min_notice``, ``S >= window_start``, ``E <= window_end`` and, with a horizon,
   ``S <= now + horizon``;
5. candidate starts: ``S % slot_step == 0``, or ``S`` is one of the two ends ``lo``/``hi`` of the
   feasible start window of its gap — so a visit can hug its neighbours exactly even when travel
   times are not multiples of the step.

Algorithm: eligible staff are visited in order of their best possible score (all start-dependent
terms at 1).  For each, working intervals from the window start are walked chronologically
together with the busies (merged on the fly), giving free gaps ``[g0, g1)``.  Inside a gap P and N
are fixed, so the feasible start window is ``[lo, hi]`` with
``lo = max(max(g0, P.end + travel_before) + buffer_before, E0)`` and
``hi = min(min(g1, N.start - travel_after) - buffer_after - duration, L0)`` — one subtraction per
gap.  Candidates of the gap are ``lo``, the grid points in ``(lo, hi)`` and ``hi``, scored (see
:mod:`.scoring`) and kept in a size-``limit`` heap.  Branch and bound keeps it fast: a staff member
is skipped when its best possible score cannot beat the current k-th best; inside a staff member a
gap whose earliest start cannot reach it ends the staff member (earliness only falls with time);
a candidate whose upper bound (compact = 1) cannot reach it ends its gap.  All bounds use the same
float expression as the score, so pruning never drops an option that belongs in the top ``limit``.
Ranking: score descending, then earlier start, then lower staff id.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from heapq import heappush, heapreplace
from itertools import islice
from operator import attrgetter, itemgetter

from .plan import P_BUSY, P_HOME, P_NONE, Plan
from .travel import TravelSource
from .types import Option, Request, StaffSnapshot

_W_END = itemgetter(1)
_B_START = attrgetter("start")
_B_END = attrgetter("end")
_NEG_INF = float("-inf")


def generate_options(
    request: Request, staff: Sequence[StaffSnapshot], travel: TravelSource
) -> list[Option]:
    """The ranked top ``request.limit`` options (best first) over ``staff``."""
    limit = request.limit
    if limit <= 0:
        return []
    plan = Plan(request, travel)
    if plan.e0 > plan.l0:
        return []
    elig = plan.eligible(staff)
    if not elig:
        return []
    w = plan.weights
    order = []
    for idx, st in enumerate(elig):
        kco, ksk, kfa = plan.static_parts(st)
        ub = w.earliest * 1.0 + w.travel * 1.0 + w.compact * 1.0 + kco + ksk + kfa
        order.append((-ub, st.id, idx, kco, ksk, kfa))
    order.sort()

    heap: list[tuple] = []
    for neg_ub, _sid, idx, kco, ksk, kfa in order:
        if len(heap) >= limit and -neg_ub < heap[0][0]:
            break  # staff are sorted by this bound: nobody after can enter the top list
        _scan_staff(plan, elig[idx], idx, kco, ksk, kfa, heap, limit)

    if not heap:
        return []
    ranked = sorted(heap, key=lambda h: (-h[0], -h[1], -h[2]))
    first = min(ranked, key=lambda h: (-h[1], -h[2]))
    out = []
    for h in ranked:
        sc, neg_s, _neg_id, idx, tb, ta, p_kind, g0, g1, a, b, e, tt, c = h
        out.append(
            plan.build_option(
                elig[idx], -neg_s, tb, ta, p_kind, g0, g1, a, b, e, tt, c, sc, h is first
            )
        )
    return out


def _scan_staff(
    plan: Plan,
    st: StaffSnapshot,
    idx: int,
    kco: float,
    ksk: float,
    kfa: float,
    heap: list[tuple],
    limit: int,
) -> None:
    working = st.working
    nw = len(working)
    e0 = plan.e0
    l0 = plan.l0
    bb = plan.bb
    tail = plan.tail
    d = plan.duration
    wi = bisect_left(working, e0 + tail, key=_W_END)
    if wi >= nw:
        return
    w = plan.weights
    we_, wt, wc = w.earliest, w.travel, w.compact
    span = plan.span
    step = plan.step
    travel_on = plan.travel_on
    home = st.home if travel_on else None
    to_cust = plan.to_cust
    from_cust = plan.from_cust
    to_c = plan.to_c
    from_c = plan.from_c
    sid = st.id
    neg_sid = -sid
    full = len(heap) >= limit
    worst = heap[0][0] if full else _NEG_INF

    busy = st.busy
    nb = len(busy)
    ws0 = working[wi][0]
    i = bisect_left(busy, ws0, key=_B_START)
    cur_end = _NEG_INF
    p_end = None  # latest end among consumed located busies
    p_loc = None
    p_more = None  # further located busies with that same end (ties), in busy order
    if i and max(map(_B_END, islice(busy, i))) >= ws0:
        for b in islice(busy, i):
            be = b.end
            if be <= b.start:
                continue
            if be > cur_end:
                cur_end = be
            if travel_on and b.location is not None:
                if p_end is None or be > p_end:
                    p_end, p_loc, p_more = be, b.location, None
                elif be == p_end:
                    p_more = [b.location] if p_more is None else [*p_more, b.location]
    nl = -1  # index of the next located busy at or after i (memo)

    for k in range(wi, nw):
        ws, wend = working[k]
        if ws + bb > l0:
            return
        t = ws if ws > cur_end else cur_end
        while True:
            if i < nb:
                b = busy[i]
                bs = b.start
                if bs < wend and (bs <= t or b.end <= bs):  # no gap before it: consume
                    be = b.end
                    if be > bs:
                        if be > t:
                            t = be
                        if travel_on and b.location is not None:
                            if p_end is None or be > p_end:
                                p_end, p_loc, p_more = be, b.location, None
                            elif be == p_end:
                                p_more = [b.location] if p_more is None else [*p_more, b.location]
                    i += 1
                    continue
                g1 = bs if bs < wend else wend
            else:
                g1 = wend
            if t >= g1:
                break  # t >= wend: interval done
            g0 = t
            t = g1
            # ---- gap [g0, g1) -------------------------------------------------------------
            lo = g0 + bb
            if lo < e0:
                lo = e0
            if lo > l0:
                return
            if (
                full
                and we_ * (1.0 - (lo - e0) / span) + wt * 1.0 + wc * 1.0 + kco + ksk + kfa < worst
            ):
                return
            hi = g1 - tail
            if hi > l0:
                hi = l0
            if hi < lo:
                continue
            p_kind = P_NONE
            n_pt = p_pt = None
            tb = ta = 0
            a = g0
            bnd = g1
            if travel_on:
                if p_end is not None and p_end >= ws:
                    p_kind = P_BUSY
                    p_pt = p_loc
                    tb = to_cust.get(id(p_loc))
                    if tb is None:
                        tb = to_c(p_loc)
                    if p_more is not None:
                        for loc in p_more:
                            x = to_c(loc)
                            if x > tb:
                                tb, p_pt = x, loc
                    if p_end + tb > a:
                        a = p_end + tb
                elif home is not None:
                    p_kind = P_HOME
                    p_pt = home
                    tb = to_c(home)
                    if ws + tb > a:
                        a = ws + tb
                if nl < i:
                    nl = i
                    while nl < nb and (busy[nl].location is None or busy[nl].end <= busy[nl].start):
                        nl += 1
                if nl < nb and busy[nl].start <= wend:
                    nbusy = busy[nl]
                    n_start = nbusy.start
                    n_pt = nbusy.location
                    ta = from_cust.get(id(n_pt))
                    if ta is None:
                        ta = from_c(n_pt)
                    j = nl + 1
                    while j < nb and busy[j].start == n_start:
                        o = busy[j]
                        if o.location is not None and o.end > o.start:
                            x = from_c(o.location)
                            if x > ta:
                                ta, n_pt = x, o.location
                        j += 1
                    if n_start - ta < bnd:
                        bnd = n_start - ta
                elif home is not None:
                    n_pt = home
                    ta = from_c(home)
                    if wend - ta < bnd:
                        bnd = wend - ta
            a += bb
            bnd -= tail
            if a > lo:
                lo = a
            if bnd < hi:
                hi = bnd
            if lo > hi:
                continue
            if (
                full
                and we_ * (1.0 - (lo - e0) / span) + wt * 1.0 + wc * 1.0 + kco + ksk + kfa < worst
            ):
                return  # later gaps start later still
            added = tb + ta
            if p_pt is not None and n_pt is not None:
                added -= plan.memo.minutes(p_pt, n_pt)
            tt = 1.0 if added <= 0 else (0.0 if added >= 120 else 1.0 - added / 120)
            if (
                full
                and we_ * (1.0 - (lo - e0) / span) + wt * tt + wc * 1.0 + kco + ksk + kfa < worst
            ):
                continue
            glen = g1 - g0
            s = lo
            grid = -(-lo // step) * step
            if grid == lo:
                grid += step
            while True:
                e = 1.0 - (s - e0) / span
                ib = s - a
                ia = bnd - s
                wasted = (ib if ib < d else 0) + (ia if ia < d else 0)
                c = 1.0 - wasted / glen
                sc = we_ * e + wt * tt + wc * c + kco + ksk + kfa
                if not full:
                    heappush(heap, (sc, -s, neg_sid, idx, tb, ta, p_kind, g0, g1, a, bnd, e, tt, c))
                    if len(heap) >= limit:
                        full = True
                        worst = heap[0][0]
                elif sc > worst or (sc == worst and (-s, neg_sid) > heap[0][1:3]):
                    heapreplace(
                        heap, (sc, -s, neg_sid, idx, tb, ta, p_kind, g0, g1, a, bnd, e, tt, c)
                    )
                    worst = heap[0][0]
                elif we_ * e + wt * tt + wc * 1.0 + kco + ksk + kfa < worst:
                    break
                if s >= hi:
                    break
                if grid < hi:
                    s = grid
                    grid += step
                else:
                    s = hi
        cur_end = t
