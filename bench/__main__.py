"""`make bench` runs every benchmark; `make bench BENCH=<name>` runs one.

Each benchmark prints one JSON line per measurement on stdout (with a "bench" key); progress goes
to stderr. Benchmarks build their own data and clean up after themselves.
"""

import argparse
import importlib
import os
import sys

BENCHMARKS = {
    "engine_options": "bench.engine_options",
    "booking_race": "bench.booking_race",
    "booking_http": "bench.booking_http",
    "options": "bench.options",
    "payment_callbacks": "bench.payment_callbacks",
    "inbound": "bench.inbound",
    "outbox": "bench.outbox",
    "onboarding": "bench.onboarding",
    "dispatch_board": "bench.dispatch_board",
    "tech_today": "bench.tech_today",
}


def ensure_database() -> None:
    """Create the PostgreSQL database named in DATABASE_URL when it does not exist yet (a fresh
    machine has none); each benchmark migrates it itself."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return
    import dj_database_url
    import psycopg
    from psycopg import sql

    cfg = dj_database_url.parse(url)
    params = {
        "host": cfg.get("HOST") or None,
        "port": cfg.get("PORT") or None,
        "user": cfg.get("USER") or None,
        "password": cfg.get("PASSWORD") or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]])
        if exists.fetchone() is None:
            print(f"bench: creating database {cfg['NAME']}", file=sys.stderr)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))


def main() -> int:
    ensure_database()
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=sorted(BENCHMARKS))
    args = parser.parse_args()
    names = [args.only] if args.only else sorted(BENCHMARKS)
    for name in names:
        print(f"bench: {name}", file=sys.stderr)
        importlib.import_module(BENCHMARKS[name]).main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
