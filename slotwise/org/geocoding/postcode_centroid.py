from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from slotwise.org.postcodes import normalise

from . import Geocoder, GeoResult

TABLE = Path(__file__).resolve().parent.parent / "data" / "postcode_centroids.csv"


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, tuple[float, float]]]:
    by_country: dict[str, dict[str, tuple[float, float]]] = {}
    with TABLE.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            by_country.setdefault(row["country"], {})[row["prefix"]] = (
                float(row["lat"]),
                float(row["lng"]),
            )
    return by_country


class PostcodeCentroidGeocoder(Geocoder):
    """Centroids of postcode areas (longest known prefix of the normalised postcode)."""

    kind = "postcode_centroid"

    def geocode(self, *, country: str, postcode: str, address: str = "") -> GeoResult | None:
        key = normalise(country, postcode)
        table = _table().get(country, {})
        for length in range(len(key), 0, -1):
            hit = table.get(key[:length])
            if hit:
                return GeoResult(
                    hit[0], hit[1], self.kind, "postcode" if length == len(key) else "area"
                )
        return None
