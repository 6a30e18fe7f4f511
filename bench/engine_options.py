"""The option generator's pure core alone: 50, 500 and 5,000 staff, 14-day window, top 10.

Snapshots are built in memory (working hours from weekly rules, ~4 in-person visits a day per
staff member) by the same builder as `slotwise.scheduling.engine.perf_check`. This measures the
`engine_p95_ms` part of the issue's `options` figure; the database-backed end-to-end `options`
benchmark is added with the booking engine.
"""

import datetime as dt
import json
import math
import random
import statistics

from slotwise.scheduling.engine.perf_check import SCENARIOS, build_staff, run

RUNS = 200


def main() -> None:
    for n_staff in (50, 500, 5000):
        rng = random.Random(n_staff)
        staff = build_staff(rng, n_staff, dt.date(2025, 3, 24), 14)
        for scenario in ("typical", "new_customer"):
            times = sorted(run(staff, SCENARIOS[scenario], RUNS, 14, rng))
            p95 = times[max(0, math.ceil(0.95 * len(times)) - 1)]
            line = {
                "bench": "engine_options",
                "scenario": scenario,
                "staff": n_staff,
                "queries": RUNS,
                "p50_ms": round(statistics.median(times), 3),
                "p95_ms": round(p95, 3),
            }
            print(json.dumps(line), flush=True)
