"""Booking services beyond the basics: holds and their expiry, combined services, the
availability re-check, windows, reschedule to another staff member, the notification hook, and
the selectors/rules that scope bookings."""

import datetime
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from slotwise.bookings import notifications, services
from slotwise.bookings.models import Booking, BookingStatus
from slotwise.bookings.selectors import booking_by_public_id, bookings_for
from slotwise.bookings.tasks import expire_holds
from slotwise.core.errors import Conflict
from slotwise.customers.models import TimelineEntry
from slotwise.org.roles import Role
from slotwise.tests_factories import ContactFactory, StaffFactory, UserFactory, make_unit

from .conftest import give_hours, make_type

pytestmark = pytest.mark.django_db
H = datetime.timedelta(hours=1)
M = datetime.timedelta(minutes=1)


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def events(monkeypatch):
    seen = []
    monkeypatch.setattr(
        notifications,
        "booking_changed",
        lambda *, booking, event: seen.append((booking.pk, booking.status, event)),
    )
    return seen


# -- holds -----------------------------------------------------------------------------------


def test_hold_expires_and_frees_the_slot(appt_type, staff, contact, slot):
    t0 = slot - datetime.timedelta(days=2)
    hold = services.booking_create(
        type=appt_type, staff=staff, contact=contact, start=slot, hold_minutes=10, now=t0
    )
    assert hold.status == BookingStatus.HELD
    assert hold.hold_expires_at == t0 + 10 * M
    # Still held: the slot is taken.
    with pytest.raises(Conflict):
        services.booking_create(
            type=appt_type, staff=staff, contact=contact, start=slot, now=t0 + 5 * M
        )
    assert services.booking_hold_expire(now=t0 + 5 * M) == 0
    assert services.booking_hold_expire(now=t0 + 11 * M) == 1
    hold.refresh_from_db()
    assert hold.status == BookingStatus.CANCELLED
    assert hold.cancelled_at == t0 + 11 * M
    assert TimelineEntry.objects.filter(kind="booking.hold_expired").count() == 1
    assert services.booking_hold_expire(now=t0 + 12 * M) == 0
    services.booking_create(
        type=appt_type, staff=staff, contact=contact, start=slot, now=t0 + 12 * M
    )
    assert Booking.objects.filter(status=BookingStatus.CONFIRMED).count() == 1


def test_lapsed_hold_is_released_by_the_next_booking(appt_type, staff, contact, slot):
    t0 = slot - datetime.timedelta(days=2)
    hold = services.booking_create(
        type=appt_type, staff=staff, contact=contact, start=slot, hold_minutes=10, now=t0
    )
    winner = services.booking_create(
        type=appt_type, staff=staff, contact=contact, start=slot, now=t0 + 20 * M
    )
    hold.refresh_from_db()
    assert hold.status == BookingStatus.CANCELLED and hold.cancelled_at is not None
    assert winner.status == BookingStatus.CONFIRMED
    with pytest.raises(Conflict):
        services.booking_confirm(booking=hold, now=t0 + 21 * M)


def test_hold_enqueues_the_expiry_task(
    appt_type, staff, contact, slot, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        hold = services.booking_create(
            type=appt_type, staff=staff, contact=contact, start=slot, hold_minutes=15
        )
    task = DBTaskResult.objects.get(task_path__endswith="expire_holds")
    assert task.run_after == hold.hold_expires_at
    # A confirmed booking enqueues nothing.
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot + 3 * H)
    assert DBTaskResult.objects.count() == 1


def test_expire_task_runs_the_service(appt_type, staff, contact, slot):
    t0 = timezone.now() - 5 * M
    services.booking_create(
        type=appt_type, staff=staff, contact=contact, start=slot, hold_minutes=1, now=t0
    )
    assert expire_holds.call() == 1
    assert Booking.objects.get().status == BookingStatus.CANCELLED


# -- combined services, availability, source --------------------------------------------------


def test_combined_services_add_up(org, staff, contact, slot):
    main = make_type(org, duration_minutes=60, buffer_before=5, buffer_after=10)
    extra = make_type(org, duration_minutes=30, buffer_after=20, combinable=True)
    b = services.booking_create(
        type=main, staff=staff, contact=contact, start=slot, services=[extra]
    )
    assert b.end - b.start == 90 * M
    assert b.start - b.blocked_start == 5 * M
    assert b.blocked_end - b.end == 20 * M
    assert list(b.services.all()) == [extra]


