"""Property test through the database: every option `find_options` offers passes
`check_bookable`, and none overlaps an existing booking with its buffers (the engine's own
property tests cover the rules in depth; this one covers the loader and the two entry points)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slotwise.scheduling.selectors import check_bookable, find_options, visit_spec

from .availability_fixtures import (
    MONDAY,
    book,
    local,
    make_location,
    make_org,
    make_staff,
    make_type,
)

NOW = local(MONDAY, 6)

visits = st.lists(
    st.tuples(
        st.integers(0, 1),  # staff
        st.integers(0, 2),  # day
        st.integers(0, 17),  # half-hour slot from 08:00
        st.sampled_from([30, 45, 60, 90]),  # length
        st.booleans(),  # at a place (else a phone call)
    ),
    max_size=10,
)


@pytest.mark.django_db
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    existing=visits,
    duration=st.sampled_from([30, 60, 90]),
    buffer=st.sampled_from([0, 10, 30]),
    mode=st.sampled_from(["customer_address", "phone"]),
)
def test_every_option_is_bookable(existing, duration, buffer, mode):
    org = make_org()
    t = make_type(
        org,
        slug="asked",
        duration_minutes=duration,
        buffer_before=buffer,
        buffer_after=buffer,
        mode=mode,
    )
    home = make_location(org, postcode="1071 AB", lat=52.358, lng=4.88)
    far = make_location(org, postcode="3511 AX", lat=52.093, lng=5.118)
    customer = make_location(org, postcode="1012 AB", lat=52.374, lng=4.897)
    staff = [make_staff(org, home=home), make_staff(org)]
    taken: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {0: [], 1: []}
    for who, day, slot, length, located in existing:
        start = local(MONDAY + dt.timedelta(days=day), 8) + dt.timedelta(minutes=30 * slot)
        end = start + dt.timedelta(minutes=length)
        if any(s < end and start < e for s, e in taken[who]):
            continue  # the database would refuse an overlap anyway
        taken[who].append((start, end))
        other = make_type(
            org,
            slug=f"x{who}{day}{slot}{length}",
            duration_minutes=length,
            mode="customer_address" if located else "phone",
        )
        book(staff[who], other, start, location=far if located else None)
    spec = visit_spec([t])
    options = find_options(
        organisation=org,
        spec=spec,
        location=customer,
        window_start=NOW,
        window_end=NOW + dt.timedelta(days=3),
        now=NOW,
        limit=25,
    )
    scores = [o.score for o in options]
    assert scores == sorted(scores, reverse=True)
    pad = dt.timedelta(minutes=buffer)
    for o in options:
        who = 0 if o.staff_id == staff[0].id else 1
        for s, e in taken[who]:
            assert o.end + pad <= s or o.start - pad >= e
        local_start = o.start.astimezone(local(MONDAY, 0).tzinfo)
        assert local_start.weekday() < 5 and (local_start - pad).time() >= dt.time(9)
        check_bookable(spec=spec, staff=staff[who], start=o.start, location=customer, now=NOW)
