import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from slotwise.bookings import services
from slotwise.bookings.models import Booking, BookingStatus
from slotwise.core.errors import Conflict
from slotwise.customers.models import TimelineEntry
from slotwise.tests_factories import ContactFactory, StaffFactory

from .conftest import give_hours, make_type

pytestmark = pytest.mark.django_db
H = datetime.timedelta(hours=1)
M = datetime.timedelta(minutes=1)


def test_create_computes_interval_unit_and_timeline(appt_type, staff, contact, slot):
    b = services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot)
    assert b.status == BookingStatus.CONFIRMED
    assert b.end == slot + H
    assert b.blocked_start == slot - 15 * M
    assert b.blocked_end == slot + H + 15 * M
    assert b.unit_id == staff.unit_id
    assert b.exclusive is True
    assert b.organisation_id == appt_type.organisation_id
    entry = TimelineEntry.objects.get(contact=contact)
    assert entry.kind == "booking.created"
    assert entry.data["booking"] == str(b.public_id)
    assert b.history.count() == 1


def test_appointment_type_fields(appt_type):
    appt_type.price = Decimal("49.50")
    appt_type.save()
    appt_type.refresh_from_db()
    assert appt_type.price == Decimal("49.50")
    assert appt_type.history.count() == 2
    assert str(appt_type._meta.verbose_name) == "appointment type"


def test_overlap_refused(appt_type, staff, contact, slot):
    services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot)
    with pytest.raises(Conflict):
        services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot + 30 * M)
    assert Booking.objects.count() == 1
    assert TimelineEntry.objects.count() == 1


def test_buffers_respected(appt_type, staff, contact, slot):
    services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot)
    # Appointment ends at slot+60; buffers need 15 after and 15 before the next one.
    with pytest.raises(Conflict):
        services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot + 75 * M)


def test_touching_allowed(appt_type, staff, contact, slot):
    services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot)
    services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot + 90 * M)
    services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot - 90 * M)
    assert Booking.objects.count() == 3


def test_other_staff_not_affected(appt_type, staff, contact, slot):
    other = StaffFactory(unit=staff.unit)
    give_hours(other)
    services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot)
    services.booking_create(type=appt_type, staff=other, contact=contact, start=slot)
    assert Booking.objects.count() == 2


def test_cancelled_frees_the_slot(appt_type, staff, contact, slot):
    b = services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot)
    services.booking_cancel(booking=b, actor=None)
    assert b.status == BookingStatus.CANCELLED
    services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot)
    kinds = set(TimelineEntry.objects.values_list("kind", flat=True))
    assert {"booking.created", "booking.cancelled"} <= kinds


def test_active_hold_blocks_and_expired_hold_frees(appt_type, staff, contact, slot):
    now = timezone.now()
    hold = services.booking_create(
        type=appt_type, staff=staff, contact=contact, start=slot, hold_minutes=10, now=now
    )
    assert hold.status == BookingStatus.HELD
    assert hold.hold_expires_at == now + 10 * M
    with pytest.raises(Conflict):
        services.booking_create(
            type=appt_type, staff=staff, contact=contact, start=slot, now=now + 5 * M
        )
    later = now + 11 * M
    b = services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot, now=later)
    assert b.status == BookingStatus.CONFIRMED
    hold.refresh_from_db()
    assert hold.status == BookingStatus.CANCELLED
    # The lapsed hold can't be confirmed any more: its time is taken.
    with pytest.raises(Conflict):
        services.booking_confirm(booking=hold, now=later)


def test_confirm_hold(appt_type, staff, contact, slot):
    hold = services.booking_create(
        type=appt_type, staff=staff, contact=contact, start=slot, hold_minutes=10
    )
    services.booking_confirm(booking=hold)
    assert hold.status == BookingStatus.CONFIRMED
    assert hold.hold_expires_at is None


