"""Rule 4 under load: many concurrent attempts on one slot (PostgreSQL only)."""

import datetime
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from slotwise.bookings import services
from slotwise.bookings.models import Booking, BookingStatus
from slotwise.core.errors import Conflict

from .conftest import make_type

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]

ATTEMPTS = 200
WORKERS = 40


def _hammer(*, type, staff, contact, start) -> tuple[int, int, list[BaseException]]:
    def attempt(_):
        try:
            services.booking_create(type=type, staff=staff, contact=contact, start=start)
            return "ok"
        except Conflict:
            return "conflict"
        except BaseException as exc:  # noqa: BLE001 - counted and reported
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(attempt, range(ATTEMPTS)))
    others = [r for r in results if not isinstance(r, str)]
    return results.count("ok"), results.count("conflict"), others


def test_two_hundred_attempts_one_winner(org, staff, contact, slot):
    one = make_type(org, buffer_before=10, buffer_after=10)
    ok, conflicts, others = _hammer(type=one, staff=staff, contact=contact, start=slot)
    assert others == []
    assert (ok, conflicts) == (1, ATTEMPTS - 1)
    assert Booking.objects.filter(staff=staff).count() == 1

    group = make_type(org, capacity=5)
    later = slot + datetime.timedelta(hours=3)
    ok, conflicts, others = _hammer(type=group, staff=staff, contact=contact, start=later)
    assert others == []
    assert (ok, conflicts) == (5, ATTEMPTS - 5)
    assert Booking.objects.filter(type=group).count() == 5


def test_exclusion_constraint_alone(org, staff, contact, slot):
    one = make_type(org)
    common = {
        "organisation": org,
        "type": one,
        "staff": staff,
        "contact": contact,
        "unit": staff.unit,
        "status": BookingStatus.CONFIRMED,
        "exclusive": True,
    }
    half = datetime.timedelta(minutes=30)
    hour = datetime.timedelta(hours=1)
    Booking.objects.create(
        start=slot, end=slot + hour, blocked_start=slot, blocked_end=slot + hour, **common
    )
    # Touching is allowed by '[)'.
    Booking.objects.create(
        start=slot + hour,
        end=slot + 2 * hour,
        blocked_start=slot + hour,
        blocked_end=slot + 2 * hour,
        **common,
    )
    # Cancelled rows don't count.
    Booking.objects.create(
        start=slot + half,
        end=slot + hour,
        blocked_start=slot + half,
        blocked_end=slot + hour,
        **{**common, "status": BookingStatus.CANCELLED},
    )
    with pytest.raises(IntegrityError, match="booking_no_overlap"), transaction.atomic():
        Booking.objects.create(
            start=slot + half,
            end=slot + hour + half,
            blocked_start=slot + half,
            blocked_end=slot + hour + half,
            **common,
        )
    assert timezone.is_aware(slot)
