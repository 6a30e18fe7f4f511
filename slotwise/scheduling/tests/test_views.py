"""The staff pages: who reaches which page, the booker's screen end to end through the Django
test client, the day view, working hours and the settings pages."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from slotwise.bookings.models import Booking
from slotwise.bookings.services import booking_create
from slotwise.customers.models import Contact
from slotwise.org.models import Location
from slotwise.org.roles import Role
from slotwise.scheduling.models import (
    AppointmentType,
    AvailabilityException,
    SchedulingPolicy,
    TimeOff,
    WorkingHours,
)

from .staff_pages_fixtures import person, world_fixture  # noqa: F401 (the `world` fixture)

pytestmark = pytest.mark.django_db
AMS = ZoneInfo("Europe/Amsterdam")


def as_user(client, staff):
    client.force_login(staff.user)
    return client


def htmx(client, url, data):
    return client.post(url, data, HTTP_HX_REQUEST="true")


def tomorrow_local(hour=10):
    day = timezone.now().astimezone(AMS).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=AMS)


# --- who reaches what ---------------------------------------------------------------------------

PAGES = {
    "booker": ("scheduling:booker", ()),
    "day": ("scheduling:day_view", ()),
    "hours": ("scheduling:my_hours", ()),
    "types": ("scheduling:types", ()),
    "type_new": ("scheduling:type_create", ()),
    "policy": ("scheduling:policy", ()),
}
# role attribute of `world` → pages it may open
ALLOWED = {
    "admin": {"booker", "day", "hours", "types", "type_new", "policy"},
    "manager": {"booker", "day", "hours", "types", "type_new", "policy"},
    "caller": {"booker", "hours"},
    "tech": {"hours"},
}


@pytest.mark.parametrize("who", sorted(ALLOWED))
@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_access_by_role(client, world, who, page):
    name, args = PAGES[page]
    response = as_user(client, getattr(world, who)).get(reverse(name, args=args))
    expected = 200 if page in ALLOWED[who] else 403
    assert response.status_code == expected, (who, page)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_anonymous_is_sent_to_login(client, world, page):
    name, args = PAGES[page]
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_customer_gets_403(client, world):
    from slotwise.tests_factories import UserFactory

    user = UserFactory()
    world.contact.user = user
    world.contact.save()
    client.force_login(user)
    for name, args in PAGES.values():
        assert client.get(reverse(name, args=args)).status_code in (302, 403)


def test_navigation_shows_the_staff_pages(client, world):
    body = as_user(client, world.manager).get(reverse("home")).content.decode()
    assert reverse("scheduling:booker") in body
    assert reverse("scheduling:day_view") in body
    body = as_user(client, world.tech).get(reverse("home")).content.decode()
    assert reverse("scheduling:my_hours") in body
    assert reverse("scheduling:booker") not in body


# --- booker -------------------------------------------------------------------------------------


def find(client, world, **overrides):
    data = {"type": world.visit.pk, "postcode": "1012 AB", "contact": ""}
    data.update(overrides)
    return htmx(client, reverse("scheduling:booker"), data)


def test_booker_finds_ranked_options(client, world):
    response = find(as_user(client, world.manager), world)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="option"' in body
    options = response.context["options"]
    assert options, body
    assert {o.staff_id for o in options} <= {world.tech.pk, world.south_tech.pk}
    # times are shown in the organisation's zone
    first = options[0].start.astimezone(AMS)
    assert first.strftime("%H:%M") in body
    # the booker page itself is a full page with the form
    page = client.get(reverse("scheduling:booker")).content.decode()
    assert 'data-testid="booker-form"' in page and "Home visit" in page


def test_booker_without_htmx_renders_a_whole_page(client, world):
    response = as_user(client, world.caller).post(
        reverse("scheduling:booker"), {"type": world.visit.pk, "postcode": "1012 AB"}
    )
    assert response.status_code == 200
    assert b"<html" in response.content and b'data-testid="option"' in response.content


def test_booker_postcode_that_does_not_geocode_is_a_field_error(client, world):
    locations = Location.objects.count()
    response = find(as_user(client, world.manager), world, postcode="9999 ZZ")
    body = response.content.decode()
    assert 'data-field="postcode"' in body
    assert 'data-testid="option"' not in body
    assert Location.objects.count() == locations
    assert Booking.objects.count() == 0


def test_booker_needs_a_postcode_for_a_visit(client, world):
    body = find(as_user(client, world.manager), world, postcode="").content.decode()
    assert 'data-field="postcode"' in body


def test_booker_phone_type_needs_no_postcode(client, world):
    response = find(as_user(client, world.manager), world, type=world.call.pk, postcode="")
    assert response.context["options"]


def test_booker_window_errors_are_next_to_the_dates(client, world):
    today = timezone.now().astimezone(AMS).date()
    as_user(client, world.manager)
    body = find(
        client,
        world,
        date_from=(today + dt.timedelta(days=5)).isoformat(),
        date_to=(today + dt.timedelta(days=2)).isoformat(),
    ).content.decode()
    assert 'data-field="date_to"' in body
    body = find(
        client, world, date_from=(today - dt.timedelta(days=3)).isoformat()
    ).content.decode()
    assert 'data-field="date_from"' in body
    body = find(
        client,
        world,
        date_from=today.isoformat(),
        date_to=(today + dt.timedelta(days=400)).isoformat(),
    ).content.decode()
    assert 'data-field="date_to"' in body


def test_booker_type_of_another_organisation_is_refused(client, world):
    body = find(as_user(client, world.manager), world, type=world.other_type.pk).content.decode()
    assert 'data-field="type"' in body


def test_booker_contact_search_is_scoped(client, world):
    as_user(client, world.manager)
    url = reverse("scheduling:booker_contacts")
    body = client.get(url, {"q": "Emma"}).content.decode()
    assert str(world.contact.public_id) in body
    assert str(world.contact.public_id) in client.get(url, {"q": "0612 345"}).content.decode()
    assert "Eve" not in client.get(url, {"q": "Eve"}).content.decode()
    as_user(client, world.tech)
    assert client.get(url, {"q": "Emma"}).status_code == 403


def option_data(world, option, **extra):
    data = {
        "type": world.visit.pk,
        "extras": "",
        "postcode": "1012 AB",
        "address": "",
        "staff": option.staff_id,
        "start": option.start.isoformat(),
        "contact": "",
    }
    data.update(extra)
    return data


def test_booker_books_for_an_existing_customer_in_three_steps(client, world):
    option = find(as_user(client, world.caller), world).context["options"][0]
    confirm = htmx(client, reverse("scheduling:booker_confirm"), option_data(world, option))
    assert confirm.status_code == 200
    assert b'data-testid="confirm"' in confirm.content
    done = htmx(
        client,
        reverse("scheduling:booker_book"),
        option_data(world, option, contact=str(world.contact.public_id)),
    )
    assert done.status_code == 200, done.content
    assert b'data-testid="booked"' in done.content
    booking = Booking.objects.get()
    assert booking.contact == world.contact
    assert booking.staff_id == option.staff_id
    assert booking.start == option.start
    assert booking.source == "booker"
    assert booking.created_by == world.caller.user
    assert booking.location is not None and booking.location.postcode.replace(" ", "") == "1012AB"
    # a call-centre operator has no day view: no link to it
    assert b"to-day-view" not in done.content


def test_booker_creates_a_new_customer_and_links_the_day_view(client, world):
    option = find(as_user(client, world.admin), world).context["options"][0]
    done = htmx(
        client,
        reverse("scheduling:booker_book"),
        option_data(world, option, first_name="Noor", last_name="Visser", phone="06 11122233"),
    )
    assert b'data-testid="booked"' in done.content, done.content
    contact = Contact.objects.get(first_name="Noor")
    assert contact.phone == "+31611122233"
    assert Booking.objects.get().contact == contact
    assert b"to-day-view" in done.content


def test_booker_book_without_customer_writes_nothing(client, world):
    option = find(as_user(client, world.manager), world).context["options"][0]
    contacts = Contact.objects.count()
    response = htmx(client, reverse("scheduling:booker_book"), option_data(world, option))
    assert b'data-testid="booked"' not in response.content
    assert b'role="alert"' in response.content
    bad_phone = htmx(
        client,
        reverse("scheduling:booker_book"),
        option_data(world, option, first_name="Noor", phone="12"),
    )
    assert b'data-field="phone"' in bad_phone.content
    assert Contact.objects.count() == contacts
    assert Booking.objects.count() == 0


def test_booker_lost_race_shows_message_and_fresh_options(client, world):
    option = find(as_user(client, world.manager), world).context["options"][0]
    staff = world.tech if option.staff_id == world.tech.pk else world.south_tech
    booking_create(
        type=world.visit,
        staff=staff,
        contact=world.contact,
        start=option.start,
        location=world.home,
    )
    contacts = Contact.objects.count()
    response = htmx(
        client,
        reverse("scheduling:booker_book"),
        option_data(world, option, first_name="Late", phone="0611122244"),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="conflict"' in body
    assert 'data-testid="option"' in body
    fresh = response.context["options"]
    assert all(not (o.staff_id == option.staff_id and o.start == option.start) for o in fresh)
    assert Booking.objects.count() == 1
    assert Contact.objects.count() == contacts  # the new customer was not kept


def test_booker_cannot_book_other_organisations_objects(client, world):
    option = find(as_user(client, world.manager), world).context["options"][0]
    url = reverse("scheduling:booker_book")
    assert (
        htmx(client, url, option_data(world, option, staff=world.other_tech.pk)).status_code == 404
    )
    assert (
        htmx(
            client, url, option_data(world, option, contact=str(world.other_contact.public_id))
        ).status_code
        == 404
    )
    assert (
        htmx(client, url, option_data(world, option, type=world.other_type.pk)).status_code == 404
    )
    assert Booking.objects.count() == 0


def test_booker_contact_of_a_sibling_unit_is_hidden(client, world):
    hidden = Contact.objects.create(
        organisation=world.org, unit=world.south, first_name="Sibling", last_name="Only"
    )
    option = find(as_user(client, world.manager), world).context["options"][0]
    response = htmx(
        client,
        reverse("scheduling:booker_book"),
        option_data(world, option, contact=str(hidden.public_id)),
    )
    assert response.status_code == 404


# --- day view -----------------------------------------------------------------------------------


def test_day_view_shows_hours_bookings_time_off_and_gaps(client, world):
    start = tomorrow_local(10)
    booking_create(
        type=world.visit, staff=world.tech, contact=world.contact, start=start, location=world.home
    )
    TimeOff.objects.create(
        staff=world.tech,
        start=start.replace(hour=15),
        end=start.replace(hour=16),
        reason="Dentist",
    )
    response = as_user(client, world.manager).get(
        reverse("scheduling:day_view"), {"date": start.date().isoformat()}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Tom" in body and "Mona" in body
    assert "10:00–11:00" in body  # in the organisation's zone
    assert "Home visit" in body and "Emma" in body
    assert "Dentist" in body
    assert 'data-testid="day-gap"' in body
    assert "08:00–18:00" in body
    assert "Stan" not in body  # South is not the manager's unit
    row = next(r for r in response.context["rows"] if r["staff"].pk == world.tech.pk)
    assert row["bookings"] == 1


def test_day_view_prev_next_and_exception(client, world):
    day = tomorrow_local().date()
    AvailabilityException.objects.create(staff=world.tech, date=day)
    body = (
        as_user(client, world.manager)
        .get(reverse("scheduling:day_view"), {"date": day.isoformat()})
        .content.decode()
    )
    assert (day - dt.timedelta(days=1)).isoformat() in body
    assert (day + dt.timedelta(days=1)).isoformat() in body
    row = next(
        r
        for r in client.get(reverse("scheduling:day_view"), {"date": day.isoformat()}).context[
            "rows"
        ]
        if r["staff"].pk == world.tech.pk
    )
    assert row["day_off"] is True


def test_day_view_sibling_and_foreign_units_are_404(client, world):
    as_user(client, world.manager)
    url = reverse("scheduling:day_view")
    assert client.get(url, {"unit": world.north.pk}).status_code == 200
    assert client.get(url, {"unit": world.south.pk}).status_code == 404
    assert client.get(url, {"unit": world.hq.pk}).status_code == 404
    assert client.get(url, {"unit": world.other_unit.pk}).status_code == 404
    assert client.get(url, {"unit": "x"}).status_code == 404
    as_user(client, world.admin)
    assert client.get(url, {"unit": world.south.pk}).status_code == 200
    assert client.get(url, {"unit": world.other_unit.pk}).status_code == 404


def test_day_view_queries_do_not_grow_with_staff(client, world):
    as_user(client, world.admin)
    url = reverse("scheduling:day_view")
    params = {"unit": world.hq.pk, "date": tomorrow_local().date().isoformat()}
    client.get(url, params)  # warm caches
    with CaptureQueriesContext(connection) as few:
        client.get(url, params)
    for n in range(6):
        s = person(world.north, Role.TECHNICIAN, f"Extra{n}", hours=((0, 8, 12), (3, 9, 17)))
        booking_create(
            type=world.call,
            staff=s,
            contact=world.contact,
            start=tomorrow_local(8),
            enforce_availability=False,
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get(url, params)
    assert response.content.decode().count('data-testid="day-staff"') == 11
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


# --- working hours ------------------------------------------------------------------------------


def week_data(**days):
    data = {"action": "week"}
    for key in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        data[f"week-{key}"] = days.get(key, "")
    return data


def test_my_hours_saves_the_week(client, world):
    as_user(client, world.tech)
    page = client.get(reverse("scheduling:my_hours")).content.decode()
    assert "08:00-18:00" in page
    response = client.post(
        reverse("scheduling:my_hours"), week_data(mon="08:30-12:00, 13:00-17:00", tue="9-17")
    )
    assert response.status_code == 302
    hours = list(WorkingHours.objects.filter(staff=world.tech).order_by("weekday", "start"))
    assert [(h.weekday, h.start, h.end) for h in hours] == [
        (0, dt.time(8, 30), dt.time(12)),
        (0, dt.time(13), dt.time(17)),
        (1, dt.time(9), dt.time(17)),
    ]
    assert "08:30-12:00, 13:00-17:00" in client.get(reverse("scheduling:my_hours")).content.decode()


@pytest.mark.parametrize(
    "mon, field",
    [
        ("12:00-08:00", "mon"),
        ("08:00-12:00, 11:00-14:00", "mon"),
        ("nonsense", "mon"),
        ("25:00-26:00", "mon"),
        ("1-2, 3-4, 5-6, 7-8, 9-10", "mon"),
    ],
)
def test_my_hours_bad_input_is_a_field_error_and_writes_nothing(client, world, mon, field):
    before = list(WorkingHours.objects.filter(staff=world.tech).values_list("weekday", "start"))
    response = as_user(client, world.tech).post(
        reverse("scheduling:my_hours"), week_data(mon=mon, tue="09:00-17:00")
    )
    assert response.status_code == 400
    assert f'data-field="{field}"' in response.content.decode()
    after = list(WorkingHours.objects.filter(staff=world.tech).values_list("weekday", "start"))
    assert after == before


def test_exceptions_and_time_off_through_the_page(client, world):
    as_user(client, world.tech)
    url = reverse("scheduling:my_hours")
    day = tomorrow_local().date()
    r = client.post(
        url,
        {
            "action": "exception",
            "exc-date": day.isoformat(),
            "exc-start": "",
            "exc-end": "",
            "exc-note": "Training",
        },
    )
    assert r.status_code == 302
    exc = AvailabilityException.objects.get(staff=world.tech)
    assert exc.start is None and exc.note == "Training"
    # end before start: field error, nothing written
    r = client.post(
        url,
        {
            "action": "time_off",
            "off-start_date": day.isoformat(),
            "off-start_time": "12:00",
            "off-end_date": day.isoformat(),
            "off-end_time": "09:00",
        },
    )
    assert r.status_code == 400 and b'data-field="end_date"' in r.content
    assert not TimeOff.objects.exists()
    r = client.post(
        url,
        {
            "action": "time_off",
            "off-start_date": day.isoformat(),
            "off-start_time": "12:00",
            "off-end_date": (day + dt.timedelta(days=1)).isoformat(),
            "off-end_time": "",
            "off-reason": "Holiday",
        },
    )
    assert r.status_code == 302
    off = TimeOff.objects.get(staff=world.tech)
    assert off.start == dt.datetime.combine(day, dt.time(12), tzinfo=AMS)
    assert off.end == dt.datetime.combine(day + dt.timedelta(days=2), dt.time(), tzinfo=AMS)
    page = client.get(url).content.decode()
    assert "Holiday" in page and "Training" in page
    # removing someone else's entries through my own URL is 404
    other = TimeOff.objects.create(staff=world.south_tech, start=off.start, end=off.end, reason="x")
    assert (
        client.post(
            reverse("scheduling:time_off_delete", args=[world.tech.pk, other.pk])
        ).status_code
        == 404
    )
    assert (
        client.post(
            reverse("scheduling:time_off_delete", args=[world.south_tech.pk, other.pk])
        ).status_code
        == 404
    )
    assert (
        client.post(reverse("scheduling:time_off_delete", args=[world.tech.pk, off.pk])).status_code
        == 302
    )
    assert (
        client.post(
            reverse("scheduling:exception_delete", args=[world.tech.pk, exc.pk])
        ).status_code
        == 302
    )
    assert not TimeOff.objects.filter(staff=world.tech).exists()
    assert not AvailabilityException.objects.exists()


def test_manager_edits_hours_in_their_units_only(client, world):
    as_user(client, world.manager)
    url = reverse("scheduling:staff_hours", args=[world.tech.pk])
    page = client.get(url)
    assert page.status_code == 200 and b'data-testid="staff-hours"' in page.content
    r = client.post(url, week_data(wed="07:00-15:00"))
    assert r.status_code == 302
    assert list(
        WorkingHours.objects.filter(staff=world.tech).values_list("weekday", flat=True)
    ) == [2]
    assert (
        client.get(reverse("scheduling:staff_hours", args=[world.south_tech.pk])).status_code == 404
    )
    assert (
        client.get(reverse("scheduling:staff_hours", args=[world.other_tech.pk])).status_code == 404
    )
    assert (
        client.post(
            reverse("scheduling:staff_hours", args=[world.south_tech.pk]), week_data()
        ).status_code
        == 404
    )
    assert WorkingHours.objects.filter(staff=world.south_tech).count() == 7
    # the own page through the staff URL is the same page
    assert client.get(reverse("scheduling:staff_hours", args=[world.manager.pk])).status_code == 200
    # a technician cannot edit a colleague
    as_user(client, world.tech)
    assert client.get(reverse("scheduling:staff_hours", args=[world.manager.pk])).status_code == 404
    # the org admin edits everyone in the organisation, nobody outside it
    as_user(client, world.admin)
    assert (
        client.get(reverse("scheduling:staff_hours", args=[world.south_tech.pk])).status_code == 200
    )
    assert (
        client.get(reverse("scheduling:staff_hours", args=[world.other_tech.pk])).status_code == 404
    )


# --- settings -----------------------------------------------------------------------------------


def type_data(world, **overrides):
    data = {
        "name": "Boiler check",
        "slug": "boiler-check",
        "active": "on",
        "mode": "customer_address",
        "duration_minutes": "45",
        "buffer_before": "5",
        "buffer_after": "10",
        "capacity": "1",
        "min_notice_minutes": "120",
        "horizon_days": "30",
        "cancel_window_hours": "24",
        "reschedule_window_hours": "12",
        "price": "80.00",
        "prepayment": "deposit",
        "deposit_amount": "20.00",
        "slot_step_minutes": "30",
        "weight_travel": "3",
        f"skill_{world.skill.pk}": "3",
        "allowed_units": [world.north.pk],
    }
    data.update(overrides)
    return data


def test_types_create_and_edit(client, world):
    as_user(client, world.manager)
    listing = client.get(reverse("scheduling:types")).content.decode()
    assert "Home visit" in listing and "Theirs" not in listing
    r = client.post(reverse("scheduling:type_create"), type_data(world))
    assert r.status_code == 302, r.content.decode()
    t = AppointmentType.objects.get(slug="boiler-check")
    assert t.organisation == world.org and t.currency == "EUR"
    assert t.duration_minutes == 45 and t.prepayment == "deposit"
    assert str(t.weight_travel) == "3.00" and t.weight_earliest is None
    assert [(r.skill_id, r.min_level) for r in t.skill_requirements.all()] == [(world.skill.pk, 3)]
    assert list(t.allowed_units.all()) == [world.north]
    edit = reverse("scheduling:type_edit", args=[t.pk])
    assert b"Boiler check" in client.get(edit).content
    r = client.post(
        edit,
        type_data(
            world, name="Boiler service", **{f"skill_{world.skill.pk}": ""}, allowed_units=[]
        ),
    )
    assert r.status_code == 302
    t.refresh_from_db()
    assert t.name == "Boiler service"
    assert not t.skill_requirements.exists() and not t.allowed_units.exists()


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"slug": "visit"}, "slug"),
        ({"slug": "not a slug"}, "slug"),
        ({"duration_minutes": "0"}, "duration_minutes"),
        ({"deposit_amount": "0"}, "deposit_amount"),
        ({"deposit_amount": "100"}, "deposit_amount"),
        ({"weight_travel": "11"}, "weight_travel"),
        ({"slot_step_minutes": "1"}, "slot_step_minutes"),
        ({"capacity": "5"}, "capacity"),
        ({"name": ""}, "name"),
    ],
)
def test_types_bad_input_is_a_field_error(client, world, overrides, field):
    count = AppointmentType.objects.count()
    r = as_user(client, world.manager).post(
        reverse("scheduling:type_create"), type_data(world, **overrides)
    )
    assert r.status_code == 400
    assert f'data-field="{field}"' in r.content.decode()
    assert AppointmentType.objects.count() == count


def test_types_of_another_organisation_are_404(client, world):
    as_user(client, world.manager)
    assert (
        client.get(reverse("scheduling:type_edit", args=[world.other_type.pk])).status_code == 404
    )
    r = client.post(
        reverse("scheduling:type_create"), type_data(world, allowed_units=[world.other_unit.pk])
    )
    assert r.status_code == 400
    assert not AppointmentType.objects.filter(slug="boiler-check").exists()


def test_policy_page_saves_and_validates(client, world):
    as_user(client, world.admin)
    url = reverse("scheduling:policy")
    data = {
        "weight_earliest": "2",
        "weight_travel": "5",
        "weight_compact": "1",
        "weight_continuity": "3",
        "weight_skill": "0.5",
        "weight_fairness": "0",
        "slot_step_minutes": "30",
        "travel_source": "great_circle",
        "observe_public_holidays": "on",
        "hold_minutes": "10",
    }
    assert client.post(url, data).status_code == 302
    policy = SchedulingPolicy.objects.get(organisation=world.org)
    assert str(policy.weight_travel) == "5.00" and policy.slot_step_minutes == 30
    r = client.post(url, {**data, "weight_travel": "-1", "hold_minutes": "0"})
    assert r.status_code == 400
    body = r.content.decode()
    assert 'data-field="weight_travel"' in body and 'data-field="hold_minutes"' in body
    policy.refresh_from_db()
    assert str(policy.weight_travel) == "5.00" and policy.hold_minutes == 10
    # another organisation's policy is untouched
    assert not SchedulingPolicy.objects.filter(organisation=world.other_org).exists()


def test_booker_books_a_combined_visit(client, world):
    as_user(client, world.manager)
    response = find(client, world, extras=[world.call.pk])
    option = response.context["options"][0]
    assert response.context["search"]["extras"] == str(world.call.pk)
    assert option.end - option.start == dt.timedelta(minutes=90)  # 60 + 30
    done = htmx(
        client,
        reverse("scheduling:booker_book"),
        option_data(world, option, extras=str(world.call.pk), contact=str(world.contact.public_id)),
    )
    assert b'data-testid="booked"' in done.content, done.content
    booking = Booking.objects.get()
    assert list(booking.services.all()) == [world.call]
    assert booking.end - booking.start == dt.timedelta(minutes=90)


def test_booker_time_no_longer_bookable_shows_fresh_options(client, world):
    option = find(as_user(client, world.manager), world).context["options"][0]
    past = timezone.now() - dt.timedelta(hours=2)
    response = htmx(
        client,
        reverse("scheduling:booker_book"),
        option_data(world, option, start=past.isoformat(), contact=str(world.contact.public_id)),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="conflict"' in body and 'data-testid="option"' in body
    assert Booking.objects.count() == 0
