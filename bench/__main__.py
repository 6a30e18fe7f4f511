"""`make bench` runs every benchmark; `make bench BENCH=<name>` runs one.

Each benchmark prints one JSON line per measurement on stdout (with a "bench" key); progress goes
to stderr. Benchmarks build their own data and clean up after themselves.
"""

import argparse
import importlib
import sys

BENCHMARKS = {
    "engine_options": "bench.engine_options",
    "booking_race": "bench.booking_race",
    "booking_http": "bench.booking_http",
    "options": "bench.options",
}


def main() -> int:
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