def test_cancel_window(appt_type, staff, contact, slot):
    b = services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot)
    with pytest.raises(ValidationError) as exc:
        services.booking_cancel(booking=b, actor=None, now=slot - 23 * H)
    assert "start" in exc.value.message_dict
    b.refresh_from_db()
    assert b.status == BookingStatus.CONFIRMED
    services.booking_cancel(booking=b, actor=None, now=slot - 25 * H)
    assert b.status == BookingStatus.CANCELLED


def test_reschedule(appt_type, staff, contact, slot):
    a = services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot)
    b = services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot + 2 * H)
    with pytest.raises(Conflict):
        services.booking_reschedule(booking=a, start=slot + 2 * H, actor=None)
    a.refresh_from_db()
    assert a.start == slot
    # Moving within its own old interval is fine (it doesn't collide with itself).
    services.booking_reschedule(booking=a, start=slot + 30 * M, actor=None)
    assert a.start == slot + 30 * M
    assert a.blocked_end == slot + 30 * M + H + 15 * M
    assert b.start == slot + 2 * H
    assert TimelineEntry.objects.filter(kind="booking.rescheduled").count() == 1


def test_reschedule_window(staff, contact, org, slot):
    t = make_type(org, reschedule_window_hours=100)
    b = services.booking_create(type=t, staff=staff, contact=contact, start=slot)
    with pytest.raises(ValidationError) as exc:
        services.booking_reschedule(booking=b, start=slot + 3 * H, actor=None)
    assert "start" in exc.value.message_dict


def test_mark(appt_type, staff, contact, slot):
    b = services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot)
    services.booking_mark(booking=b, status=BookingStatus.NO_SHOW)
    assert b.status == BookingStatus.NO_SHOW
    with pytest.raises(ValidationError):
        services.booking_mark(booking=b, status=BookingStatus.DONE)
    with pytest.raises(ValidationError):
        services.booking_mark(booking=b, status="confirmed")


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"start": "tomorrow"}, "start"),
        ({"start": datetime.datetime(2030, 1, 1, 10)}, "start"),  # naive
        ({"delta": -H}, "start"),  # past
        ({"delta": 10 * M}, "start"),  # inside min notice
        ({"delta": datetime.timedelta(days=200)}, "start"),  # beyond horizon
        ({"hold_minutes": 0}, "hold_minutes"),
        ({"seats": 2}, "seats"),
    ],
)
def test_bad_input_writes_nothing(org, staff, contact, kwargs, field):
    t = make_type(org, min_notice_minutes=60)
    delta = kwargs.pop("delta", None)
    if delta is not None:
        kwargs["start"] = timezone.now() + delta
    kwargs.setdefault("start", timezone.now() + datetime.timedelta(days=2))
    with pytest.raises(ValidationError) as exc:
        services.booking_create(type=t, staff=staff, contact=contact, **kwargs)
    assert field in exc.value.message_dict
    assert Booking.objects.count() == 0
    assert TimelineEntry.objects.count() == 0


def test_foreign_contact_and_inactive_type_refused(org, appt_type, staff, slot):
    foreign = ContactFactory()
    with pytest.raises(ValidationError) as exc:
        services.booking_create(type=appt_type, staff=staff, contact=foreign, start=slot)
    assert "contact" in exc.value.message_dict
    appt_type.active = False
    appt_type.save()
    with pytest.raises(ValidationError) as exc:
        services.booking_create(
            type=appt_type, staff=staff, contact=ContactFactory(organisation=org), start=slot
        )
    assert "type" in exc.value.message_dict
    assert Booking.objects.count() == 0


def test_group_capacity(org, staff, contact, slot):
    group = make_type(org, capacity=3)
    for _ in range(3):
        b = services.booking_create(type=group, staff=staff, contact=contact, start=slot)
        assert b.exclusive is False
    with pytest.raises(Conflict):
        services.booking_create(type=group, staff=staff, contact=contact, start=slot)
    # A different session or a 1:1 type overlapping the group is refused too.
    with pytest.raises(Conflict):
        services.booking_create(type=group, staff=staff, contact=contact, start=slot + 30 * M)
    one = make_type(org)
    with pytest.raises(Conflict):
        services.booking_create(type=one, staff=staff, contact=contact, start=slot)
    assert Booking.objects.count() == 3
