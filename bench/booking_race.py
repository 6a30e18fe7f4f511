"""Rule 4 over HTTP (issue 3, "booking_race"): 200 concurrent attempts to book one slot against
the real server (uvicorn, 2 workers, PostgreSQL) — exactly one succeeds, every other attempt
gets 409 with fresh options, none gets a 5xx.

    {"bench": "booking_race", "attempts": 200, "successes": 1, "errors_5xx": 0, ...}

It builds its own organisation (see `booking_http.build_dataset`) and deletes it at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from zoneinfo import ZoneInfo

from bench.booking_http import (
    build_dataset,
    cleanup,
    double_bookings,
    log,
    next_workdays,
    percentile,
    run_clients,
    server,
    setup_django,
)

ATTEMPTS = 200
CLIENTS = 50


def measure(*, attempts: int = ATTEMPTS, clients: int = CLIENTS) -> dict:
    data = None
    try:
        data = build_dataset(label="race", n_staff=2, n_contacts=attempts)
        zone = ZoneInfo(data["org"].time_zone)
        day = next_workdays(zone, 1)[0]
        start = dt.datetime.combine(day, dt.time(10), tzinfo=zone)
        member = data["staff"][0]
        jobs = [
            {
                "type": "consult",
                "staff": member.pk,
                "start": start.isoformat(),
                "contact": str(contact.public_id),
            }
            for contact in data["contacts"][:attempts]
        ]
        with server() as (base, _pid):
            result = run_clients(base, data["token"], jobs, clients)
        from slotwise.bookings.models import Booking

        statuses = result["statuses"]
        if result["errors"]:
            log("errors:", *result["errors"][:5], sep="\n  ")
        return {
            "bench": "booking_race",
            "attempts": attempts,
            "clients": clients,
            "successes": statuses.get(201, 0),
            "conflicts_409": statuses.get(409, 0),
            "errors_5xx": sum(n for code, n in statuses.items() if code >= 500),
            "other": sum(
                n for code, n in statuses.items() if code not in (201, 409) and code < 500
            ),
            "rows": Booking.objects.filter(organisation=data["org"]).count(),
            "double_bookings": double_bookings(data["org"].pk),
            "p50_ms": round(statistics.median(result["latencies"]), 1),
            "p95_ms": round(percentile(result["latencies"], 0.95), 1),
        }
    finally:
        cleanup(data)


def main() -> None:
    setup_django()
    print(json.dumps(measure()), flush=True)


if __name__ == "__main__":
    main()
