"""The REST API: types, options, availability, bookings — happy paths, access, bad input (with
nothing written) and 409 with fresh options."""

import datetime
import uuid
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from slotwise.bookings import services
from slotwise.bookings.models import Booking, BookingStatus
from slotwise.customers.models import Contact
from slotwise.org.models import Location
from slotwise.org.roles import Role
from slotwise.scheduling.models import AppointmentMode, AppointmentType
from slotwise.tests_factories import (
    ContactFactory,
    OrganisationFactory,
    StaffFactory,
    UserFactory,
    make_unit,
)

from .conftest import future_slot, give_hours, make_type

pytestmark = pytest.mark.django_db
H = datetime.timedelta(hours=1)


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(org):
    """HQ with two sibling branches A and B; an admin at HQ, a manager and an adviser in A, a
    technician in B; a customer with a login; a second organisation."""
    hq = make_unit(org, "HQ")
    a = make_unit(org, "Branch A", parent=hq)
    b = make_unit(org, "Branch B", parent=hq)
    w = type("World", (), {})()
    w.org, w.hq, w.a, w.b = org, hq, a, b
    w.admin = StaffFactory(unit=hq, roles=[Role.ORG_ADMIN])
    w.manager = StaffFactory(unit=a, roles=[Role.MANAGER])
    w.rep = StaffFactory(unit=a, roles=[Role.REPRESENTATIVE])
    w.tech = StaffFactory(unit=b, roles=[Role.TECHNICIAN])
    for member in (w.rep, w.tech, w.manager):
        give_hours(member)
    w.customer_user = UserFactory()
    w.contact = ContactFactory(organisation=org, user=w.customer_user)
    w.other_contact = ContactFactory(organisation=org)
    w.consult = make_type(org, slug="consult", buffer_after=15, cancel_window_hours=24)
    w.visit = make_type(
        org, slug="visit", mode=AppointmentMode.CUSTOMER_ADDRESS, duration_minutes=45
    )
    w.extra = make_type(org, slug="extra", duration_minutes=30, combinable=True)
    w.single = make_type(org, slug="single", duration_minutes=30)
    w.slot = future_slot(org)
    w.other_org = OrganisationFactory()
    w.stranger = StaffFactory(
        unit=make_unit(w.other_org, "Elsewhere"), roles=[Role.ORG_ADMIN, Role.MANAGER]
    )
    give_hours(w.stranger)
    w.foreign_type = make_type(w.other_org, slug="consult")
    return w


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def token_client(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def book(w, **extra):
    return services.booking_create(
        type=w.consult, staff=w.rep, contact=w.contact, start=w.slot, **extra
    )


# -- schema ----------------------------------------------------------------------------------


def test_schema_builds_and_lists_every_endpoint(world):
    response = client_for(world.admin.user).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for expected in (
        "/api/types/",
        "/api/types/{key}/",
        "/api/options/",
        "/api/availability/free/",
        "/api/availability/gaps/",
        "/api/availability/hours/",
        "/api/bookings/",
        "/api/bookings/{public_id}/",
        "/api/bookings/{public_id}/confirm/",
        "/api/bookings/{public_id}/cancel/",
        "/api/bookings/{public_id}/reschedule/",
        "/api/bookings/{public_id}/mark/",
    ):
        assert expected in paths, expected
    params = {p["name"] for p in paths["/api/options/"]["get"]["parameters"]}
    assert {"type", "services", "postcode", "start", "end", "contact", "staff", "limit"} <= params
    assert "409" in paths["/api/bookings/"]["post"]["responses"]


def test_anonymous_is_refused(world):
    assert APIClient().get("/api/bookings/").status_code in (401, 403)
    assert APIClient().get("/api/options/?type=consult").status_code in (401, 403)


# -- appointment types -----------------------------------------------------------------------


def test_types_list_and_detail_scoped(world):
    client = client_for(world.rep.user)
    response = client.get("/api/types/")
    assert response.status_code == 200
    slugs = {t["slug"] for t in response.json()}
    assert slugs == {"consult", "visit", "extra", "single"}
    detail = client.get("/api/types/consult/")
    assert detail.status_code == 200
    assert detail.json()["id"] == world.consult.pk
    assert detail.json()["duration_minutes"] == 60
    # Another organisation's type, by id: not found.
    assert client.get(f"/api/types/{world.foreign_type.pk}/").status_code == 404
    assert client_for(world.customer_user).get("/api/types/").status_code == 403


def test_type_create_and_update_by_manager_only(world):
    payload = {"name": "Follow-up", "slug": "follow-up", "duration_minutes": 20}
    assert client_for(world.rep.user).post("/api/types/", payload, format="json").status_code == 403
    client = client_for(world.manager.user)
    response = client.post("/api/types/", payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["currency"] == world.org.currency
    created = AppointmentType.objects.get(organisation=world.org, slug="follow-up")
    response = client.patch(
        "/api/types/follow-up/", {"duration_minutes": 25, "buffer_after": 5}, format="json"
    )
    assert response.status_code == 200, response.content
    created.refresh_from_db()
    assert (created.duration_minutes, created.buffer_after) == (25, 5)
    # Duplicate slug: a field error, nothing written.
    count = AppointmentType.objects.count()
    response = client.post("/api/types/", {**payload, "name": "Again"}, format="json")
    assert response.status_code == 400
    assert "slug" in response.json()
    assert AppointmentType.objects.count() == count


# -- options, free, gaps, hours --------------------------------------------------------------


def test_options_ranked_with_reasons(world):
    client = client_for(world.manager.user)
    start = world.slot - 2 * H
    response = client.get(
        "/api/options/",
        {"type": "consult", "start": start.isoformat(), "end": (start + 8 * H).isoformat()},
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["type"] == "consult" and data["duration"] == 60
    options = data["options"]
    assert options, data
    staff_ids = {o["staff"] for o in options}
    assert staff_ids <= {world.rep.pk, world.tech.pk, world.manager.pk}
    assert world.stranger.pk not in staff_ids
    first = options[0]
    assert {"start", "end", "score", "reasons", "reason_codes", "travel_before"} <= set(first)
    assert all(isinstance(c, dict) and "code" in c for o in options for c in o["reason_codes"])
    scores = [o["score"] for o in options]
    assert scores == sorted(scores, reverse=True)


def test_options_combined_services_add_up(world):
    client = client_for(world.manager.user)
    response = client.get(
        "/api/options/",
        {"type": "consult", "services": "extra", "start": world.slot.isoformat(), "limit": 3},
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["duration"] == 90 and data["services"] == ["extra"]
    for option in data["options"]:
        start = datetime.datetime.fromisoformat(option["start"])
        end = datetime.datetime.fromisoformat(option["end"])
        assert end - start == datetime.timedelta(minutes=90)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"type": "nope"}, "type"),
        ({"type": "consult", "services": "single"}, "services"),
        ({"type": "consult", "services": "ghost"}, "services"),
        ({"type": "visit", "postcode": "9999 ZZ"}, "postcode"),
        ({"type": "visit"}, "postcode"),
        ({"type": "consult", "start": "PAST"}, "start"),
        ({"type": "consult", "start": "SLOT", "end": "BEFORE"}, "end"),
        ({"type": "consult", "start": "SLOT", "end": "FAR"}, "end"),
        ({"type": "consult", "start": "FAR"}, "start"),
        ({"type": "consult", "contact": str(uuid.uuid4())}, "contact"),
        ({"type": "consult", "contact": "FOREIGN_CONTACT"}, "contact"),
        ({"type": "consult", "staff": "STRANGER"}, "staff"),
        ({"type": "consult", "start": "not a date"}, "start"),
    ],
)
def test_options_bad_input_is_a_field_error(world, params, field):
    foreign_contact = ContactFactory(organisation=world.other_org)
    values = {
        "PAST": (world.slot - datetime.timedelta(days=10)).isoformat(),
        "SLOT": world.slot.isoformat(),
        "BEFORE": (world.slot - H).isoformat(),
        "FAR": (world.slot + datetime.timedelta(days=400)).isoformat(),
        "FOREIGN_CONTACT": str(foreign_contact.public_id),
        "STRANGER": str(world.stranger.pk),
    }
    params = {k: values.get(v, v) for k, v in params.items()}
    before = (Booking.objects.count(), Location.objects.count(), Contact.objects.count())
    response = client_for(world.manager.user).get("/api/options/", params)
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert isinstance(response.json()[field], list)
    assert (Booking.objects.count(), Location.objects.count(), Contact.objects.count()) == before


