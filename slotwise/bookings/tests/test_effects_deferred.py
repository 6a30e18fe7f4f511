"""Bookings made through the API answer before their follow-ups: the booking and its audit row
are written at once with `effects_due`; the timeline entry and the customer's message follow
from the bookings pump, or first thing from any later change of the booking."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import translation

from slotwise.bookings import notifications, pump, services
from slotwise.bookings.models import Booking, BookingStatus
from slotwise.core.testing import run_together
from slotwise.customers.models import TimelineEntry
from slotwise.messaging.models import Message

from .conftest import future_slot
from .test_api import token_client, world  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def w(world):  # noqa: F811
    """The API tests' world, its customers reachable by SMS and e-mail."""
    for i, contact in enumerate((world.contact, world.other_contact)):
        contact.phone, contact.email = f"+4670123456{i}", f"c{i}@example.com"
        contact.save(update_fields=["phone", "email"])
    return world


def _post(w, *, staff=None, start=None, contact=None, **extra):
    client = token_client(w.rep.user)
    payload = {
        "type": "consult",
        "staff": (staff or w.rep).pk,
        "start": (start or w.slot).isoformat(),
        "contact": str((contact or w.contact).public_id),
        **extra,
    }
    response = client.post("/api/bookings/", payload, format="json")
    assert response.status_code == 201, response.content
    return Booking.objects.get(public_id=response.json()["id"])


def _timeline(booking):
    return list(
        TimelineEntry.objects.filter(contact=booking.contact, data__booking=str(booking.public_id))
        .order_by("occurred_at", "pk")
        .values_list("kind", flat=True)
    )


def _messages(booking):
    return list(
        Message.objects.filter(contact=booking.contact, purpose__startswith="booking.")
        .order_by("pk")
        .values_list("purpose", flat=True)
    )


def test_api_booking_answers_first_then_the_pump_writes_its_follow_ups(w):
    booking = _post(w)
    assert booking.effects_due is True
    assert booking.history.count() == 1  # the audit row is written with the booking
    assert _timeline(booking) == [] and _messages(booking) == []

    assert pump.pump_once() == 1
    booking.refresh_from_db()
    assert booking.effects_due is False
    entry = TimelineEntry.objects.get(contact=booking.contact, kind="booking.created")
    assert entry.occurred_at == booking.created_at
    assert entry.actor == w.rep.user
    assert entry.data == {"booking": str(booking.public_id), "status": BookingStatus.CONFIRMED}
    assert "booking.created" in _messages(booking)
    # Nothing is written twice.
    sent = len(_messages(booking))
    assert pump.pump_once() == 0
    assert _timeline(booking) == ["booking.created"] and len(_messages(booking)) == sent


def test_the_timeline_is_written_in_the_organisations_language(w):
    w.org.default_language = "sv"
    w.org.save(update_fields=["default_language"])
    booking = _post(w)
    with translation.override("ru"):  # whatever the pump's thread has active
        pump.pump_once()
    entry = TimelineEntry.objects.get(contact=booking.contact, kind="booking.created")
    with translation.override("sv"):
        expected = translation.gettext("%(type)s booked for %(start)s") % {
            "type": booking.type.name,
            "start": booking.start.isoformat(),
        }
    assert entry.summary == expected
    assert translation.get_language() != "sv"


def test_a_change_before_the_pump_writes_the_follow_ups_first(w):
    booking = _post(w)
    services.booking_cancel(booking=booking, actor=w.rep.user, enforce_window=False)
    booking.refresh_from_db()
    assert booking.effects_due is False
    assert _timeline(booking) == ["booking.created", "booking.cancelled"]
    purposes = _messages(booking)
    assert purposes.index("booking.created") < purposes.index("booking.cancelled")
    assert pump.pump_once() == 0


def test_a_moved_booking_reports_its_first_time_then_the_move(w):
    booking = _post(w)
    first = booking.start
    later = future_slot(w.org, days=4)
    services.booking_reschedule(booking=booking, start=later, enforce_window=False)
    created = TimelineEntry.objects.get(contact=booking.contact, kind="booking.created")
    assert first.isoformat() in created.summary
    assert _timeline(booking) == ["booking.created", "booking.rescheduled"]


def test_a_lapsed_api_hold_released_for_someone_else_keeps_its_order(w):
    import datetime

    booking = _post(w, hold_minutes=5)
    assert booking.status == BookingStatus.HELD and booking.effects_due
    later = booking.hold_expires_at + datetime.timedelta(minutes=1)
    assert services.booking_hold_expire(now=later) == 1
    assert _timeline(booking) == ["booking.created", "booking.hold_expired"]
    assert _messages(booking) == []  # a hold gets no message; its lapse neither


def test_a_failing_follow_up_is_logged_and_does_not_hold_back_the_others(
    w,
    monkeypatch,
    caplog,
):
    first = _post(w)
    second = _post(w, start=future_slot(w.org, days=4))
    real = notifications.booking_changed

    def flaky(*, booking, event):
        if booking.pk == first.pk:
            raise RuntimeError("template missing")
        return real(booking=booking, event=event)

    monkeypatch.setattr(notifications, "booking_changed", flaky)
    assert pump.pump_once() == 2
    assert "follow-ups of booking" in caplog.text
    assert not Booking.objects.filter(effects_due=True).exists()  # not retried forever
    assert _timeline(first) == []  # the failed one's savepoint left nothing half-written
    assert _timeline(second) == ["booking.created"] and _messages(second)


