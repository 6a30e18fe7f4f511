"""The score of an option: ``Σ weight_i × term_i``, each term in ``[0, 1]``; higher is better.

Evaluated left to right in exactly this order (the engine and :func:`score` agree bit for bit)::

    score = w.earliest*earliest + w.travel*travel + w.compact*compact
            + w.continuity*continuity + w.skill*skill + w.fairness*fairness

Definitions, for an option starting at ``S`` (end ``E = S + duration``), in a free *gap*
``[g0, g1)`` of working time (between merged busies, or a working-interval edge):

earliest
    ``1 - (S - E0) / span`` with ``E0 = max(window_start, now + min_notice)`` the earliest start
    the request allows, ``L0 = min(window_end - duration, now + horizon)`` the latest one and
    ``span = max(1, L0 - E0)``.
travel
    ``1 - added / 120`` clipped to ``[0, 1]``; ``added = travel_before + travel_after -
    travel(P, N)`` is the detour the visit adds between the place before it (P: the previous
    located busy or home) and the place after it (N); when only one of P and N is known, just that
    leg counts.  No travel (phone/video, no location) gives 1.
compact
    ``a = max(g0, P.end + travel_before) + buffer_before`` is the earliest start the neighbours
    allow and ``b = min(g1, N.start - travel_after) - buffer_after - duration`` the latest one.
    The idle time left before the visit is ``S - a`` and after it ``b - S``; an idle piece shorter
    than ``duration`` cannot take another such visit and is *wasted*.
    ``compact = 1 - wasted / (g1 - g0)``.  So hugging both neighbours (``S == a == b``, reason
    ``fills_gap``) or leaving only usable pieces scores 1.
continuity
    1 if the staff member is ``previous_staff_ids[0]``, 0.5 if elsewhere in it, else 0.
skill
    mean over the required skills of ``min(level, 5) / 5``; 1 when none is required.
fairness
    ``1 - booked_minutes / max(booked_minutes of the eligible staff)``; 1 if that max is 0.

Where the best start in a gap lies: on ``[lo, hi]`` the score is piecewise linear in ``S``:
earliest falls, travel is constant (P and N do not depend on S inside one gap), wasted-before
rises from ``a`` until ``a + duration`` and then drops to 0, wasted-after is 0 until
``b - duration`` and then falls to 0 at ``b``.  Hence the best candidate of a gap is ``lo``,
``hi``, or the first candidate at or after ``a + duration`` or ``b - duration + 1`` (a property
test checks this against a minute-by-minute search).
The engine does not rely on that: it walks a gap's candidates in time order and stops as soon as
an upper bound (this start's earliness, the gap's exact travel term, compact = 1) cannot beat the
k-th best option found, which is exact for the top ``limit`` and usually stops after a few
candidates.
"""

from __future__ import annotations

from collections.abc import Mapping

from .types import Weights

TRAVEL_NORM = 120  # minutes of detour that make the travel term 0
SKILL_MAX = 5


def earliest_term(start: int, e0: int, span: int) -> float:
    return 1.0 - (start - e0) / span


def travel_term(added: int) -> float:
    if added <= 0:
        return 1.0
    if added >= TRAVEL_NORM:
        return 0.0
    return 1.0 - added / TRAVEL_NORM


def compact_term(start: int, a: int, b: int, duration: int, gap_length: int) -> float:
    before = start - a
    after = b - start
    wasted = (before if before < duration else 0) + (after if after < duration else 0)
    return 1.0 - wasted / gap_length


def continuity_term(staff_id: int, previous_staff_ids: tuple[int, ...]) -> float:
    if not previous_staff_ids:
        return 0.0
    if previous_staff_ids[0] == staff_id:
        return 1.0
    return 0.5 if staff_id in previous_staff_ids else 0.0


def skill_term(skills: Mapping[str, int], required: Mapping[str, int]) -> float:
    if not required:
        return 1.0
    total = 0.0
    for code in required:
        total += min(skills.get(code, 0), SKILL_MAX) / SKILL_MAX
    return total / len(required)


def fairness_term(booked_minutes: int, max_booked: int) -> float:
    if max_booked <= 0:
        return 1.0
    return 1.0 - booked_minutes / max_booked


def score(
    w: Weights,
    earliest: float,
    travel: float,
    compact: float,
    continuity: float,
    skill: float,
    fairness: float,
) -> float:
    return (
        w.earliest * earliest
        + w.travel * travel
        + w.compact * compact
        + w.continuity * continuity
        + w.skill * skill
        + w.fairness * fairness
    )
