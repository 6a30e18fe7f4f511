"""Travel times from an OSRM-compatible routing service (its ``/table`` API).

``GET {OSRM_URL}/table/v1/driving/{lon},{lat};{lon},{lat};...?sources=0;1&destinations=2
&annotations=duration`` answers ``{"code": "Ok", "durations": [[seconds, ...], ...]}`` with one
row per source and one column per destination (``null`` where no route exists). Coordinates are
longitude first. One request carries at most :attr:`OsrmSource.max_coordinates` coordinates
(OSRM's ``--max-table-size`` defaults to 100), larger matrices are split.

Single pairs (:meth:`minutes`) are never sent one by one: what a batch did not fetch is
estimated from coordinates. The engine's hard rules only use legs to and from the customer,
which the loader prefetches in two batched calls, so only the detour baseline between two
existing visits (a ranking term) may come from the estimate. When the service fails (network,
HTTP error, ``code`` other than ``Ok``) the batch falls back to the estimate and logs it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import httpx
import structlog
from django.conf import settings

from slotwise.core.http import client as http_client
from slotwise.scheduling.engine.travel import TravelSource
from slotwise.scheduling.engine.types import Point

from .great_circle import GreatCircleSource

log = structlog.get_logger(__name__)


class OsrmError(Exception):
    pass


class OsrmSource(TravelSource):
    batches = True
    max_coordinates = 100

    def __init__(self, *, organisation=None, base_url: str | None = None, timeout: float = 5.0):
        self.base_url = (base_url if base_url is not None else settings.OSRM_URL).rstrip("/")
        self.timeout = timeout
        self.fallback = GreatCircleSource(organisation=organisation)
        self.failures = 0

    # -- TravelSource ------------------------------------------------------------------------
    def minutes(self, a: Point | None, b: Point | None) -> int:
        return self.fallback.minutes(a, b)

    def matrix(
        self, origins: Sequence[Point | None], destinations: Sequence[Point | None]
    ) -> list[list[int]]:
        out = [[0] * len(destinations) for _ in origins]
        o_idx = [i for i, p in enumerate(origins) if p is not None]
        d_idx = [j for j, p in enumerate(destinations) if p is not None]
        if not o_idx or not d_idx:
            return out
        # Split so that every request carries at most max_coordinates coordinates.
        d_chunk = max(1, min(len(d_idx), self.max_coordinates // 2))
        o_chunk = max(1, self.max_coordinates - d_chunk)
        for ds in range(0, len(d_idx), d_chunk):
            dsel = d_idx[ds : ds + d_chunk]
            for os_ in range(0, len(o_idx), o_chunk):
                osel = o_idx[os_ : os_ + o_chunk]
                rows = self._table([origins[i] for i in osel], [destinations[j] for j in dsel])
                for i, row in zip(osel, rows, strict=True):
                    for j, value in zip(dsel, row, strict=True):
                        out[i][j] = value
        return out

    # -- HTTP ----------------------------------------------------------------------------------
    def _table(self, origins: list[Point], destinations: list[Point]) -> list[list[int]]:
        try:
            return self._request(origins, destinations)
        except (httpx.HTTPError, OsrmError, ValueError, KeyError, TypeError) as exc:
            self.failures += 1
            log.warning("osrm_fallback", error=str(exc), base_url=self.base_url)
            return [[self.fallback.minutes(o, d) for d in destinations] for o in origins]

    def _request(self, origins: list[Point], destinations: list[Point]) -> list[list[int]]:
        coords: list[Point] = []
        index: dict[Point, int] = {}
        for p in (*origins, *destinations):
            if p not in index:
                index[p] = len(coords)
                coords.append(p)
        path = ";".join(f"{p.lng:.6f},{p.lat:.6f}" for p in coords)
        params = {
            "sources": ";".join(str(index[p]) for p in origins),
            "destinations": ";".join(str(index[p]) for p in destinations),
            "annotations": "duration",
        }
        with http_client(base_url=self.base_url, timeout=self.timeout) as http:
            response = http.get(f"/table/v1/driving/{path}", params=params)
        response.raise_for_status()
        data = response.json()
        if data.get("code") != "Ok":
            raise OsrmError(f"OSRM answered {data.get('code')!r}: {data.get('message', '')}")
        durations = data["durations"]
        if len(durations) != len(origins) or any(len(r) != len(destinations) for r in durations):
            raise OsrmError("OSRM answered a matrix of the wrong shape")
        rows = []
        for o, row in zip(origins, durations, strict=True):
            out_row = []
            for d, seconds in zip(destinations, row, strict=True):
                if seconds is None:  # no route: the estimate is better than nothing
                    out_row.append(self.fallback.minutes(o, d))
                elif o == d:
                    out_row.append(0)
                else:
                    out_row.append(max(0, math.ceil(float(seconds) / 60.0 - 1e-9)))
            rows.append(out_row)
        return rows