def test_a_lost_race_leaves_nothing_due(w):
    _post(w)
    client = token_client(w.rep.user)
    payload = {
        "type": "consult",
        "staff": w.rep.pk,
        "start": w.slot.isoformat(),
        "contact": str(w.other_contact.public_id),
    }
    assert client.post("/api/bookings/", payload, format="json").status_code == 409
    assert Booking.objects.filter(effects_due=True).count() == 1


def test_booking_through_the_services_writes_follow_ups_at_once(w):
    booking = services.booking_create(type=w.consult, staff=w.rep, contact=w.contact, start=w.slot)
    assert booking.effects_due is False
    assert _timeline(booking) == ["booking.created"]


@pytest.mark.django_db(transaction=True)
def test_worker_batch_writes_the_follow_ups(w):
    bookings = [_post(w, start=future_slot(w.org, days=3, hour=h)) for h in (9, 11, 13)]
    call_command("worker", "--batch", "--no-periodic", "--queue-name", "*")
    for booking in bookings:
        booking.refresh_from_db()
        assert not booking.effects_due
        assert _timeline(booking) == ["booking.created"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_pumps_at_once_write_each_follow_up_once(w):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks, SKIP LOCKED)")
    made = [
        _post(w, start=future_slot(w.org, days=day, hour=hour))
        for day in (3, 4, 5)
        for hour in range(2, 22, 2)
    ]
    done: list[int] = []

    def run():
        while n := services.booking_effects_apply_pending(limit=4):
            done.append(n)

    assert run_together(run, 2) == []
    assert sum(done) == len(made)
    for booking in made:
        assert _timeline(booking) == ["booking.created"]
        assert _messages(booking).count("booking.created") >= 1
    per_booking = TimelineEntry.objects.filter(kind="booking.created").count()
    assert per_booking == len(made)


def test_follow_ups_already_written_by_the_pump_are_not_written_again(w):
    """A change that read the booking before the pump wrote its follow-ups (its copy still says
    due) finds them claimed and writes nothing twice."""
    booking = _post(w)
    stale = Booking.objects.get(pk=booking.pk)
    assert stale.effects_due
    assert pump.pump_once() == 1
    services._effects_first(stale)
    assert _timeline(booking) == ["booking.created"]
    assert _messages(booking).count("booking.created") == len(_messages(booking))
    sent = len(_messages(booking))
    services.booking_cancel(booking=stale, actor=w.rep.user, enforce_window=False)
    assert _timeline(booking) == ["booking.created", "booking.cancelled"]
    assert len(_messages(booking)) > sent


def _what_the_follow_ups_read(b):
    return (
        b.organisation.time_zone,
        b.type.name,
        b.staff.user.first_name,
        b.contact.public_id,
        b.contact.organisation.default_language,
        b.location and b.location.postcode,
        b.unit.name,
        b.created_by and b.created_by.pk,
        b.start,
        b.status,
    )


def test_the_pump_claims_its_bookings_with_what_their_follow_ups_read_in_one_query(w):
    from django.db import transaction
    from django.test.utils import CaptureQueriesContext

    from slotwise.org.models import Location

    made = [_post(w, start=future_slot(w.org, days=3, hour=h)) for h in (9, 11, 13)]
    place = Location.objects.create(
        organisation=w.org, postcode="1011 AB", country="NL", lat=52.37, lng=4.89
    )
    Booking.objects.filter(pk=made[0].pk).update(location=place, created_by=None)
    with transaction.atomic():
        with CaptureQueriesContext(connection) as claim:
            due = services._claim_due(2)
        assert len(claim) == 1
        assert [b.pk for b in due] == [made[0].pk, made[1].pk]  # oldest first, at most 2
        with CaptureQueriesContext(connection) as reads:
            seen = [_what_the_follow_ups_read(b) for b in due]
        assert len(reads) == 0  # everything came with the claim
    expected = [
        _what_the_follow_ups_read(b)
        for b in Booking.objects.filter(pk__in=[made[0].pk, made[1].pk]).order_by("pk")
    ]
    assert seen == expected
    assert seen[0][5] == "1011 AB" and seen[0][7] is None  # the optional ones, set and not
    assert seen[1][5] is None and seen[1][7] == w.rep.user.pk


def test_a_pump_pass_costs_the_same_queries_for_one_booking_as_for_three(w):
    from django.test.utils import CaptureQueriesContext

    _post(w, start=future_slot(w.org, days=3, hour=9))
    with CaptureQueriesContext(connection) as one:
        assert pump.pump_once() == 1
    for hour in (11, 13, 15):
        _post(w, start=future_slot(w.org, days=3, hour=hour))
    with CaptureQueriesContext(connection) as three:
        assert pump.pump_once() == 3
    assert len(three) == len(one)
