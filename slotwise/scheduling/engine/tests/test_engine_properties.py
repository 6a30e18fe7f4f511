"""Property tests: hypothesis-generated agendas against the independent oracle."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slotwise.scheduling.engine import Busy, StaffSnapshot, free_at, generate_options

from ._oracle import brute_force, context, violations
from ._strategies import BASE, POOL, scenarios

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenarios(span=2880))
def test_every_option_satisfies_every_hard_rule(sc):
    options = generate_options(sc.request, sc.staff, sc.travel)
    assert len(options) <= sc.request.limit
    keys = [(o.staff_id, o.start) for o in options]
    assert len(set(keys)) == len(keys), "duplicate options"
    assert options == sorted(options, key=lambda o: (-o.score, o.start, o.staff_id))
    for option in options:
        assert violations(option, sc.request, sc.staff, sc.travel) == [], option


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(span=1440))
def test_top_options_equal_brute_force(sc):
    options = generate_options(sc.request, sc.staff, sc.travel)
    brute = brute_force(sc.request, sc.staff, sc.travel)
    k = sc.request.limit
    assert len(options) == min(k, len(brute))
    if not brute:
        return
    # The engine's best is as good as the best feasible candidate, and nothing beats it.
    assert abs(options[0].score - brute[0][0]) <= 1e-9
    assert all(b[0] <= options[0].score + 1e-9 for b in brute)
    # The whole top-k agrees score by score.
    for option, (score, _start, _sid) in zip(options, brute[:k], strict=True):
        assert abs(option.score - score) <= 1e-9


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(span=2 * 2880, max_staff=2))
def test_brute_force_two_days(sc):
    options = generate_options(sc.request, sc.staff, sc.travel)
    brute = brute_force(sc.request, sc.staff, sc.travel)
    assert len(options) == min(sc.request.limit, len(brute))
    for option, (score, _start, _sid) in zip(options, brute, strict=False):
        assert abs(option.score - score) <= 1e-9


@SETTINGS
@given(scenarios(span=2880))
def test_free_at_agrees_with_generate(sc):
    options = generate_options(sc.request, sc.staff, sc.travel)
    for option in options:
        free = free_at(sc.request, sc.staff, option.start, sc.travel)
        same = [f for f in free if f.staff_id == option.staff_id]
        assert len(same) == 1
        assert same[0].start == option.start
        assert (same[0].travel_before, same[0].travel_after) == (
            option.travel_before,
            option.travel_after,
        )
        assert abs(same[0].score - option.score) <= 1e-12
        for f in free:
            assert violations(f, sc.request, sc.staff, sc.travel) in ([], ["not_a_candidate"])


@SETTINGS
@given(scenarios(span=2880), st.data())
def test_unrelated_history_changes_nothing(sc, data):
    before = generate_options(sc.request, sc.staff, sc.travel)
    first_relevant = min(
        [ws for s in sc.staff for ws, _ in s.working] + [sc.request.window_start, sc.request.now]
    )
    cutoff = min(first_relevant, BASE - 200)
    grown = []
    for s in sc.staff:
        history = sorted(
            (
                Busy(cutoff - back - length, cutoff - back, data.draw(st.sampled_from(POOL)))
                for back, length in data.draw(
                    st.lists(st.tuples(st.integers(0, 50_000), st.integers(1, 600)), max_size=20)
                )
            ),
            key=lambda b: b.start,
        )
        grown.append(dataclasses.replace(s, busy=tuple(history) + s.busy))
    # Somebody nobody asked for, with a crowded agenda.
    stranger = StaffSnapshot(
        id=1000,
        working=((BASE, BASE + 2880),),
        busy=tuple(Busy(BASE + 10 * i, BASE + 10 * i + 5, POOL[i % 3]) for i in range(200)),
        region_ids=frozenset({99}),
        skills={"zz": 1},
        booked_minutes=sc.request.limit * 10_000,
    )
    request = sc.request
    if request.region_id is None and not request.required_skills:  # keep the stranger out
        request = dataclasses.replace(request, required_skills={"a": 0})
        before = generate_options(request, sc.staff, sc.travel)
    after = generate_options(request, grown + [stranger], sc.travel)
    assert after == before


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(span=1440))
def test_best_start_of_a_gap_is_at_a_breakpoint(sc):
    """The claim in scoring.py: per gap the best candidate is lo, hi, or the first candidate at
    or after a + duration or b - duration + 1 (the score is piecewise linear in the start)."""
    req = sc.request
    by_gap: dict[tuple, list] = {}
    for score, start, sid in brute_force(req, sc.staff, sc.travel):
        st_ = next(s for s in sc.staff if s.id == sid)
        ctx, _ = context(req, st_, start, sc.travel)
        by_gap.setdefault((sid, ctx.g0, ctx.g1), []).append((score, start, ctx))
    d = req.duration
    for cands in by_gap.values():
        starts = sorted(c[1] for c in cands)
        lo, hi = starts[0], starts[-1]
        ctx = cands[0][2]

        def first_at_or_after(x, starts=starts):
            return next((s for s in starts if s >= x), None)

        allowed = {lo, hi, first_at_or_after(ctx.a + d), first_at_or_after(ctx.b - d + 1)}
        best = min(cands, key=lambda c: (-c[0], c[1]))
        top = [c for c in cands if c[0] >= best[0] - 1e-12]
        assert any(c[1] in allowed for c in top), (best[1], allowed)
