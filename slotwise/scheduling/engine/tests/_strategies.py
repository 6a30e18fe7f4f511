"""Hypothesis strategies: small random agendas and requests."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from slotwise.scheduling.engine.travel import GreatCircleTravel, TravelSource
from slotwise.scheduling.engine.types import Busy, Point, Request, StaffSnapshot, Weights

BASE = 29_000_000 + 7  # realistic epoch minutes, deliberately not a multiple of any step
POOL = (
    Point(59.33, 18.06),
    Point(59.34, 18.10),
    Point(59.30, 18.00),
    Point(59.36, 18.15),
    Point(59.28, 17.95),
    Point(59.33, 18.06),  # equal to the first, a different object
)


class TableTravel(TravelSource):
    """Arbitrary (asymmetric, non-metric) minutes between pool points."""

    def __init__(self, table: dict[tuple[int, int], int]):
        self.table = table

    def minutes(self, a, b):
        if a is None or b is None:
            return 0
        return self.table[(POOL.index(a), POOL.index(b))]


travels = st.one_of(
    st.just(GreatCircleTravel()),
    st.builds(
        GreatCircleTravel,
        road_factor=st.just(2.0),
        speed_kmh=st.just(20.0),
        minimum=st.integers(0, 10),
    ),
    st.builds(
        TableTravel,
        st.fixed_dictionaries(
            {(i, j): st.integers(0, 45) for i in range(len(POOL)) for j in range(len(POOL))}
        ),
    ),
)

points = st.one_of(st.none(), st.sampled_from(POOL), st.sampled_from(POOL))


@st.composite
def working_intervals(draw, span: int):
    cuts = sorted(set(draw(st.lists(st.integers(0, span), min_size=2, max_size=6))))
    out = []
    for i in range(0, len(cuts) - 1, 2):
        out.append((BASE + cuts[i], BASE + cuts[i + 1]))
    return tuple(out)


@st.composite
def busies(draw, span: int):
    items = draw(
        st.lists(
            st.tuples(
                st.integers(-120, span + 120),
                st.integers(0, 150),
                points,
                st.sampled_from(["booking", "call", "time_off"]),
            ),
            max_size=8,
        )
    )
    out = [Busy(BASE + s, BASE + s + length, loc, kind) for s, length, loc, kind in items]
    out.sort(key=lambda b: b.start)
    return tuple(out)


@st.composite
def staff_lists(draw, span: int, max_staff: int = 3):
    n = draw(st.integers(1, max_staff))
    out = []
    for sid in draw(st.lists(st.integers(1, 9), min_size=n, max_size=n, unique=True)):
        out.append(
            StaffSnapshot(
                id=sid,
                working=draw(working_intervals(span)),
                busy=draw(busies(span)),
                home=draw(points),
                skills=draw(
                    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 7), min_size=1)
                ),
                region_ids=frozenset(draw(st.sets(st.integers(1, 2), min_size=1))),
                booked_minutes=draw(st.sampled_from([0, 0, 30, 90, 240, 600])),
            )
        )
    return out


weights = st.one_of(
    st.just(Weights()),
    st.builds(
        Weights,
        *[st.sampled_from([0.0, 0.25, 1.0, 3.0]) for _ in range(6)],
    ),
)


@st.composite
def requests(draw, span: int, staff: list[StaffSnapshot]):
    ids = [s.id for s in staff]
    ws = BASE + draw(st.integers(-60, span // 3))
    odd = draw(st.integers(0, 4)) == 4  # now and then: short windows, late 'now'
    we = ws + draw(st.integers(0, span + 60) if odd else st.integers(span // 2, span + 60))
    now = draw(st.integers(BASE - 200, BASE + span // 2) if odd else st.integers(ws - 300, ws))
    return Request(
        duration=draw(st.one_of(st.integers(1, 120), st.sampled_from([5, 20, 30, 45, 60]))),
        buffer_before=draw(st.sampled_from([0, 0, 5, 15])),
        buffer_after=draw(st.sampled_from([0, 0, 10])),
        needs_travel=draw(st.sampled_from([True, True, True, False])),
        location=draw(st.one_of(st.sampled_from(POOL), points)),
        window_start=ws,
        window_end=we,
        now=now,
        min_notice=draw(st.sampled_from([0, 0, 30, 120])),
        horizon=draw(st.integers(0, span) if odd else st.one_of(st.none(), st.integers(300, span))),
        required_skills=draw(
            st.one_of(
                st.just({}),
                st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 6), max_size=2),
            )
        ),
        region_id=draw(st.sampled_from([None, None, None, 1, 2])),
        preferred_staff_id=draw(st.one_of(st.none(), st.none(), st.none(), st.sampled_from(ids))),
        previous_staff_ids=tuple(
            draw(st.lists(st.sampled_from(ids + [99]), max_size=3, unique=True))
        ),
        slot_step=draw(st.sampled_from([1, 5, 7, 15, 30, 60])),
        limit=draw(st.integers(1, 12)),
        weights=draw(weights),
    )


@dataclass
class Scenario:
    staff: list[StaffSnapshot]
    request: Request
    travel: TravelSource


@st.composite
def scenarios(draw, span: int = 1440, max_staff: int = 3):
    staff = draw(staff_lists(span, max_staff))
    return Scenario(staff, draw(requests(span, staff)), draw(travels))
