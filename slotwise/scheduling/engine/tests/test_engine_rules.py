"""Hand-built agendas: one test per hard rule, travel leg, buffer, home base, phone, reason."""

from __future__ import annotations

import pytest

from slotwise.scheduling.engine import (
    Busy,
    GreatCircleTravel,
    MemoTravel,
    Point,
    Request,
    StaffSnapshot,
    TravelSource,
    Weights,
    find_gaps,
    free_at,
    generate_options,
)
from slotwise.scheduling.engine.reasons import REASON_CODES

from ._oracle import violations

DAY = 29_000_160  # a midnight, UTC (multiple of 1440)


def h(hours: float) -> int:
    return DAY + round(hours * 60)


class LineTravel(TravelSource):
    """Points on a line: minutes = |a.lat - b.lat| (lng is ignored)."""

    def __init__(self):
        self.calls = 0

    def minutes(self, a, b):
        self.calls += 1
        if a is None or b is None:
            return 0
        return int(abs(a.lat - b.lat))


def at(x: float) -> Point:
    return Point(float(x), 0.0)


CUST = at(0)
TRAVEL = LineTravel()


def req(**kw) -> Request:
    base = dict(
        duration=60,
        location=CUST,
        window_start=h(0),
        window_end=h(24),
        now=h(0),
        slot_step=15,
        limit=10,
    )
    base.update(kw)
    return Request(**base)


NINE_TO_FIVE = ((h(9), h(17)),)


def staff(sid=1, working=NINE_TO_FIVE, busy=(), **kw) -> StaffSnapshot:
    return StaffSnapshot(id=sid, working=working, busy=tuple(busy), **kw)


def starts(options):
    return sorted(o.start for o in options)


def check_all(options, request, staff_list, travel=TRAVEL):
    for o in options:
        assert violations(o, request, staff_list, travel) == [], o


# ---------------------------------------------------------------- working time and busies


def test_empty_day_first_option_is_start_of_work():
    s = [staff()]
    r = req()
    options = generate_options(r, s, TRAVEL)
    assert options[0].start == h(9)
    assert options[0].end == h(10)
    assert len(options) == 10
    check_all(options, r, s)


def test_options_stay_inside_one_working_interval():
    s = [staff(working=((h(9), h(10)), (h(10), h(11))))]  # touching, not merged
    r = req(duration=90, limit=50)
    assert generate_options(r, s, TRAVEL) == []
    r = req(duration=60, limit=50, slot_step=1)
    assert starts(generate_options(r, s, TRAVEL)) == [h(9), h(10)]


def test_busy_blocks_and_touching_is_fine():
    s = [staff(busy=[Busy(h(10), h(11))])]
    r = req(limit=50, window_end=h(12))
    got = starts(generate_options(r, s, TRAVEL))
    assert h(9) in got and h(11) in got
    assert all(not (st < h(11) and st + 60 > h(10)) for st in got)
    check_all(generate_options(r, s, TRAVEL), r, s)


def test_buffers_are_part_of_the_occupied_interval():
    s = [staff(busy=[Busy(h(11), h(12))])]
    r = req(buffer_before=15, buffer_after=10, limit=50, needs_travel=False)
    got = starts(generate_options(r, s, TRAVEL))
    assert h(9) not in got  # 08:45 buffer would start before work
    assert got[0] == h(9.25)
    morning = [x for x in got if x < h(11)]
    assert max(morning) == h(11) - 10 - 60  # 09:50, the window end, off the grid
    afternoon = [x for x in got if x > h(11)]
    assert min(afternoon) == h(12.25)
    assert max(afternoon) == h(17) - 10 - 60


def test_overlapping_busies_and_busies_over_working_edges():
    s = [
        staff(
            busy=[
                Busy(h(8), h(9.5)),  # sticks into the working day
                Busy(h(12), h(14)),
                Busy(h(12.5), h(13)),  # inside the previous one
                Busy(h(13.5), h(15)),  # overlaps it
                Busy(h(16.5), h(18)),  # sticks out at the end
            ]
        )
    ]
    r = req(limit=100, needs_travel=False, slot_step=30)
    got = starts(generate_options(r, s, TRAVEL))
    assert got == [h(9.5), h(10), h(10.5), h(11), h(15), h(15.5)]


def test_zero_length_busy_is_ignored():
    s = [staff(working=((h(9), h(11)),), busy=[Busy(h(10), h(10), at(50))])]
    r = req(limit=100, slot_step=60, needs_travel=False)
    # 09:00 and 10:00 (the window's two ends): the empty busy neither splits the gap nor
    # counts as a place to travel from or to
    assert starts(generate_options(r, s, TRAVEL)) == [h(9), h(10)]


