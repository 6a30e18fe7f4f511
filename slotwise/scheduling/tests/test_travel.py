"""Travel sources: the registry, the estimate, and OSRM against a local server speaking /table."""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from slotwise.scheduling.engine.travel import MemoTravel, haversine_km
from slotwise.scheduling.engine.types import Point
from slotwise.scheduling.models import SchedulingPolicy
from slotwise.scheduling.selectors import find_options, visit_spec
from slotwise.scheduling.travel import prefetch_customer_legs, travel_source_for, travel_sources
from slotwise.scheduling.travel.great_circle import GreatCircleSource
from slotwise.scheduling.travel.osrm import OsrmSource

from .availability_fixtures import (
    MONDAY,
    book,
    local,
    make_location,
    make_org,
    make_staff,
    make_type,
)

AMS = Point(52.3740, 4.8970)
UTR = Point(52.0930, 5.1180)
RTM = Point(51.9220, 4.4700)
SPEED_KMH = 60.0  # the fake router drives straight lines at 60 km/h


class _FakeOsrm(BaseHTTPRequestHandler):
    """Speaks OSRM's /table/v1/driving API: durations in seconds from straight-line distance."""

    requests: list[dict] = []
    fail = False

    def do_GET(self):  # noqa: N802 - http.server API
        url = urlsplit(self.path)
        parts = url.path.split("/")
        record = {"path": url.path, "query": parse_qs(url.query)}
        type(self).requests.append(record)
        if self.fail:
            self.send_response(500)
            self.end_headers()
            return
        if parts[1:4] != ["table", "v1", "driving"]:
            self._json(400, {"code": "InvalidUrl"})
            return
        coords = []
        for pair in parts[4].split(";"):
            lon, lat = (float(x) for x in pair.split(","))
            coords.append(Point(lat, lon))
        q = record["query"]
        sources = [int(i) for i in q["sources"][0].split(";")]
        destinations = [int(i) for i in q["destinations"][0].split(";")]
        durations = [
            [haversine_km(coords[s], coords[d]) / SPEED_KMH * 3600 for d in destinations]
            for s in sources
        ]
        self._json(200, {"code": "Ok", "durations": durations})

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def osrm(settings):
    _FakeOsrm.requests = []
    _FakeOsrm.fail = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOsrm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.OSRM_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.OSRM_ENABLED = True
    yield _FakeOsrm
    server.shutdown()
    server.server_close()


def _expected(a: Point, b: Point) -> int:
    return math.ceil(haversine_km(a, b) / SPEED_KMH * 60 - 1e-9)


def test_registry_kinds():
    assert {"great_circle", "osrm"} <= set(travel_sources.kinds())


def test_great_circle_uses_organisation_factors():
    class Org:
        road_factor = 2
        travel_speed_kmh = 30

    slow = GreatCircleSource(organisation=Org())
    default = GreatCircleSource()
    km = haversine_km(AMS, UTR)
    assert slow.minutes(AMS, UTR) == math.ceil(km * 2 * 60 / 30)
    assert default.minutes(AMS, UTR) == math.ceil(km * 1.3 * 60 / 40)
    assert slow.minutes(AMS, AMS) == 0 and slow.minutes(None, AMS) == 0


def test_osrm_matrix_request_shape(osrm):
    source = OsrmSource()
    rows = source.matrix([AMS, UTR], [RTM])
    assert rows == [[_expected(AMS, RTM)], [_expected(UTR, RTM)]]
    (req,) = osrm.requests
    coords = req["path"].split("/")[4].split(";")
    # longitude first
    assert coords[0] == f"{AMS.lng:.6f},{AMS.lat:.6f}"
    assert coords[2] == f"{RTM.lng:.6f},{RTM.lat:.6f}"
    assert req["query"]["sources"] == ["0;1"]
    assert req["query"]["destinations"] == ["2"]
    assert req["query"]["annotations"] == ["duration"]
    assert source.failures == 0


def test_osrm_splits_large_tables(osrm):
    source = OsrmSource()
    source.max_coordinates = 4
    origins = [Point(52 + i / 100, 5.0) for i in range(7)]
    rows = source.matrix(origins, [AMS, UTR])
    assert rows == [[_expected(o, AMS), _expected(o, UTR)] for o in origins]
    assert len(osrm.requests) > 1
    for req in osrm.requests:
        assert len(req["path"].split("/")[4].split(";")) <= 4


def test_osrm_falls_back_to_the_estimate(osrm, caplog):
    osrm.fail = True
    source = OsrmSource()
    rows = source.matrix([AMS], [UTR])
    assert rows == [[source.fallback.minutes(AMS, UTR)]]
    assert source.failures == 1


def test_memo_prefetch_batches_customer_legs(osrm):
    memo = MemoTravel(OsrmSource())
    points = [AMS, UTR, RTM, AMS]
    customer = Point(52.2, 4.9)
    prefetch_customer_legs(memo, customer, points)
    assert len(osrm.requests) == 2  # one call each way
    n = len(osrm.requests)
    assert memo.minutes(UTR, customer) == _expected(UTR, customer)
    assert memo.minutes(customer, RTM) == _expected(customer, RTM)
    assert len(osrm.requests) == n  # answered from the memo


@pytest.mark.django_db
def test_policy_picks_source(settings, osrm):
    org = make_org()
    policy = SchedulingPolicy.objects.get(organisation=org)
    assert isinstance(travel_source_for(org, policy), GreatCircleSource)
    policy.travel_source = "osrm"
    assert isinstance(travel_source_for(org, policy), OsrmSource)
    settings.OSRM_ENABLED = False
    assert isinstance(travel_source_for(org, policy), GreatCircleSource)


@pytest.mark.django_db
def test_find_options_with_osrm(osrm):
    org = make_org()
    SchedulingPolicy.objects.filter(organisation=org).update(travel_source="osrm")
    t = make_type(org)
    home = make_location(org, postcode="3511 AX", lat=UTR.lat, lng=UTR.lng)
    staff = make_staff(org, home=home, hours=((0, 8, 18),))
    visit_loc = make_location(org, postcode="3012 AA", lat=RTM.lat, lng=RTM.lng)
    book(staff, t, local(MONDAY, 12), location=visit_loc)
    customer = make_location(org, postcode="1012 AB", lat=AMS.lat, lng=AMS.lng)
    now = local(MONDAY, 6)
    opts = find_options(
        organisation=org,
        spec=visit_spec([t]),
        location=customer,
        window_start=now,
        window_end=now + dt.timedelta(days=1),
        now=now,
        limit=50,
    )
    assert opts
    assert osrm.requests  # the router was asked
    legs = {_expected(UTR, AMS), _expected(RTM, AMS)}
    assert all(o.travel_before in legs for o in opts)
    # the leg times are the router's, not the estimate's (which differ at these distances)
    estimate = GreatCircleSource(organisation=org).minutes(UTR, AMS)
    assert _expected(UTR, AMS) != estimate
    first = min(opts, key=lambda o: o.start)
    assert first.start >= local(MONDAY, 8) + dt.timedelta(minutes=_expected(UTR, AMS))
