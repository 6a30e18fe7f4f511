"""Geocoding sources behind a registry. The default needs no network: it looks postcodes up in a
shipped table of postcode-area centroids (longest prefix wins)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from slotwise.core.registry import Registry


@dataclass(frozen=True)
class GeoResult:
    lat: float
    lng: float
    source: str
    precision: str  # "postcode", "area", "address"


class Geocoder:
    kind = ""

    def geocode(self, *, country: str, postcode: str, address: str = "") -> GeoResult | None:
        raise NotImplementedError


geocoders: Registry[Geocoder] = Registry(
    "geocoding",
    {"postcode_centroid": "slotwise.org.geocoding.postcode_centroid.PostcodeCentroidGeocoder"},
)


def get_geocoder() -> Geocoder:
    return geocoders.create(settings.GEOCODER)
