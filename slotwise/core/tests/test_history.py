"""simple-history with its manager class built once (core/history.py): every access still gets a
manager bound to its own instance, and audited saves still write their rows."""

import datetime

import pytest
from simple_history.manager import HistoryDescriptor

from slotwise.core.history import _get
from slotwise.customers.models import Contact
from slotwise.tests_factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_installed():
    assert HistoryDescriptor.__get__ is _get


def test_one_class_many_managers_each_bound_to_its_instance():
    first, second = ContactFactory(), ContactFactory()
    a, b = first.history, second.history
    assert type(a) is type(b)  # built once
    assert a is not b
    assert a.instance == first and b.instance == second
    first.first_name = "Changed"
    first.save()
    assert first.history.count() == 2
    assert second.history.count() == 1
    assert first.history.first().first_name == "Changed"
    # The model-level manager (no instance) lists every row.
    assert Contact.history.count() == 3


@pytest.mark.postgres
def test_insert_with_history_writes_what_save_and_simple_history_write(rf):
    """The same booking row and history row as `save()` (the ORM and simple-history), column by
    column, with the request's user, the change reason and the time of the change."""
    from django.db import connection
    from simple_history.models import HistoricalRecords

    from slotwise.bookings.models import Booking, BookingStatus
    from slotwise.bookings.tests.conftest import future_slot, make_type
    from slotwise.core.history import insert_with_history
    from slotwise.tests_factories import OrganisationFactory, StaffFactory, UserFactory

    if connection.vendor != "postgresql":
        pytest.skip("one statement on PostgreSQL only (a plain save elsewhere)")
    org = OrganisationFactory()
    staff = StaffFactory(organisation=org)
    btype = make_type(org)
    contact = ContactFactory(organisation=org)
    user = UserFactory()

    hour_long = datetime.timedelta(minutes=btype.duration_minutes)

    def booking(hour):
        start = future_slot(org, hour=hour)
        made = Booking(
            organisation=org,
            type=btype,
            staff=staff,
            contact=contact,
            unit=staff.unit,
            start=start,
            end=start + hour_long,
            blocked_start=start,
            blocked_end=start + hour_long,
            status=BookingStatus.CONFIRMED,
            created_by=user,
            notes="ring twice",
        )
        made._change_reason = "booked by phone"
        return made

    request = rf.post("/")
    request.user = user
    HistoricalRecords.context.request = request
    try:
        ours, theirs = booking(9), booking(11)
        insert_with_history(ours)
        theirs.save(force_insert=True)
    finally:
        del HistoricalRecords.context.request
    assert ours.pk and not ours._state.adding
    differ = {"id", "public_id", "start", "end", "blocked_start", "blocked_end"}
    differ |= {"created_at", "updated_at", "history_id", "history_date"}

    def row(model, **filters):
        values = model.objects.filter(**filters).values().get()
        return {k: v for k, v in values.items() if k not in differ}

    assert row(Booking, pk=ours.pk) == row(Booking, pk=theirs.pk)
    mine = row(Booking.history.model, id=ours.pk)
    assert mine == row(Booking.history.model, id=theirs.pk)
    assert mine["history_type"] == "+" and mine["history_user_id"] == user.pk
    assert mine["history_change_reason"] == "booked by phone"
    saved = Booking.objects.get(pk=ours.pk)
    assert saved.public_id == ours.public_id and saved.created_at == ours.created_at
    history = ours.history.get()
    assert history.start == ours.start and history.history_date >= ours.created_at
