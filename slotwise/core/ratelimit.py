"""Rate limits on the shared cache: login codes, public booking attempts.

A sliding-window counter: each key counts events in fixed windows of one period, and a hit is
judged against ``current + previous × (share of the previous window still inside the period)``.
Unlike a plain fixed window, the count does not drop to zero at a window boundary, so a burst
that straddles the boundary is limited too.
"""

from __future__ import annotations

import re
import time

from django.core.cache import cache

_PERIOD_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")


def parse_rate(rate: str) -> tuple[int, int]:
    """ "3/10m" → (3, 600): at most 3 events per 600 seconds."""
    match = _RATE_RE.match(rate or "")
    if not match:
        raise ValueError(f"Bad rate {rate!r}; expected e.g. '3/10m'.")
    count, amount, unit = match.groups()
    return int(count), int(amount or 1) * _PERIOD_UNITS[unit]


def hit(key: str, rate: str, *, now: float | None = None) -> bool:
    """Count one event under `key`; False when it goes past `rate` ("3/10m")."""
    limit, period = parse_rate(rate)
    window, offset = divmod(time.time() if now is None else now, period)
    current = f"ratelimit:{key}:{int(window)}"
    cache.add(current, 0, timeout=2 * period)
    try:
        count = cache.incr(current)
    except ValueError:  # expired between add and incr
        cache.set(current, 1, timeout=2 * period)
        count = 1
    previous = cache.get(f"ratelimit:{key}:{int(window) - 1}", 0)
    return count + previous * (1 - offset / period) <= limit