def test_non_combinable_service_refused_nothing_written(org, staff, contact, slot):
    main = make_type(org)
    other = make_type(org, combinable=False)
    with pytest.raises(ValidationError) as err:
        services.booking_create(
            type=main, staff=staff, contact=contact, start=slot, services=[other]
        )
    assert "services" in err.value.message_dict
    assert Booking.objects.count() == 0 and TimelineEntry.objects.count() == 0


def test_availability_is_rechecked(appt_type, org, contact, slot):
    lazy = StaffFactory(unit=make_unit(org, "Nights"))  # no working hours at all
    with pytest.raises(ValidationError) as err:
        services.booking_create(type=appt_type, staff=lazy, contact=contact, start=slot)
    assert "start" in err.value.message_dict
    assert Booking.objects.count() == 0
    # Staff may book outside the published hours on purpose.
    b = services.booking_create(
        type=appt_type, staff=lazy, contact=contact, start=slot, enforce_availability=False
    )
    assert b.status == BookingStatus.CONFIRMED


def test_source_created_by_and_bad_source(appt_type, staff, contact, slot):
    user = UserFactory()
    b = services.booking_create(
        type=appt_type, staff=staff, contact=contact, start=slot, source="booker", actor=user
    )
    assert (b.source, b.created_by) == ("booker", user)
    with pytest.raises(ValidationError) as err:
        services.booking_create(
            type=appt_type, staff=staff, contact=contact, start=slot + 3 * H, source="fax"
        )
    assert "source" in err.value.message_dict


def test_notification_hook_called_in_each_change(appt_type, staff, contact, slot, events):
    hold = services.booking_create(
        type=appt_type, staff=staff, contact=contact, start=slot, hold_minutes=30
    )
    services.booking_confirm(booking=hold)
    services.booking_reschedule(booking=hold, start=slot + 3 * H)
    services.booking_cancel(booking=hold, reason="changed plans")
    assert [e for _pk, _s, e in events] == ["created", "confirmed", "rescheduled", "cancelled"]
    assert events[0][1] == BookingStatus.HELD and events[-1][1] == BookingStatus.CANCELLED
    entry = TimelineEntry.objects.get(kind="booking.cancelled")
    assert entry.data["reason"] == "changed plans"


def test_failed_booking_sends_nothing(appt_type, staff, contact, slot, events):
    services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot)
    with pytest.raises(Conflict):
        services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot)
    assert [e for _pk, _s, e in events] == ["created"]


# -- windows ---------------------------------------------------------------------------------


def test_cancel_window(org, staff, contact, slot):
    strict = make_type(org, cancel_window_hours=24)
    now = slot - 10 * H
    b = services.booking_create(
        type=strict, staff=staff, contact=contact, start=slot, now=now - 3 * 24 * H
    )
    with pytest.raises(ValidationError) as err:
        services.booking_cancel(booking=b, now=now)
    assert "start" in err.value.message_dict
    b.refresh_from_db()
    assert b.status == BookingStatus.CONFIRMED and b.cancelled_at is None
    services.booking_cancel(booking=b, now=now, enforce_window=False)
    b.refresh_from_db()
    assert b.status == BookingStatus.CANCELLED and b.cancelled_at == now


def test_reschedule_window(org, staff, contact, slot):
    strict = make_type(org, reschedule_window_hours=48)
    b = services.booking_create(type=strict, staff=staff, contact=contact, start=slot)
    with pytest.raises(ValidationError) as err:
        services.booking_reschedule(booking=b, start=slot + 2 * H, now=slot - 24 * H)
    assert "start" in err.value.message_dict
    services.booking_reschedule(
        booking=b, start=slot + 2 * H, now=slot - 24 * H, enforce_window=False
    )
    b.refresh_from_db()
    assert b.start == slot + 2 * H


def test_reschedule_to_another_staff_member(appt_type, org, staff, contact, slot):
    other = StaffFactory(unit=make_unit(org, "Other branch"))
    give_hours(other)
    b = services.booking_create(type=appt_type, staff=staff, contact=contact, start=slot)
    blocker = services.booking_create(type=appt_type, staff=other, contact=contact, start=slot)
    with pytest.raises(Conflict):
        services.booking_reschedule(booking=b, start=slot, staff=other)
    services.booking_cancel(booking=blocker)
    services.booking_reschedule(booking=b, start=slot, staff=other)
    b.refresh_from_db()
    assert (b.staff_id, b.unit_id) == (other.pk, other.unit_id)


