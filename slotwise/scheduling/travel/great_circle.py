"""The default travel source: an estimate from coordinates, set per organisation."""

from __future__ import annotations

from slotwise.scheduling.engine.travel import GreatCircleTravel


class GreatCircleSource(GreatCircleTravel):
    """Great-circle km × the organisation's road factor ÷ its average speed, rounded up."""

    __slots__ = ()
    batches = False

    def __init__(self, *, organisation=None, road_factor=None, speed_kmh=None, minimum: int = 0):
        if road_factor is None:
            road_factor = float(getattr(organisation, "road_factor", None) or 1.3)
        if speed_kmh is None:
            speed_kmh = float(getattr(organisation, "travel_speed_kmh", None) or 40)
        super().__init__(
            road_factor=float(road_factor), speed_kmh=float(speed_kmh), minimum=minimum
        )