# ---------------------------------------------------------------- travel


def test_travel_from_previous_visit_and_hug_off_grid():
    s = [staff(busy=[Busy(h(9), h(10), at(23))])]
    r = req(buffer_before=5, limit=50, slot_step=15)
    options = generate_options(r, s, TRAVEL)
    got = starts(options)
    assert got[0] == h(10) + 23 + 5  # 10:28, the gap's lo, not on the grid
    assert h(10.5) in got
    first = next(o for o in options if o.start == got[0])
    assert first.travel_before == 23
    check_all(options, r, s)


def test_travel_to_next_visit():
    s = [staff(busy=[Busy(h(14), h(15), at(30))])]
    r = req(buffer_after=10, limit=100, slot_step=15)
    got = starts(generate_options(r, s, TRAVEL))
    morning = [x for x in got if x < h(14)]
    assert max(morning) == h(14) - 30 - 10 - 60  # 12:20
    opt = next(o for o in generate_options(r, s, TRAVEL) if o.start == h(12) + 20)
    assert opt.travel_after == 30


def test_busy_without_location_blocks_but_does_not_move_anyone():
    s = [staff(busy=[Busy(h(9), h(10), at(40)), Busy(h(10), h(10.5), None, "call")])]
    r = req(limit=50)
    got = starts(generate_options(r, s, TRAVEL))
    # P is the 09-10 visit 40 minutes away: 10:40, not 10:30
    assert got[0] == h(10) + 40


def test_busy_ending_exactly_at_work_start_is_the_previous_place():
    s = [staff(busy=[Busy(h(8), h(9), at(20))], home=at(50))]
    r = req(limit=5)
    options = generate_options(r, s, TRAVEL)
    assert options[0].start == h(9) + 20
    assert options[0].travel_before == 20


def test_tied_previous_visits_use_the_longest_leg():
    s = [staff(busy=[Busy(h(9), h(10), at(10)), Busy(h(9.5), h(10), at(35))])]
    r = req(limit=5)
    options = generate_options(r, s, TRAVEL)
    assert min(o.start for o in options) == h(10) + 35
    assert {o.travel_before for o in options} == {35}
    s = [staff(busy=[Busy(h(9), h(10), at(35)), Busy(h(9.5), h(10), at(10))])]
    assert min(o.start for o in generate_options(r, s, TRAVEL)) == h(10) + 35


def test_tied_next_visits_use_the_longest_leg():
    s = [staff(busy=[Busy(h(12), h(13), at(5)), Busy(h(12), h(12.5), at(45))])]
    r = req(limit=100, slot_step=5)
    morning = [o for o in generate_options(r, s, TRAVEL) if o.start < h(12)]
    assert max(o.start for o in morning) == h(12) - 45 - 60
    assert {o.travel_after for o in morning} == {45}


def test_home_base_at_both_ends_of_the_day():
    s = [staff(home=at(25))]
    r = req(limit=200, slot_step=15)
    options = generate_options(r, s, TRAVEL)
    got = starts(options)
    assert got[0] == h(9) + 25
    assert got[-1] == h(17) - 25 - 60
    first = next(o for o in options if o.start == got[0])
    assert (first.travel_before, first.travel_after) == (25, 25)
    assert first.reasons[0].code in REASON_CODES
    assert any(x.code == "from_home" and x.as_dict() == {"minutes": 25} for x in first.reasons)


def test_existing_in_person_visit_after_must_stay_reachable():
    # The new visit is far away; the 12:00 visit is next door to the previous one.
    s = [staff(busy=[Busy(h(9), h(10), at(0)), Busy(h(12), h(13), at(0))])]
    far = at(50)
    r = req(location=far, limit=100, slot_step=5)
    got = starts(generate_options(r, s, TRAVEL))
    assert not [x for x in got if x < h(12)]  # 10:00 + 50 + 60 + 50 > 12:00


def test_phone_appointment_has_no_travel():
    s = [staff(busy=[Busy(h(9), h(10), at(40))], home=at(30))]
    r = req(needs_travel=False, limit=5)
    options = generate_options(r, s, TRAVEL)
    assert options[0].start == h(10)
    assert all(o.travel_before == o.travel_after == 0 for o in options)
    r2 = req(location=None, limit=5)  # no location known: same thing
    assert generate_options(r2, s, TRAVEL)[0].start == h(10)
    assert not any(x.code in ("from_home", "travel_from_previous") for x in options[0].reasons)


