"""The option generator end to end on PostgreSQL: 50, 500 and 5,000 staff, 14-day window, top 10.

For each staff size the benchmark builds its own organisation (unique slug) in the database of
``DATABASE_URL``: staff spread over the Netherlands in postcode regions (1000-9999 in chunks of
1,000), skills, weekly working hours (9-hour shifts, every day of the week), 30 days with 4
in-person bookings per staff member per day at random places in the shift (60,000 for 500
staff), some time off and external busy time, and 1,000,000 past appointments (status done). Bulk rows go in with PostgreSQL ``COPY`` and ``INSERT ... SELECT generate_series``;
everything it created is deleted at the end, also on error.

Each query: a random appointment type (customer's address, with skills) and a random postcode
(coordinates near its region's centre), a contact with history half of the time, a 14-day window
from now, top 10 — ``visit_spec`` + ``find_options``, as the booker and the API call them. 200
queries after 20 warm-up ones. Per size one JSON line::

    {"bench": "options", "staff": 500, "p50_ms": ..., "p95_ms": ..., "engine_p95_ms": ...,
     "floor_p95_ms": ..., ...}

``engine_p95_ms`` is the pure engine (``generate_options``) inside those queries;
``floor_p95_ms`` is one indexed SQL query (a raw psycopg cursor, binary results, rows fetched)
returning the candidates' raw busy intervals (active bookings: staff, blocked start and end,
location) for the window through ``booking_active_staff_end_idx`` — the least any implementation
has to read.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import statistics
import sys
import time
import uuid
from zoneinfo import ZoneInfo

SIZES = (50, 500, 5000)
QUERIES = 200
WARMUP = 20
DAYS = 30
PER_DAY = 4
PAST = 1_000_000
CONTACTS = 20_000
TZ = "Europe/Amsterdam"
REGION_CHUNK = 1000  # postcodes 1000-1999, 2000-2999, ... 9000-9999: 9 regions
LOCATIONS_PER_REGION = 400
# Rough centres of the postcode areas (the first digit) in the Netherlands.
CENTRES = {
    1: (52.37, 4.90),
    2: (52.08, 4.30),
    3: (51.92, 4.48),
    4: (51.50, 3.90),
    5: (51.44, 5.48),
    6: (51.85, 5.86),
    7: (52.22, 6.89),
    8: (52.51, 6.09),
    9: (53.22, 6.57),
}


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slotwise.settings")
    os.environ.setdefault("SLOTWISE_TESTING", "1")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("bench options needs PostgreSQL: set DATABASE_URL")
    call_command("migrate", verbosity=0)


def _defaults(model) -> dict[str, object]:
    """column -> Python default for every concrete column (so new fields with defaults work)."""
    out = {}
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        if f.has_default():
            value = f.get_default()
        elif f.null:
            value = None
        elif f.get_internal_type() in ("CharField", "TextField", "SlugField", "EmailField"):
            value = ""
        else:
            value = None
        if hasattr(value, "pk"):
            value = value.pk
        out[f.column] = value
    return out


def _copy(cur, model, columns: list[str], rows) -> int:
    """COPY rows into the model's table; columns not given take their default."""
    defaults = _defaults(model)
    now = dt.datetime.now(dt.UTC)
    for c in ("created_at", "updated_at"):
        if c in defaults and c not in columns:
            defaults[c] = now
    extra = [c for c in defaults if c not in columns]
    # uuid defaults are per row
    per_row_uuid = [c for c in extra if isinstance(defaults[c], uuid.UUID)]
    fixed = [c for c in extra if c not in per_row_uuid]
    cols = columns + fixed + per_row_uuid
    fixed_values = tuple(defaults[c] for c in fixed)
    table = model._meta.db_table
    n = 0
    with cur.copy(
        f'COPY "{table}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in cols)}) FROM STDIN'
    ) as cp:
        for row in rows:
            cp.write_row((*row, *fixed_values, *(uuid.uuid4() for _ in per_row_uuid)))
            n += 1
    return n


