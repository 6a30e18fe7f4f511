"""Travel-time sources.

A source answers "how many whole minutes from a to b".  ``None`` as either end means "no place"
and costs 0 minutes.  The engine wraps whatever source it gets in :class:`MemoTravel` so each
pair is asked at most once per request.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from .types import Point

EARTH_RADIUS_KM = 6371.0088


@runtime_checkable
class TravelSource(Protocol):
    """Travel minutes between points.  Subclass it to inherit the looping :meth:`matrix`."""

    def minutes(self, a: Point | None, b: Point | None) -> int: ...

    def matrix(
        self, origins: Sequence[Point | None], destinations: Sequence[Point | None]
    ) -> list[list[int]]:
        """``result[i][j]`` = minutes from ``origins[i]`` to ``destinations[j]``."""
        return [[self.minutes(o, d) for d in destinations] for o in origins]


def haversine_km(a: Point, b: Point) -> float:
    lat1 = math.radians(a.lat)
    lat2 = math.radians(b.lat)
    dlat = lat2 - lat1
    dlng = math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


class GreatCircleTravel(TravelSource):
    """Estimate from coordinates: great-circle km x ``road_factor`` / ``speed_kmh``.

    Rounded up to whole minutes; a trip between two different points takes at least ``minimum``
    minutes; the same point (or ``None``) takes 0.
    """

    __slots__ = ("road_factor", "speed_kmh", "minimum", "_per_km")

    def __init__(self, road_factor: float = 1.3, speed_kmh: float = 40.0, minimum: int = 0):
        if road_factor <= 0 or speed_kmh <= 0 or minimum < 0:
            raise ValueError("road_factor and speed_kmh must be > 0, minimum >= 0")
        self.road_factor = road_factor
        self.speed_kmh = speed_kmh
        self.minimum = minimum
        self._per_km = road_factor * 60.0 / speed_kmh

    def minutes(self, a: Point | None, b: Point | None) -> int:
        if a is None or b is None or a == b:
            return 0
        raw = haversine_km(a, b) * self._per_km
        # Round up, but do not let float noise (10.000000001) cost a whole extra minute.
        return max(self.minimum, math.ceil(raw - 1e-9))


class MemoTravel(TravelSource):
    """Per-request memo around another source, keyed by the (a, b) point pair."""

    __slots__ = ("source", "_memo")

    def __init__(self, source: TravelSource):
        self.source = source
        self._memo: dict[tuple[Point, Point], int] = {}

    def minutes(self, a: Point | None, b: Point | None) -> int:
        if a is None or b is None:
            return 0
        key = (a, b)
        value = self._memo.get(key)
        if value is None:
            value = self._memo[key] = int(self.source.minutes(a, b))
        return value

    def matrix(
        self, origins: Sequence[Point | None], destinations: Sequence[Point | None]
    ) -> list[list[int]]:
        """Ask the wrapped source (in one matrix call) only for the pairs not yet known."""
        memo = self._memo
        todo_o = [o for o in dict.fromkeys(origins) if o is not None]
        todo_d = [d for d in dict.fromkeys(destinations) if d is not None]
        if any((o, d) not in memo for o in todo_o for d in todo_d):
            rows = self.source.matrix(todo_o, todo_d)
            for o, row in zip(todo_o, rows, strict=True):
                for d, value in zip(todo_d, row, strict=True):
                    memo[(o, d)] = int(value)
        return [[self.minutes(o, d) for d in destinations] for o in origins]

    def prefetch(self, origins: Sequence[Point | None], destinations: Sequence[Point | None]):
        """Warm the memo with one matrix call (useful for routing sources that batch)."""
        self.matrix(origins, destinations)