def test_detour_not_legs_drives_the_travel_term():
    # Customer lies between the two visits: no detour at all.
    on_the_way = [staff(1, busy=[Busy(h(9), h(10), at(-20)), Busy(h(12), h(13), at(20))])]
    r = req(
        limit=1,
        window_end=h(12),
        weights=Weights(earliest=0, compact=0, skill=0, fairness=0, continuity=0),
    )
    assert generate_options(r, on_the_way, TRAVEL)[0].score == pytest.approx(1.0)
    # Same legs, but back and forth: 40 minutes of detour.
    detour = [staff(1, busy=[Busy(h(9), h(10), at(20)), Busy(h(12), h(13), at(20))])]
    assert generate_options(r, detour, TRAVEL)[0].score == pytest.approx(1 - 40 / 120)


# ---------------------------------------------------------------- request limits


def test_notice_window_and_horizon():
    s = [staff()]
    r = req(now=h(8), min_notice=95, limit=100)
    got = starts(generate_options(r, s, TRAVEL))
    assert got[:2] == [h(8) + 95, h(9.75)]  # 09:35 (the window's lo), then the grid


def test_window_and_horizon_bounds():
    s = [staff()]
    r = req(window_start=h(10), window_end=h(12), limit=100)
    got = starts(generate_options(r, s, TRAVEL))
    assert got[0] == h(10) and got[-1] == h(11)
    r = req(now=h(9), horizon=60, limit=100)
    got = starts(generate_options(r, s, TRAVEL))
    assert got[-1] == h(10)
    r = req(window_start=h(18), limit=100)
    assert generate_options(r, s, TRAVEL) == []


def test_eligibility():
    s = [
        staff(1, skills={"gas": 3}, region_ids=frozenset({1})),
        staff(2, skills={"gas": 1}, region_ids=frozenset({1})),
        staff(3, skills={"gas": 5}, region_ids=frozenset({2})),
    ]
    ids = lambda r: {o.staff_id for o in generate_options(r, s, TRAVEL)}  # noqa: E731
    assert ids(req(limit=100)) == {1, 2, 3}
    assert ids(req(limit=100, required_skills={"gas": 2})) == {1, 3}
    assert ids(req(limit=100, required_skills={"gas": 2}, region_id=1)) == {1}
    assert ids(req(limit=100, required_skills={"oil": 0})) == set()
    assert ids(req(limit=100, preferred_staff_id=2)) == {2}


def test_limit_and_tie_break():
    s = [staff(2), staff(1), staff(3)]
    r = req(limit=4)
    options = generate_options(r, s, TRAVEL)
    assert len(options) == 4
    assert [(o.staff_id, o.start) for o in options[:3]] == [(1, h(9)), (2, h(9)), (3, h(9))]
    assert generate_options(req(limit=0), s, TRAVEL) == []


def test_scores_are_ordered_and_reasons_bounded():
    s = [
        staff(1, booked_minutes=600, skills={"gas": 5}, home=at(10)),
        staff(2, booked_minutes=100, skills={"gas": 2}, home=at(40)),
    ]
    r = req(previous_staff_ids=(1,), required_skills={"gas": 1}, limit=60)
    options = generate_options(r, s, TRAVEL)
    assert [o.score for o in options] == sorted((o.score for o in options), reverse=True)
    assert options[0].staff_id == 1
    codes = {x.code for o in options for x in o.reasons}
    assert {"usual_staff", "substitute", "light_load", "skill_level", "from_home"} <= codes
    assert all(len(o.reasons) <= 4 for o in options)
    assert sum(x.code == "earliest" for o in options for x in o.reasons) == 1


def test_fills_gap_reason_and_compact_preference():
    s = [staff(busy=[Busy(h(9), h(10), at(10)), Busy(h(11) + 30, h(12), at(10))])]
    # 10:00 + 10 travel .. 11:30 - 10 travel leaves exactly 70 minutes: the visit fills it.
    r = req(duration=70, limit=3, slot_step=15)
    best = generate_options(r, s, TRAVEL)[0]
    assert best.start == h(10) + 10
    assert any(
        x.code == "fills_gap" and x.as_dict() == {"start": h(10), "end": h(11.5)}
        for x in best.reasons
    )


