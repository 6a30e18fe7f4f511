"""`find_options(spread=...)`: alternatives across staff and days instead of one person's
quarter-hours (the booker's screen)."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from slotwise.scheduling.selectors import RankedOption, _spread

UTC = dt.UTC
BASE = dt.datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def _option(staff_id: int, minutes: int, score: float) -> RankedOption:
    start = BASE + dt.timedelta(minutes=minutes)
    return RankedOption(
        staff_id=staff_id,
        staff_name=f"S{staff_id}",
        start=start,
        end=start + dt.timedelta(minutes=30),
        travel_before=0,
        travel_after=0,
        score=score,
        reasons=(),
        reason_codes=(),
    )


def test_one_dominant_staff_member_leaves_room_for_others():
    ranked = [_option(1, 15 * i, 10 - i * 0.01) for i in range(20)]  # S1, one day, best
    ranked += [_option(2, 15 * i, 5 - i * 0.01) for i in range(5)]
    ranked += [_option(1, 1440 + 15 * i, 4 - i * 0.01) for i in range(5)]  # S1, next day
    ranked.sort(key=lambda o: -o.score)
    out = _spread(ranked, limit=6, per_group=2, tz="Europe/Amsterdam")
    assert [(o.staff_id, o.start.day) for o in out] == [
        (1, 2),
        (1, 2),
        (2, 2),
        (2, 2),
        (1, 3),
        (1, 3),
    ]
    assert [o.score for o in out] == sorted((o.score for o in out), reverse=True)


def test_fills_up_with_the_best_rest_when_there_is_nobody_else():
    ranked = [_option(1, 15 * i, 10 - i * 0.01) for i in range(8)]
    out = _spread(ranked, limit=5, per_group=2, tz="UTC")
    assert out == ranked[:5]


@given(
    st.lists(
        st.tuples(st.integers(1, 4), st.integers(0, 3 * 1440), st.floats(0, 10)),
        max_size=40,
    ),
    st.integers(1, 12),
    st.integers(1, 3),
)
def test_spread_properties(rows, limit, per_group):
    ranked = sorted((_option(*row) for row in rows), key=lambda o: -o.score)
    out = _spread(ranked, limit=limit, per_group=per_group, tz="Europe/Stockholm")
    assert len(out) == min(limit, len(ranked))
    # the same objects, each once, best first as the input ranked them (identity: equal
    # options may occur twice)
    positions = [next(i for i, r in enumerate(ranked) if r is o) for o in out]
    assert positions == sorted(set(positions))
    # the best option is always kept
    if ranked:
        assert out[0] is ranked[0]