def test_reschedule_keeps_combined_length(org, staff, contact, slot):
    main = make_type(org, duration_minutes=60)
    extra = make_type(org, duration_minutes=30, combinable=True)
    b = services.booking_create(
        type=main, staff=staff, contact=contact, start=slot, services=[extra]
    )
    services.booking_reschedule(booking=b, start=slot + 4 * H)
    b.refresh_from_db()
    assert b.end - b.start == 90 * M


# -- selectors and rules ---------------------------------------------------------------------


def test_scoping_by_role(org, appt_type, slot):
    hq = make_unit(org, "HQ")
    a = make_unit(org, "A", parent=hq)
    b = make_unit(org, "B", parent=hq)
    admin = StaffFactory(unit=hq, roles=[Role.ORG_ADMIN])
    manager = StaffFactory(unit=a, roles=[Role.MANAGER])
    tech_a = StaffFactory(unit=a, roles=[Role.TECHNICIAN])
    tech_b = StaffFactory(unit=b, roles=[Role.TECHNICIAN])
    caller = StaffFactory(unit=make_unit(org, "Call centre", parent=hq), roles=[Role.CALL_CENTRE])
    for member in (tech_a, tech_b):
        give_hours(member)
    customer = UserFactory()
    mine = ContactFactory(organisation=org, user=customer)
    theirs = ContactFactory(organisation=org)
    in_a = services.booking_create(type=appt_type, staff=tech_a, contact=mine, start=slot)
    in_b = services.booking_create(
        type=appt_type, staff=tech_b, contact=theirs, start=slot, actor=caller.user
    )

    def seen(user):
        return set(bookings_for(user).values_list("pk", flat=True))

    assert seen(admin.user) == {in_a.pk, in_b.pk}
    assert seen(manager.user) == {in_a.pk}
    assert seen(tech_a.user) == {in_a.pk}
    assert seen(tech_b.user) == {in_b.pk}
    assert seen(caller.user) == {in_b.pk}  # booked by them
    assert seen(customer) == {in_a.pk}
    assert seen(UserFactory()) == set()

    assert manager.user.has_perm("bookings.view_booking", in_a)
    assert not manager.user.has_perm("bookings.view_booking", in_b)
    assert manager.user.has_perm("bookings.manage_booking", in_a)
    assert customer.has_perm("bookings.view_booking", in_a)
    assert customer.has_perm("bookings.change_booking", in_a)
    assert not customer.has_perm("bookings.manage_booking", in_a)
    assert not customer.has_perm("bookings.view_booking", in_b)
    assert customer.has_perm("bookings.view_own")
    assert not manager.user.has_perm("bookings.view_own")
    assert caller.user.has_perm("bookings.book_for_customer")
    assert manager.user.has_perm("bookings.book_for_customer")
    assert not tech_a.user.has_perm("bookings.book_for_customer")
    assert not customer.has_perm("bookings.book_for_customer")

    assert booking_by_public_id(customer, in_a.public_id) == in_a
    assert booking_by_public_id(customer, str(in_b.public_id)) is None
    assert booking_by_public_id(admin.user, "not-a-uuid") is None
    assert booking_by_public_id(admin.user, uuid.uuid4()) is None


# -- admin -----------------------------------------------------------------------------------


def test_admin_lists_scoped_bookings_and_cancels(client, org, appt_type, slot):
    hq = make_unit(org, "HQ")
    a = make_unit(org, "A", parent=hq)
    b = make_unit(org, "B", parent=hq)
    manager = StaffFactory(unit=a, roles=[Role.MANAGER])
    mine, theirs = StaffFactory(unit=a), StaffFactory(unit=b)
    for member in (mine, theirs):
        give_hours(member)
    contact = ContactFactory(organisation=org)
    in_a = services.booking_create(type=appt_type, staff=mine, contact=contact, start=slot)
    in_b = services.booking_create(type=appt_type, staff=theirs, contact=contact, start=slot)
    client.force_login(manager.user)
    listing = client.get("/admin/bookings/booking/")
    assert listing.status_code == 200
    assert list(listing.context["cl"].queryset) == [in_a]
    assert client.get(f"/admin/bookings/booking/{in_b.pk}/change/").status_code in (302, 404)
    response = client.post(
        "/admin/bookings/booking/",
        {"action": "cancel_bookings", "_selected_action": [in_a.pk, in_b.pk]},
    )
    assert response.status_code == 302
    in_a.refresh_from_db()
    in_b.refresh_from_db()
    assert in_a.status == BookingStatus.CANCELLED and in_a.cancelled_at is not None
    assert in_b.status == BookingStatus.CONFIRMED
