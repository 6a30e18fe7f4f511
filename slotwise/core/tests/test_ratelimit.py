"""The sliding-window rate limit: the count does not reset at a window boundary."""

import pytest
from django.core.cache import cache

from slotwise.core.ratelimit import hit, parse_rate

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_parse_rate():
    assert parse_rate("3/10m") == (3, 600)
    assert parse_rate("10/h") == (10, 3600)
    with pytest.raises(ValueError):
        parse_rate("lots")


def test_limit_within_one_window():
    t = 6_000_000.0  # a window start for a 600 s period
    assert [hit("k1", "3/10m", now=t + i) for i in range(4)] == [True, True, True, False]
    assert hit("other", "3/10m", now=t + 5)


def test_a_burst_across_the_boundary_is_limited():
    boundary = 6_000_600.0
    assert hit("k2", "2/10m", now=boundary - 2)
    assert hit("k2", "2/10m", now=boundary - 1)
    # A fixed window would start from zero here; the previous window still counts.
    assert not hit("k2", "2/10m", now=boundary + 1)


def test_old_events_stop_counting():
    start = 6_000_000.0
    assert hit("k3", "1/10m", now=start)
    assert not hit("k3", "1/10m", now=start + 10)
    # two periods later neither window holds anything
    assert hit("k3", "1/10m", now=start + 1200 + 1)