def test_options_at_customer_address_with_postcode(world):
    response = client_for(world.manager.user).get(
        "/api/options/", {"type": "visit", "postcode": "1012 AB", "start": world.slot.isoformat()}
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["location"]["postcode"].replace(" ", "") == "1012AB"
    assert data["options"]
    assert Location.objects.count() == 0  # searching writes nothing


def test_who_is_free(world):
    client = client_for(world.manager.user)
    book(world)
    response = client.get(
        "/api/availability/free/", {"type": "consult", "at": world.slot.isoformat()}
    )
    assert response.status_code == 200, response.content
    free = {o["staff"] for o in response.json()["options"]}
    assert world.rep.pk not in free  # booked at that time
    assert world.manager.pk in free
    response = client.get(
        "/api/availability/free/",
        {"type": "consult", "at": (world.slot - datetime.timedelta(days=5)).isoformat()},
    )
    assert response.status_code == 400 and "at" in response.json()


def test_gaps_and_hours(world):
    book(world)
    client = client_for(world.admin.user)
    zone = ZoneInfo(world.org.time_zone)
    day = world.slot.astimezone(zone).replace(hour=0)
    response = client.get(
        "/api/availability/gaps/",
        {
            "staff": f"{world.rep.pk},{world.tech.pk}",
            "start": day.isoformat(),
            "end": (day + datetime.timedelta(days=1)).isoformat(),
        },
    )
    assert response.status_code == 200, response.content
    agendas = {a["staff"]: a["gaps"] for a in response.json()["agendas"]}
    rep_gaps = [
        (datetime.datetime.fromisoformat(g["start"]), datetime.datetime.fromisoformat(g["end"]))
        for g in agendas[world.rep.pk]
    ]
    booked = Booking.objects.get()
    assert rep_gaps and all(
        e <= booked.blocked_start or s >= booked.blocked_end for s, e in rep_gaps
    )
    assert len(agendas[world.tech.pk]) == 1  # an empty day is one gap
    # Another organisation's staff member: a field error.
    response = client.get("/api/availability/gaps/", {"staff": str(world.stranger.pk)})
    assert response.status_code == 400 and "staff" in response.json()
    response = client.get(
        "/api/availability/gaps/",
        {"start": world.slot.isoformat(), "end": (world.slot - H).isoformat()},
    )
    assert response.status_code == 400 and "end" in response.json()

    hours = client_for(world.rep.user).get("/api/availability/hours/")
    assert hours.status_code == 200
    assert hours.json()["staff"] == world.rep.pk
    assert len(hours.json()["hours"]) == 7
    assert hours.json()["time_zone"] == world.org.time_zone
    # A technician may read only their own hours; a manager their unit's, not a sibling's.
    tech = client_for(world.tech.user)
    assert tech.get("/api/availability/hours/", {"staff": world.rep.pk}).status_code == 400
    manager = client_for(world.manager.user)
    assert manager.get("/api/availability/hours/", {"staff": world.rep.pk}).status_code == 200
    assert manager.get("/api/availability/hours/", {"staff": world.tech.pk}).status_code == 400


# -- bookings: create ------------------------------------------------------------------------


def test_book_an_option_with_a_token(world):
    client = token_client(world.rep.user)
    payload = {
        "type": "consult",
        "staff": world.rep.pk,
        "start": world.slot.isoformat(),
        "contact": str(world.contact.public_id),
    }
    response = client.post("/api/bookings/", payload, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    booking = Booking.objects.get()
    assert data["id"] == str(booking.public_id)
    assert data["status"] == BookingStatus.CONFIRMED
    assert data["staff"]["id"] == str(world.rep.pk)
    assert data["contact"]["id"] == str(world.contact.public_id)
    assert booking.source == "api" and booking.created_by == world.rep.user
    assert datetime.datetime.fromisoformat(data["start"]) == world.slot
    # The same slot again: 409 with fresh options, nothing written.
    response = client.post("/api/bookings/", payload, format="json")
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["detail"]
    assert body["options"], body
    taken = (booking.staff_id, booking.start)
    assert all(
        (o["staff"], datetime.datetime.fromisoformat(o["start"])) != taken for o in body["options"]
    )
    assert Booking.objects.count() == 1


def test_book_a_hold_then_confirm(world):
    client = client_for(world.manager.user)
    response = client.post(
        "/api/bookings/",
        {
            "type": "consult",
            "services": ["extra"],
            "staff": world.rep.pk,
            "start": world.slot.isoformat(),
            "contact": str(world.contact.public_id),
            "hold_minutes": 10,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "held" and data["hold_expires_at"]
    assert data["services"] == ["extra"]
    booking = Booking.objects.get(public_id=data["id"])
    assert booking.end - booking.start == datetime.timedelta(minutes=90)
    assert list(booking.services.values_list("slug", flat=True)) == ["extra"]
    response = client.post(f"/api/bookings/{booking.public_id}/confirm/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "confirmed"


def test_book_for_a_new_contact_at_their_address(world):
    client = client_for(world.manager.user)
    contacts = Contact.objects.count()
    response = client.post(
        "/api/bookings/",
        {
            "type": "visit",
            "staff": world.rep.pk,
            "start": world.slot.isoformat(),
            "new_contact": {"first_name": "Emma", "last_name": "Dijk", "phone": "+31612345678"},
            "postcode": "1012 AB",
            "address": "Damrak 1",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert Contact.objects.count() == contacts + 1
    booking = Booking.objects.get()
    assert booking.location.postcode.replace(" ", "") == "1012AB"
    assert booking.contact.first_name == "Emma"
    # A lost race with a new contact keeps neither the contact nor the address.
    locations = Location.objects.count()
    response = client.post(
        "/api/bookings/",
        {
            "type": "visit",
            "staff": world.rep.pk,
            "start": world.slot.isoformat(),
            "new_contact": {"first_name": "Jan", "phone": "+31612345679"},
            "postcode": "1012 AB",
        },
        format="json",
    )
    assert response.status_code == 409, response.content
    assert Contact.objects.count() == contacts + 1
    assert Location.objects.count() == locations


@pytest.mark.parametrize(
    "change, field",
    [
        ({"type": "nope"}, "type"),
        ({"type": "FOREIGN_TYPE"}, "type"),
        ({"services": ["single"]}, "services"),
        ({"type": "visit", "postcode": "9999 ZZ"}, "postcode"),
        ({"start": "PAST"}, "start"),
        ({"start": "FAR"}, "start"),
        ({"start": "NIGHT_TECH", "staff": "TECH_NO_HOURS"}, "start"),
        ({"contact": str(uuid.uuid4())}, "contact"),
        ({"contact": None}, "contact"),
        ({"staff": "STRANGER"}, "staff"),
        ({"staff": 0}, "staff"),
        ({"hold_minutes": 0}, "hold_minutes"),
        ({"start": "garbage"}, "start"),
        ({"contact": None, "new_contact": {"first_name": "X"}}, "phone"),
    ],
)
def test_book_bad_input_writes_nothing(world, change, field):
    world.tech.working_hours.all().delete()
    values = {
        "FOREIGN_TYPE": str(world.foreign_type.pk),
        "PAST": (world.slot - datetime.timedelta(days=10)).isoformat(),
        "FAR": (world.slot + datetime.timedelta(days=400)).isoformat(),
        "NIGHT_TECH": world.slot.isoformat(),
        "TECH_NO_HOURS": world.tech.pk,
        "STRANGER": world.stranger.pk,
    }
    payload = {
        "type": "consult",
        "staff": world.rep.pk,
        "start": world.slot.isoformat(),
        "contact": str(world.contact.public_id),
    }
    payload.update({k: values.get(v, v) if isinstance(v, str) else v for k, v in change.items()})
    payload = {k: v for k, v in payload.items() if v is not None}
    before = (Booking.objects.count(), Contact.objects.count(), Location.objects.count())
    response = client_for(world.manager.user).post("/api/bookings/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert (Booking.objects.count(), Contact.objects.count(), Location.objects.count()) == before


def test_only_booking_roles_may_book(world):
    payload = {
        "type": "consult",
        "staff": world.tech.pk,
        "start": world.slot.isoformat(),
        "contact": str(world.contact.public_id),
    }
    assert (
        client_for(world.tech.user).post("/api/bookings/", payload, format="json").status_code
        == 403
    )
    customer = client_for(world.customer_user)
    assert customer.post("/api/bookings/", payload, format="json").status_code == 403
    assert Booking.objects.count() == 0


# -- bookings: access ------------------------------------------------------------------------


def test_list_and_detail_are_scoped(world):
    in_a = book(world)
    in_b = services.booking_create(
        type=world.consult, staff=world.tech, contact=world.other_contact, start=world.slot
    )
    foreign = services.booking_create(
        type=world.foreign_type,
        staff=world.stranger,
        contact=ContactFactory(organisation=world.other_org),
        start=world.slot,
    )

    def listed(user):
        response = client_for(user).get("/api/bookings/")
        assert response.status_code == 200
        return {r["id"] for r in response.json()["results"]}

    ids = {b: str(b.public_id) for b in (in_a, in_b, foreign)}
    assert listed(world.admin.user) == {ids[in_a], ids[in_b]}
    assert listed(world.manager.user) == {ids[in_a]}
    assert listed(world.tech.user) == {ids[in_b]}
    assert listed(world.customer_user) == {ids[in_a]}
    assert listed(world.stranger.user) == {ids[foreign]}

    manager = client_for(world.manager.user)
    assert manager.get(f"/api/bookings/{in_a.public_id}/").status_code == 200
    assert manager.get(f"/api/bookings/{in_b.public_id}/").status_code == 404  # sibling unit
    assert manager.get(f"/api/bookings/{foreign.public_id}/").status_code == 404  # other org
    customer = client_for(world.customer_user)
    assert customer.get(f"/api/bookings/{in_a.public_id}/").status_code == 200
    assert customer.get(f"/api/bookings/{in_b.public_id}/").status_code == 404
    # Actions on what one cannot see are 404 too, and change nothing.
    response = manager.post(f"/api/bookings/{in_b.public_id}/cancel/", {}, format="json")
    assert response.status_code == 404
    in_b.refresh_from_db()
    assert in_b.status == BookingStatus.CONFIRMED


def test_list_filters(world):
    first = book(world)
    services.booking_create(
        type=world.consult, staff=world.rep, contact=world.other_contact, start=world.slot + 3 * H
    )
    client = client_for(world.manager.user)
    response = client.get("/api/bookings/", {"contact": str(world.contact.public_id)})
    assert [r["id"] for r in response.json()["results"]] == [str(first.public_id)]
    response = client.get("/api/bookings/", {"start": (world.slot + 2 * H).isoformat()})
    assert len(response.json()["results"]) == 1
    assert client.get("/api/bookings/", {"status": "bogus"}).status_code == 400


# -- bookings: actions -----------------------------------------------------------------------


def test_cancel_with_reason(world):
    booking = book(world)
    response = client_for(world.manager.user).post(
        f"/api/bookings/{booking.public_id}/cancel/", {"reason": "Customer is ill"}, format="json"
    )
    assert response.status_code == 200, response.content
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancelled_at is not None
    assert response.json()["cancelled_at"]


def test_customer_cancel_window_applies_staff_may_override(world):
    strict = make_type(world.org, slug="strict", cancel_window_hours=24 * 30)
    booking = services.booking_create(
        type=strict, staff=world.rep, contact=world.contact, start=world.slot
    )
    customer = client_for(world.customer_user)
    response = customer.post(f"/api/bookings/{booking.public_id}/cancel/", {}, format="json")
    assert response.status_code == 400 and "start" in response.json()
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    response = customer.post(
        f"/api/bookings/{booking.public_id}/mark/", {"status": "done"}, format="json"
    )
    assert response.status_code == 403
    response = client_for(world.manager.user).post(
        f"/api/bookings/{booking.public_id}/cancel/", {}, format="json"
    )
    assert response.status_code == 200
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED


def test_customer_cancels_own_booking_outside_the_window(world):
    later = future_slot(world.org, days=5)
    booking = services.booking_create(
        type=world.consult, staff=world.rep, contact=world.contact, start=later
    )
    response = client_for(world.customer_user).post(
        f"/api/bookings/{booking.public_id}/cancel/", {"reason": "moving"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"


def test_reschedule_and_conflict(world):
    booking = book(world)
    other = services.booking_create(
        type=world.consult, staff=world.rep, contact=world.other_contact, start=world.slot + 4 * H
    )
    client = client_for(world.manager.user)
    new_start = world.slot + 2 * H
    response = client.post(
        f"/api/bookings/{booking.public_id}/reschedule/",
        {"start": new_start.isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.content
    booking.refresh_from_db()
    assert booking.start == new_start
    # Onto the other booking: 409 with options, the booking stays where it was.
    response = client.post(
        f"/api/bookings/{booking.public_id}/reschedule/",
        {"start": other.start.isoformat()},
        format="json",
    )
    assert response.status_code == 409, response.content
    assert "options" in response.json()
    booking.refresh_from_db()
    assert booking.start == new_start
    # To another staff member (staff only).
    response = client.post(
        f"/api/bookings/{booking.public_id}/reschedule/",
        {"start": other.start.isoformat(), "staff": world.manager.pk},
        format="json",
    )
    assert response.status_code == 200, response.content
    booking.refresh_from_db()
    assert booking.staff_id == world.manager.pk and booking.unit_id == world.manager.unit_id
    response = client_for(world.customer_user).post(
        f"/api/bookings/{booking.public_id}/reschedule/",
        {"start": world.slot.isoformat(), "staff": world.rep.pk},
        format="json",
    )
    assert response.status_code == 400 and "staff" in response.json()


def test_mark_done(world):
    booking = book(world)
    client = client_for(world.manager.user)
    response = client.post(
        f"/api/bookings/{booking.public_id}/mark/", {"status": "done"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "done"
    response = client.post(
        f"/api/bookings/{booking.public_id}/mark/", {"status": "cancelled"}, format="json"
    )
    assert response.status_code == 400 and "status" in response.json()


def test_unknown_public_id_is_404(world):
    client = client_for(world.admin.user)
    assert client.get(f"/api/bookings/{uuid.uuid4()}/").status_code == 404
    assert reverse("api_booking", args=[uuid.uuid4()]).startswith("/api/bookings/")


def test_naive_times_are_the_organisations_local_time(world):
    naive_local = world.slot.astimezone(ZoneInfo(world.org.time_zone)).replace(tzinfo=None)
    response = client_for(world.manager.user).post(
        "/api/bookings/",
        {
            "type": "consult",
            "staff": world.rep.pk,
            "start": naive_local.isoformat(),
            "contact": str(world.contact.public_id),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert Booking.objects.get().start == world.slot
    assert response.json()["start"].endswith(("+01:00", "+02:00"))