class Dataset:
    """One benchmark organisation and everything in it."""

    def __init__(self, n_staff: int, rng: random.Random, slug: str | None = None):
        self.n = n_staff
        self.rng = rng
        self.slug = slug or f"bench-options-{n_staff}-{uuid.uuid4().hex[:8]}"
        self.org = None

    # -- build ---------------------------------------------------------------------------------
    def build(self) -> None:
        from django.db import connection, transaction

        from slotwise.accounts.models import User
        from slotwise.bookings.models import Booking
        from slotwise.customers.models import Contact
        from slotwise.org.models import (
            Location,
            Organisation,
            OrgUnit,
            Region,
            RegionRange,
            Skill,
            Staff,
            StaffSkill,
        )
        from slotwise.scheduling.models import (
            AppointmentType,
            AppointmentTypeSkill,
            ExternalBusy,
            SchedulingPolicy,
            TimeOff,
            WorkingHours,
        )

        rng = self.rng
        t0 = time.perf_counter()
        zone = ZoneInfo(TZ)
        with transaction.atomic():
            org = self.org = Organisation.objects.create(
                name=f"Bench {self.n}",
                slug=self.slug,
                country="NL",
                time_zone=TZ,
                currency="EUR",
                default_language="en",
            )
            SchedulingPolicy.objects.create(organisation=org, observe_public_holidays=True)
            root = OrgUnit.objects.create(organisation=org, name="NL", kind="department")
            root.path = f"/{root.pk}/"
            root.save(update_fields=["path"])
            units = []
            for i in range(10):
                u = OrgUnit.objects.create(
                    organisation=org, name=f"Branch {i}", kind="branch", parent=root
                )
                u.path = f"{root.path}{u.pk}/"
                u.save(update_fields=["path"])
                units.append(u)
            regions = []
            for first in range(1, 10):
                lo, hi = first * REGION_CHUNK, first * REGION_CHUNK + REGION_CHUNK - 1
                r = Region.objects.create(
                    organisation=org, name=f"{lo}-{hi}", country="NL", postcodes=f"{lo}-{hi}"
                )
                RegionRange.objects.create(region=r, start=str(lo), end=str(hi))
                regions.append(r)
            skills = [
                Skill.objects.create(organisation=org, code=code, name=code)
                for code in ("plumbing", "electric", "heating")
            ]
            types = []
            for slug, dur, req, bb, ba in (
                ("repair", 60, {"plumbing": 2}, 0, 15),
                ("install", 90, {"electric": 3}, 10, 10),
                ("service", 45, {"heating": 1}, 0, 0),
                ("inspection", 60, {"plumbing": 1, "heating": 2}, 0, 10),
            ):
                t = AppointmentType.objects.create(
                    organisation=org,
                    name=slug,
                    slug=slug,
                    duration_minutes=dur,
                    buffer_before=bb,
                    buffer_after=ba,
                    mode="customer_address",
                    currency="EUR",
                    min_notice_minutes=120,
                    horizon_days=60,
                )
                for code, level in req.items():
                    skill = next(s for s in skills if s.code == code)
                    AppointmentTypeSkill.objects.create(type=t, skill=skill, min_level=level)
                types.append(t)
            self.type_ids = [t.pk for t in types]
            self.region_ids = [r.pk for r in regions]

            with connection.cursor() as dj_cur:
                cur = dj_cur.cursor
                # Locations: a pool per region, near its centre.
                loc_rows = []
                for ri in range(9):
                    clat, clng = CENTRES[ri + 1]
                    for _ in range(LOCATIONS_PER_REGION):
                        pc = (ri + 1) * 1000 + rng.randrange(1000)
                        loc_rows.append(
                            (
                                org.pk,
                                f"{pc} AA",
                                "NL",
                                clat + rng.uniform(-0.15, 0.15),
                                clng + rng.uniform(-0.25, 0.25),
                            )
                        )
                _copy(
                    cur,
                    Location,
                    ["organisation_id", "postcode", "country", "lat", "lng"],
                    loc_rows,
                )
                cur.execute(
                    "SELECT id FROM org_location WHERE organisation_id = %s ORDER BY id", (org.pk,)
                )
                loc_ids = [r[0] for r in cur.fetchall()]
                pools = [
                    loc_ids[i * LOCATIONS_PER_REGION : (i + 1) * LOCATIONS_PER_REGION]
                    for i in range(9)
                ]
                # Users and staff.
                _copy(
                    cur,
                    User,
                    ["username", "first_name", "last_name", "password", "is_staff"],
                    ((f"{self.slug}-{i}", f"Tech{i}", "Bench", "!", True) for i in range(self.n)),
                )
                cur.execute(
                    "SELECT id FROM accounts_user WHERE username LIKE %s ORDER BY id",
                    (f"{self.slug}-%",),
                )
                user_ids = [r[0] for r in cur.fetchall()]
                staff_rows = []
                self.staff_region = []
                for i, uid in enumerate(user_ids):
                    ri = rng.randrange(9)
                    self.staff_region.append(ri)
                    staff_rows.append(
                        (
                            org.pk,
                            uid,
                            units[i % 10].pk,
                            dt.date(2020, 1, 1),
                            rng.choice(pools[ri]),
                            json.dumps([]),
                        )
                    )
                _copy(
                    cur,
                    Staff,
                    [
                        "organisation_id",
                        "user_id",
                        "unit_id",
                        "active_from",
                        "home_base_id",
                        "languages",
                    ],
                    staff_rows,
                )
                cur.execute(
                    "SELECT id FROM org_staff WHERE organisation_id = %s ORDER BY user_id",
                    (org.pk,),
                )
                staff_ids = [r[0] for r in cur.fetchall()]
                self.staff_ids = staff_ids
                # Regions served: the home region and, for most, a neighbour.
                rows = []
                for sid, ri in zip(staff_ids, self.staff_region, strict=True):
                    served = {ri}
                    if rng.random() < 0.7:
                        served.add((ri + rng.choice((-1, 1))) % 9)
                    rows.extend((sid, regions[x].pk) for x in served)
                _copy(cur, Staff.regions.through, ["staff_id", "region_id"], rows)
                # Skills.
                rows = []
                for sid in staff_ids:
                    for skill in skills:
                        if rng.random() < 0.8:
                            rows.append((sid, skill.pk, rng.randint(1, 5)))
                _copy(cur, StaffSkill, ["staff_id", "skill_id", "level"], rows)
                # Working hours: 9-hour shifts starting at 7, 8, 9 or 10, every day of the week
                # (field service with weekend cover), a quarter of the staff with a day off.
                rows = []
                shifts = []
                for sid in staff_ids:
                    start = rng.choice((7, 8, 9, 10))
                    shifts.append(start)
                    off = rng.randrange(7) if rng.random() < 0.25 else None
                    for wd in range(7):
                        if wd != off:
                            rows.append((sid, wd, dt.time(start), dt.time(start + 9)))
                _copy(cur, WorkingHours, ["staff_id", "weekday", "start", "end"], rows)
                # Contacts.
                _copy(
                    cur,
                    Contact,
                    ["organisation_id", "first_name", "last_name"],
                    ((org.pk, f"C{i}", "Bench") for i in range(CONTACTS)),
                )
                cur.execute(
                    "SELECT min(id), max(id) FROM customers_contact WHERE organisation_id = %s",
                    (org.pk,),
                )
                c_lo, c_hi = cur.fetchone()
                self.contact_range = (c_lo, c_hi)
                log(f"  staff, hours, skills, regions, contacts: {time.perf_counter() - t0:.1f}s")

                # Upcoming bookings: 30 days x 4 per staff member per day, 60 minutes each plus a
                # 15-minute buffer, at random places in the shift (the free time is cut at random
                # points on a 15-minute grid, so gaps range from none to hours).
                today = dt.datetime.now(zone).date()
                unit_of = {sid: units[i % 10].pk for i, sid in enumerate(staff_ids)}
                free_quarters = (9 * 60 - PER_DAY * 75) // 15

                def upcoming():
                    for i, sid in enumerate(staff_ids):
                        pool = pools[self.staff_region[i]]
                        shift = shifts[i]
                        for d in range(DAYS):
                            day = today + dt.timedelta(days=d)
                            cuts = sorted(rng.randint(0, free_quarters) for _ in range(PER_DAY))
                            shift_start = dt.datetime.combine(day, dt.time(shift), tzinfo=zone)
                            for k in range(PER_DAY):
                                local = shift_start + dt.timedelta(minutes=15 * cuts[k] + 75 * k)
                                start = local.astimezone(dt.UTC)
                                end = start + dt.timedelta(minutes=60)
                                yield (
                                    org.pk,
                                    self.type_ids[rng.randrange(4)],
                                    sid,
                                    rng.randint(c_lo, c_hi),
                                    unit_of[sid],
                                    start,
                                    end,
                                    start,
                                    end + dt.timedelta(minutes=15),
                                    "confirmed",
                                    True,
                                    rng.choice(pool),
                                    1,
                                )

                booking_cols = [
                    "organisation_id",
                    "type_id",
                    "staff_id",
                    "contact_id",
                    "unit_id",
                    "start",
                    "end",
                    "blocked_start",
                    "blocked_end",
                    "status",
                    "exclusive",
                    "location_id",
                    "seats",
                ]
                n_up = _copy(cur, Booking, booking_cols, upcoming())
                log(f"  {n_up} upcoming bookings: {time.perf_counter() - t0:.1f}s")

                # Time off (a few staff away for two days) and external busy time.
                rows = []
                for sid in rng.sample(staff_ids, max(1, len(staff_ids) // 20)):
                    start = dt.datetime.combine(
                        today + dt.timedelta(days=rng.randrange(14)), dt.time(), tzinfo=zone
                    )
                    rows.append((sid, start, start + dt.timedelta(days=2)))
                _copy(cur, TimeOff, ["staff_id", "start", "end"], rows)
                rows = []
                for sid in rng.sample(staff_ids, max(1, len(staff_ids) // 5)):
                    start = dt.datetime.combine(
                        today + dt.timedelta(days=rng.randrange(14)), dt.time(12), tzinfo=zone
                    )
                    rows.append((sid, start, start + dt.timedelta(minutes=45)))
                _copy(cur, ExternalBusy, ["staff_id", "start", "end"], rows)

                # 1,000,000 past appointments, generated by the server.
                self._past(cur, Booking, org, staff_ids, unit_of, (c_lo, c_hi))
                log(f"  {PAST} past appointments: {time.perf_counter() - t0:.1f}s")
        with connection.cursor() as cur:
            for table in (
                "bookings_booking",
                "accounts_user",
                "customers_contact",
                "org_location",
                "org_staff",
                "org_staff_regions",
                "org_staffskill",
                "org_region",
                "org_regionrange",
                "scheduling_workinghours",
                "scheduling_timeoff",
                "scheduling_externalbusy",
            ):
                cur.execute(f"ANALYZE {table}")
        log(f"  built in {time.perf_counter() - t0:.1f}s")

    def _past(self, cur, Booking, org, staff_ids, unit_of, contacts) -> None:  # noqa: N803
        defaults = _defaults(Booking)
        given = {
            "created_at": "now()",
            "updated_at": "now()",
            "public_id": "gen_random_uuid()",
            "organisation_id": "%(org)s",
            "type_id": "(%(types)s::bigint[])[1 + (g %% 4)]",
            "staff_id": "s.staff_id",
            "contact_id": "%(c_lo)s + (g * 7919) %% %(c_n)s",
            "unit_id": "s.unit_id",
            "start": "x.start",
            "end": "x.start + interval '60 minutes'",
            "blocked_start": "x.start",
            "blocked_end": "x.start + interval '60 minutes'",
            "status": "'done'",
            "exclusive": "true",
            "location_id": "NULL",
            "seats": "1",
        }
        params = {
            "org": org.pk,
            "types": self.type_ids,
            "c_lo": contacts[0],
            "c_n": contacts[1] - contacts[0] + 1,
            "staff": staff_ids,
            "units": [unit_of[s] for s in staff_ids],
            "n_staff": len(staff_ids),
            "past": PAST,
        }
        cols, exprs = [], []
        for column, default in defaults.items():
            cols.append(f'"{column}"')
            if column in given:
                exprs.append(given[column])
            else:
                key = f"d_{column}"
                params[key] = default
                exprs.append(f"%({key})s")
        sql = f"""
            INSERT INTO bookings_booking ({", ".join(cols)})
            SELECT {", ".join(exprs)}
            FROM generate_series(1::bigint, %(past)s::bigint) AS g
            CROSS JOIN LATERAL (
                SELECT (%(staff)s::bigint[])[1 + (g %% %(n_staff)s)] AS staff_id,
                       (%(units)s::bigint[])[1 + (g %% %(n_staff)s)] AS unit_id
            ) s
            CROSS JOIN LATERAL (
                SELECT date_trunc('hour', now() - interval '2 days'
                       - ((g * 37) %% (730 * 24)) * interval '1 hour') AS start
            ) x
        """
        cur.execute(sql, params)

    def attach(self) -> None:
        """Use an organisation an earlier run kept (BENCH_OPTIONS_KEEP=1) instead of building."""
        from django.db import connection

        from slotwise.org.models import Organisation

        self.org = Organisation.objects.get(slug=self.slug)
        with connection.cursor() as cur:
            cur.execute(
                "SELECT id FROM scheduling_appointmenttype WHERE organisation_id = %s ORDER BY id",
                [self.org.pk],
            )
            self.type_ids = [r[0] for r in cur.fetchall()]
            cur.execute(
                "SELECT min(id), max(id) FROM customers_contact WHERE organisation_id = %s",
                [self.org.pk],
            )
            self.contact_range = cur.fetchone()
            cur.execute("SELECT count(*) FROM org_staff WHERE organisation_id = %s", [self.org.pk])
            self.n = cur.fetchone()[0]

    # -- queries -------------------------------------------------------------------------------
    def contact_with_history(self):
        return self.rng.randint(*self.contact_range)

    # -- clean up ------------------------------------------------------------------------------
    def drop(self) -> None:
        from django.db import connection

        if self.org is None:
            from slotwise.org.models import Organisation

            org = Organisation.objects.filter(slug=self.slug).first()
            if org is None:
                return
            self.org = org
        org_id = self.org.pk
        t0 = time.perf_counter()
        with connection.cursor() as cur:
            staff_sub = "SELECT id FROM org_staff WHERE organisation_id = %s"
            statements = [
                "DELETE FROM bookings_booking_services WHERE booking_id IN "
                "(SELECT id FROM bookings_booking WHERE organisation_id = %s)",
                "DELETE FROM bookings_booking WHERE organisation_id = %s",
                "DELETE FROM customers_timelineentry WHERE organisation_id = %s",
                "DELETE FROM customers_contact WHERE organisation_id = %s",
                f"DELETE FROM scheduling_workinghours WHERE staff_id IN ({staff_sub})",
                f"DELETE FROM scheduling_availabilityexception WHERE staff_id IN ({staff_sub})",
                f"DELETE FROM scheduling_timeoff WHERE staff_id IN ({staff_sub})",
                f"DELETE FROM scheduling_externalbusy WHERE staff_id IN ({staff_sub})",
                f"DELETE FROM org_staffskill WHERE staff_id IN ({staff_sub})",
                f"DELETE FROM org_staff_regions WHERE staff_id IN ({staff_sub})",
                f"DELETE FROM org_staffrole WHERE staff_id IN ({staff_sub})",
            ]
            cur.execute("SELECT user_id FROM org_staff WHERE organisation_id = %s", [org_id])
            user_ids = [r[0] for r in cur.fetchall()]
            statements.append("DELETE FROM org_staff WHERE organisation_id = %s")
            statements.append(
                "DELETE FROM org_orgunit WHERE organisation_id = %s AND parent_id IS NOT NULL"
            )
            for sql in statements:
                cur.execute(sql, [org_id])
            cur.execute("DELETE FROM accounts_user WHERE id = ANY(%s)", [user_ids])
        # What is left is small: the ORM cascades it (types, units, regions, skills, policy,
        # locations, the organisation) and their history rows go with a few plain deletes.
        from django.apps import apps

        self.org.delete()
        with connection.cursor() as cur:
            for model in apps.get_models():
                if model.__name__.startswith("Historical") and any(
                    f.column == "organisation_id" for f in model._meta.concrete_fields
                ):
                    cur.execute(
                        f'DELETE FROM "{model._meta.db_table}" WHERE organisation_id = %s',
                        [org_id],
                    )
            cur.execute("DELETE FROM org_historicalorganisation WHERE id = %s", [org_id])
        log(f"  cleaned up in {time.perf_counter() - t0:.1f}s")


FLOOR_SQL = """
SELECT staff_id, blocked_start, blocked_end, location_id
FROM bookings_booking
WHERE staff_id = ANY(%s) AND status IN ('held', 'confirmed')
  AND blocked_end > %s AND blocked_start < %s
"""


def raw_cursor():
    """The fastest plain read psycopg offers: a raw cursor, parameters bound by the server,
    results in binary (timestamps are not parsed from text)."""
    import psycopg
    from django.db import connection

    connection.ensure_connection()
    cur = psycopg.Cursor(connection.connection)
    cur.format = psycopg.pq.Format.BINARY
    return cur


def _p(values, q):
    values = sorted(values)
    return values[max(0, math.ceil(q * len(values)) - 1)]


def measure(ds: Dataset) -> dict:

    from slotwise.customers.models import Contact
    from slotwise.org.models import Location
    from slotwise.scheduling import selectors
    from slotwise.scheduling.models import AppointmentType

    rng = ds.rng
    org = ds.org
    types = {t.pk: t for t in AppointmentType.objects.filter(pk__in=ds.type_ids)}
    engine_times: list[float] = []
    seen: dict = {}
    real_generate = selectors.generate_options

    def timed_generate(request, staff, travel):
        t0 = time.perf_counter()
        out = real_generate(request, staff, travel)
        engine_times.append((time.perf_counter() - t0) * 1000)
        seen["ids"] = [s.id for s in staff]
        return out

    selectors.generate_options = timed_generate
    totals, floors, candidates, n_options = [], [], [], []
    try:
        for i in range(WARMUP + QUERIES):
            t = types[rng.choice(ds.type_ids)]
            region = rng.randrange(9)
            clat, clng = CENTRES[region + 1]
            pc = (region + 1) * 1000 + rng.randrange(1000)
            location = Location(
                organisation=org,
                postcode=f"{pc} AB",
                country="NL",
                lat=clat + rng.uniform(-0.15, 0.15),
                lng=clng + rng.uniform(-0.25, 0.25),
            )
            contact = None
            if rng.random() < 0.5:
                contact = Contact(pk=ds.contact_with_history(), organisation=org)
            seen.clear()
            now = dt.datetime.now(dt.UTC)
            t0 = time.perf_counter()
            spec = selectors.visit_spec([t])
            options = selectors.find_options(
                organisation=org,
                spec=spec,
                location=location,
                window_start=now,
                window_end=now + dt.timedelta(days=14),
                contact=contact,
                now=now,
                limit=10,
            )
            elapsed = (time.perf_counter() - t0) * 1000
            ids = seen.get("ids", [])
            t1 = time.perf_counter()
            with raw_cursor() as cur:
                cur.execute(FLOOR_SQL, [ids, now, now + dt.timedelta(days=14)])
                cur.fetchall()
            floor = (time.perf_counter() - t1) * 1000
            if i >= WARMUP:
                totals.append(elapsed)
                floors.append(floor)
                candidates.append(len(ids))
                n_options.append(len(options))
            else:
                engine_times.clear()
    finally:
        selectors.generate_options = real_generate
    return {
        "bench": "options",
        "staff": ds.n,
        "queries": QUERIES,
        "p50_ms": round(statistics.median(totals), 2),
        "p95_ms": round(_p(totals, 0.95), 2),
        "engine_p95_ms": round(_p(engine_times, 0.95), 2),
        "floor_p95_ms": round(_p(floors, 0.95), 2),
        "candidates_mean": round(statistics.mean(candidates), 1),
        "options_mean": round(statistics.mean(n_options), 1),
        "upcoming_bookings": ds.n * DAYS * PER_DAY,
        "past_appointments": PAST,
    }


def _drop_leftovers() -> None:
    """Organisations a killed run of this benchmark left behind (older than an hour)."""
    from slotwise.org.models import Organisation

    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    for slug in Organisation.objects.filter(
        slug__startswith="bench-options-", created_at__lt=cutoff
    ).values_list("slug", flat=True):
        log(f"options: removing leftover {slug}")
        Dataset(0, random.Random(0), slug=slug).drop()


def main() -> None:
    _setup()
    _drop_leftovers()
    sizes = SIZES
    only = os.environ.get("BENCH_OPTIONS_SIZES")
    if only:
        sizes = tuple(int(x) for x in only.split(","))
    # For profiling: BENCH_OPTIONS_KEEP=1 keeps the data and prints its slug;
    # BENCH_OPTIONS_REUSE=<slug> measures on it again without building.
    keep = os.environ.get("BENCH_OPTIONS_KEEP") == "1"
    reuse = os.environ.get("BENCH_OPTIONS_REUSE")
    if reuse:
        ds = Dataset(0, random.Random(1), slug=reuse)
        ds.attach()
        print(json.dumps(measure(ds)), flush=True)
        return
    for n in sizes:
        rng = random.Random(n)
        ds = Dataset(n, rng)
        log(f"options: building {n} staff")
        try:
            ds.build()
            log(f"options: {QUERIES} queries")
            line = measure(ds)
            print(json.dumps(line), flush=True)
        finally:
            if keep:
                log(f"options: kept {ds.slug}")
            else:
                ds.drop()
