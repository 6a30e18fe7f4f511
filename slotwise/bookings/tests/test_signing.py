"""Signed manage links (S4.13): tamper, expiry, action; and the manage pages behind them."""

from __future__ import annotations

import datetime

import pytest
from django.core import signing as django_signing
from django.urls import reverse
from django.utils import timezone

from slotwise.bookings import signing
from slotwise.bookings.models import BookingStatus
from slotwise.bookings.services import booking_create

from .conftest import future_slot, make_type

pytestmark = pytest.mark.django_db


@pytest.fixture
def booking(org, staff, contact):
    type_ = make_type(
        org,
        mode="phone",
        duration_minutes=60,
        cancel_window_hours=24,
        reschedule_window_hours=24,
    )
    return booking_create(
        type=type_, staff=staff, contact=contact, start=future_slot(org, days=4, hour=10)
    )


def test_round_trip_carries_public_id_action_and_expiry(booking):
    claims = signing.read_token(signing.make_token(booking, "cancel"))
    assert claims.public_id == booking.public_id
    assert claims.action == "cancel"
    assert claims.expires_at == booking.end


def test_tampered_token_is_invalid(booking):
    token = signing.make_token(booking)
    payload, stamp, signature = token.rsplit(":", 2)
    for bad in (
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        f"{payload}x:{stamp}:{signature}",
        "",
        "not-a-token",
    ):
        with pytest.raises(signing.InvalidToken):
            signing.read_token(bad)


def test_token_signed_with_another_salt_is_invalid(booking):
    other = django_signing.TimestampSigner(salt="something-else").sign_object(
        {"b": str(booking.public_id), "a": "manage", "e": int(booking.end.timestamp())},
        compress=True,
    )
    with pytest.raises(signing.InvalidToken):
        signing.read_token(other)


def test_token_expires_when_the_appointment_ends(booking):
    token = signing.make_token(booking)
    signing.read_token(token, now=booking.end - datetime.timedelta(seconds=1))
    with pytest.raises(signing.ExpiredToken):
        signing.read_token(token, now=booking.end)


def test_action_must_be_allowed_by_the_token(booking):
    cancel_only = signing.make_token(booking, "cancel")
    signing.read_token(cancel_only, action="cancel")
    signing.read_token(cancel_only, action="view")
    with pytest.raises(signing.InvalidToken):
        signing.read_token(cancel_only, action="reschedule")
    reschedule_only = signing.make_token(booking, "reschedule")
    with pytest.raises(signing.InvalidToken):
        signing.read_token(reschedule_only, action="cancel")
    manage = signing.make_token(booking, "manage")
    for action in ("view", "cancel", "reschedule"):
        signing.read_token(manage, action=action)
    with pytest.raises(ValueError):
        signing.make_token(booking, "delete")


def test_tampered_link_page_is_404_and_changes_nothing(client, booking):
    token = signing.make_token(booking)
    bad = token[:-2] + ("xx" if not token.endswith("xx") else "yy")
    page = client.get(reverse("bookings:manage", args=[bad]))
    assert page.status_code == 404
    assert "not valid" in page.content.decode()
    assert client.post(reverse("bookings:cancel", args=[bad])).status_code == 404
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_expired_link_page_is_410_and_changes_nothing(client, booking, monkeypatch):
    token = signing.make_token(booking)
    later = booking.end + datetime.timedelta(minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert client.get(reverse("bookings:manage", args=[token])).status_code == 410
    assert client.post(reverse("bookings:cancel", args=[token])).status_code == 410
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_cancel_only_link_cannot_reschedule(client, booking):
    token = signing.make_token(booking, "cancel")
    assert client.get(reverse("bookings:reschedule", args=[token])).status_code == 404
    page = client.get(reverse("bookings:manage", args=[token]))
    assert page.context["can_cancel"] and not page.context["can_reschedule"]


def test_cancel_through_the_link(client, booking):
    token = signing.make_token(booking)
    response = client.post(reverse("bookings:cancel", args=[token]))
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    page = client.get(response["Location"])
    assert page.context["done"] == "cancelled"
    assert not page.context["can_cancel"]


def test_cancel_too_late_is_refused_with_a_message(client, org, staff, contact):
    type_ = make_type(org, mode="phone", duration_minutes=30, cancel_window_hours=72)
    soon = future_slot(org, days=1, hour=10)
    booking = booking_create(type=type_, staff=staff, contact=contact, start=soon)
    token = signing.make_token(booking)
    page = client.get(reverse("bookings:manage", args=[token]))
    assert page.context["cancel_too_late"]
    response = client.post(reverse("bookings:cancel", args=[token]))
    assert response.status_code == 400
    assert "72" in response.context["problem"]
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_reschedule_through_the_link_keeps_the_booking(client, booking):
    token = signing.make_token(booking)
    page = client.get(reverse("bookings:reschedule", args=[token]))
    assert page.status_code == 200
    same = [o for d in page.context["same_days"] for o in d["options"]]
    assert same, "options with the same staff member"
    assert {o["staff_id"] for o in same} == {booking.staff_id}
    assert booking.start not in [o["start"] for o in same]  # not its own current time
    target = same[-1]
    response = client.post(reverse("bookings:reschedule", args=[token]), {"o": target["token"]})
    assert response.status_code == 302
    moved = type(booking).objects.get(pk=booking.pk)
    assert moved.start == target["start"]
    assert moved.public_id == booking.public_id
    assert moved.status == BookingStatus.CONFIRMED


def test_reschedule_with_a_tampered_option_changes_nothing(client, booking):
    token = signing.make_token(booking)
    before = booking.start
    response = client.post(reverse("bookings:reschedule", args=[token]), {"o": "forged"})
    assert response.status_code == 409
    assert response.context["problem"]
    booking.refresh_from_db()
    assert booking.start == before


def test_reschedule_to_a_colleague_moves_the_same_booking(client, org, booking):
    from slotwise.tests_factories import StaffFactory

    from .conftest import give_hours

    colleague = StaffFactory(unit=booking.staff.unit, user__first_name="Colleague")
    give_hours(colleague)
    token = signing.make_token(booking)
    page = client.get(reverse("bookings:reschedule", args=[token]))
    others = [o for d in page.context["other_days"] for o in d["options"]]
    assert others and {o["staff_id"] for o in others} == {colleague.pk}
    target = others[0]
    response = client.post(reverse("bookings:reschedule", args=[token]), {"o": target["token"]})
    assert response.status_code == 302
    moved = type(booking).objects.get(pk=booking.pk)
    assert (moved.staff_id, moved.start) == (colleague.pk, target["start"])
    assert moved.public_id == booking.public_id