def test_compact_prefers_leaving_usable_pieces():
    s = [staff(working=((h(9), h(13)),), busy=[])]
    w = Weights(earliest=0.0, travel=0, continuity=0, skill=0, fairness=0)
    r = req(duration=60, weights=w, limit=100, slot_step=15, needs_travel=False)
    options = generate_options(r, s, TRAVEL)
    perfect = {o.start for o in options if o.score == 1.0}
    # 09:00 and 12:00 hug an edge; 10:00..11:00 leave pieces of >= 60 minutes on both sides;
    # 09:15 or 11:45 would strand 15 minutes.
    assert perfect == {h(9), h(10), h(10.25), h(10.5), h(10.75), h(11), h(12)}
    by_start = {o.start: o.score for o in options}
    assert by_start[h(9.25)] == pytest.approx(1 - 15 / 240)


# ---------------------------------------------------------------- gaps and free_at


def test_find_gaps():
    s = staff(
        working=((h(9), h(12)), (h(13), h(17))),
        busy=[Busy(h(8), h(9.5)), Busy(h(10), h(10.25)), Busy(h(14), h(16.5))],
    )
    assert find_gaps(s, h(0), h(24), 1) == [
        (h(9.5), h(10)),
        (h(10.25), h(12)),
        (h(13), h(14)),
        (h(16.5), h(17)),
    ]
    assert find_gaps(s, h(0), h(24), 45) == [(h(10.25), h(12)), (h(13), h(14))]
    assert find_gaps(s, h(11), h(13.5), 1) == [(h(11), h(12)), (h(13), h(13.5))]


def test_free_at():
    s = [
        staff(1, busy=[Busy(h(9), h(10), at(30))]),
        staff(2),
        staff(3, busy=[Busy(h(10), h(11))]),
    ]
    r = req(limit=1)
    got = free_at(r, s, h(10) + 10, TRAVEL)  # off grid is fine for an explicit time
    assert [o.staff_id for o in got] == [2]
    got = free_at(r, s, h(11), TRAVEL)
    assert sorted(o.staff_id for o in got) == [1, 2, 3]
    assert free_at(r, s, h(16) + 30, TRAVEL) == []  # would end after work


# ---------------------------------------------------------------- travel sources


def test_great_circle_travel():
    t = GreatCircleTravel()
    stockholm, uppsala = Point(59.3293, 18.0686), Point(59.8586, 17.6389)
    m = t.minutes(stockholm, uppsala)
    assert 120 <= m <= 130  # ~64 km x 1.3 at 40 km/h, rounded up
    assert t.minutes(stockholm, stockholm) == 0
    assert t.minutes(None, uppsala) == t.minutes(stockholm, None) == 0
    assert GreatCircleTravel(minimum=7).minutes(stockholm, Point(59.3294, 18.0686)) == 7
    assert t.matrix([stockholm, uppsala], [uppsala]) == [[m], [0]]


def test_memo_travel_asks_once_per_pair():
    source = LineTravel()
    memo = MemoTravel(source)
    for _ in range(3):
        assert memo.minutes(at(1), at(4)) == 3
        assert memo.minutes(at(4), at(1)) == 3
    assert source.calls == 2
    assert memo.matrix([at(1), at(2)], [at(4), None]) == [[3, 0], [2, 0]]
    assert source.calls == 4  # matrix default loops through minutes() for the unknown pairs


def test_engine_asks_each_pair_once():
    source = LineTravel()
    s = [
        staff(i, busy=[Busy(h(9), h(10), at(7)), Busy(h(15), h(16), at(7))], home=at(3))
        for i in range(1, 30)
    ]
    generate_options(req(limit=10), s, source)
    assert source.calls <= 6


def test_request_validation():
    with pytest.raises(ValueError):
        req(duration=0)
    with pytest.raises(ValueError):
        req(slot_step=0)
    with pytest.raises(ValueError):
        req(buffer_before=-1)
    with pytest.raises(ValueError):
        Weights(travel=-1)


def test_long_busy_from_before_the_window_still_blocks_and_locates():
    days = tuple((h(9) + k * 1440, h(17) + k * 1440) for k in range(4))
    s = [
        staff(
            working=days,
            busy=[
                Busy(h(8), h(9)),
                Busy(h(16), h(10) + 2 * 1440, at(30), "trip"),  # day 0 16:00 .. day 2 10:00
                Busy(h(12) + 2 * 1440, h(13) + 2 * 1440),
            ],
        )
    ]
    r = req(window_start=h(0) + 1440, window_end=h(24) + 3 * 1440, limit=50)
    options = generate_options(r, s, TRAVEL)
    # day 1 is blocked entirely; on day 2 the trip ends at 10:00, 30 minutes away
    first = min(options, key=lambda o: o.start)
    assert first.start == h(10) + 2 * 1440 + 30
    assert first.travel_before == 30
    check_all(options, r, s)
