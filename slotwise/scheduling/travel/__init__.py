"""Travel-time sources behind a registry (ARCHITECTURE rule 1).

A source is an engine :class:`~slotwise.scheduling.engine.travel.TravelSource` (whole minutes
between two points; a ``matrix`` for batches). The organisation's
:class:`~slotwise.scheduling.models.SchedulingPolicy` picks one by kind:

``great_circle``
    great-circle distance × the organisation's ``road_factor`` ÷ ``travel_speed_kmh``; no network.
``osrm``
    an OSRM-compatible routing service (``/table/v1/driving``) at ``settings.OSRM_URL``; used only
    when ``settings.OSRM_ENABLED``, else the estimate. If the service fails the request falls back
    to the estimate (logged), so a routing outage never breaks booking.

Each request wraps its source in a :class:`~slotwise.scheduling.engine.travel.MemoTravel`, so a
pair of points is asked at most once; routing sources are asked in batches (see
:func:`prefetch_customer_legs`).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from slotwise.core.registry import Registry
from slotwise.scheduling.engine.travel import MemoTravel, TravelSource
from slotwise.scheduling.engine.types import Point

travel_sources: Registry[TravelSource] = Registry(
    "travel",
    {
        "great_circle": "slotwise.scheduling.travel.great_circle.GreatCircleSource",
        "osrm": "slotwise.scheduling.travel.osrm.OsrmSource",
    },
)


def travel_source_for(organisation, policy=None) -> TravelSource:
    """The travel source the organisation's policy asks for (great-circle when OSRM is off)."""
    kind = getattr(policy, "travel_source", "great_circle") or "great_circle"
    if kind == "osrm" and not (settings.OSRM_ENABLED and settings.OSRM_URL):
        kind = "great_circle"
    if kind not in travel_sources:
        kind = "great_circle"
    return travel_sources.create(kind, organisation=organisation)


def prefetch_customer_legs(
    memo: MemoTravel, customer: Point | None, points: Iterable[Point | None]
) -> None:
    """Ask a batching source, in one matrix call each way, for every leg to and from the
    customer. A no-op for sources that do not batch (the estimate is cheaper than the batch)."""
    if customer is None or not getattr(memo.source, "batches", False):
        return
    unique = [p for p in dict.fromkeys(points) if p is not None and p != customer]
    if not unique:
        return
    memo.prefetch(unique, [customer])
    memo.prefetch([customer], unique)
