"""Micro-benchmark of :func:`generate_options` (not a test).

Run: ``python -m slotwise.scheduling.engine.perf_check [--staff 500] [--days 14] [--runs 50]``.
Builds random snapshots (working hours from weekly rules in Europe/Stockholm, ~4 in-person busies
a day per staff member, homes and visits spread over a ~30 km city) and prints p50/p95 wall time
of ``generate_options`` with ``limit=10``; each run gets a new customer location and a fresh
travel memo.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import statistics
import time

from .calendar import WeeklyRule, expand_working_time, to_minutes
from .generate import generate_options
from .travel import GreatCircleTravel
from .types import Busy, Point, Request, StaffSnapshot, Weights

CITY = Point(59.3293, 18.0686)
TZ = "Europe/Stockholm"


def _near(rng: random.Random, km: float = 15.0) -> Point:
    return Point(CITY.lat + rng.uniform(-km, km) / 111.0, CITY.lng + rng.uniform(-km, km) / 56.0)


def build_staff(rng: random.Random, n_staff: int, first: dt.date, days: int, per_day: float = 4.3):
    """``n_staff`` snapshots with about ``per_day`` busies per calendar day each."""
    last = first + dt.timedelta(days=days - 1)
    staff = []
    for sid in range(1, n_staff + 1):
        shift = rng.choice([7, 8, 9])
        day_off = rng.randrange(7)
        rules = [WeeklyRule(wd, dt.time(shift), dt.time(shift + 9)) for wd in range(7)]
        rules = [r for r in rules if r.weekday != day_off]
        working = expand_working_time(rules, (), TZ, first, last)
        target = per_day * days / max(1, len(working))  # busies per working day
        busy = []
        for ws, we in working:
            n = max(0, round(rng.gauss(target, 1.0)))
            t = ws
            for _ in range(n):
                t += rng.choice([0, 0, 10, 15, 30, 45, 60])
                length = rng.choice([30, 45, 60, 75, 90])
                if t + length > we:
                    break
                loc = None if rng.random() < 0.1 else _near(rng)
                busy.append(Busy(t, t + length, loc, "booking" if loc else "call"))
                t += length + rng.randint(5, 30)
        staff.append(
            StaffSnapshot(
                id=sid,
                working=working,
                busy=tuple(busy),
                home=_near(rng),
                skills={"plumbing": rng.randint(1, 5), "electric": rng.randint(0, 5)},
                region_ids=frozenset({1} if rng.random() < 0.9 else {2}),
                booked_minutes=sum(b.end - b.start for b in busy),
            )
        )
    return staff


SCENARIOS = {
    # a returning customer: skill and region filter, two previous staff members
    "typical": dict(required_skills={"plumbing": 2}, region_id=1, previous=2),
    # a new customer: every one of the staff is eligible, no continuity to lean on
    "new_customer": dict(previous=0),
    # ... and the fairness term switched off: nothing but time, travel and gaps separate staff
    "time_and_travel_only": dict(previous=0, weights=Weights(fairness=0.0, skill=0.0)),
    # a phone call: no travel at all
    "phone": dict(previous=0, needs_travel=False),
}


def run(staff, scenario: dict, runs: int, days: int, rng: random.Random) -> list[float]:
    start_of_window = to_minutes(dt.datetime(2025, 3, 24, 6, 0, tzinfo=dt.UTC))
    travel = GreatCircleTravel()
    extra = {k: v for k, v in scenario.items() if k != "previous"}
    times = []
    for _ in range(runs):
        now = start_of_window + rng.randint(0, 600)
        request = Request(
            duration=rng.choice([60, 90]),
            buffer_before=10,
            buffer_after=10,
            location=_near(rng),
            window_start=now,
            window_end=start_of_window + days * 1440,
            now=now,
            min_notice=120,
            previous_staff_ids=tuple(rng.sample(range(1, len(staff) + 1), scenario["previous"])),
            **extra,
        )
        t0 = time.perf_counter()
        options = generate_options(request, staff, travel)
        times.append((time.perf_counter() - t0) * 1000)
        assert len(options) == request.limit
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--staff", type=int, default=500)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    staff = build_staff(rng, args.staff, dt.date(2025, 3, 24), args.days)
    busies = sum(len(s.busy) for s in staff)
    print(f"staff={len(staff)} days={args.days} busies={busies} limit=10 runs={args.runs}")
    for name, scenario in SCENARIOS.items():
        times = sorted(run(staff, scenario, args.runs, args.days, rng))
        p50 = statistics.median(times)
        p95 = times[max(0, math.ceil(0.95 * len(times)) - 1)]
        print(f"{name:22s} p50={p50:6.2f} ms  p95={p95:6.2f} ms  max={times[-1]:6.2f} ms")


if __name__ == "__main__":
    main()
