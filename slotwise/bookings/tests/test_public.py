"""The public booking page (S4.6): anonymous and logged-in booking, field errors, honeypot, rate
limit, scoping, the embedded variant's framing headers, language, "My bookings", embed code."""

from __future__ import annotations

import datetime
import re
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from slotwise.bookings.models import Booking, BookingStatus
from slotwise.bookings.services import booking_create
from slotwise.customers.models import Contact
from slotwise.messaging.models import Message
from slotwise.org.models import Staff
from slotwise.org.roles import Role
from slotwise.tests_factories import (
    ContactFactory,
    LocationFactory,
    OrganisationFactory,
    StaffFactory,
    UserFactory,
    make_unit,
)

from .conftest import give_hours, make_type

pytestmark = pytest.mark.django_db

GOOD = {
    "first_name": "Emma",
    "last_name": "de Vries",
    "phone": "06 12345678",
    "email": "Emma@Example.com",
    "website": "",
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def adviser(org):
    member = StaffFactory(unit=make_unit(org, "Advice"), user__first_name="Femke")
    member.home_base = LocationFactory(organisation=org)
    member.save()
    give_hours(member, datetime.time(8, 0), datetime.time(18, 0))
    return member


@pytest.fixture
def phone_type(org, adviser):
    return make_type(
        org,
        name="Phone call",
        slug="call",
        mode="phone",
        duration_minutes=30,
        min_notice_minutes=120,
        cancel_window_hours=24,
    )


@pytest.fixture
def visit_type(org, adviser):
    return make_type(
        org,
        name="Home visit",
        slug="visit",
        mode="customer_address",
        duration_minutes=60,
        min_notice_minutes=120,
    )


def type_url(type_, **query):
    url = reverse("book:type", args=[type_.organisation.slug, type_.slug])
    return url, query


def first_option_url(client, type_, **query) -> str:
    url = reverse("book:type", args=[type_.organisation.slug, type_.slug])
    response = client.get(url, query)
    assert response.status_code == 200
    days = response.context["days"]
    assert days, "the page shows options"
    return days[0]["options"][0]["token"]


def post_details(client, details_url: str, data: dict, **extra):
    path, _, query = details_url.partition("?")
    token = dict(p.split("=", 1) for p in query.split("&"))["o"]
    from urllib.parse import unquote

    page = client.get(details_url)
    form_token = page.context["form_token"] if page.status_code == 200 else ""
    return client.post(path, {"o": unquote(token), "ft": form_token, **data}, **extra)


def counts():
    return Booking.objects.count(), Contact.objects.count(), Message.objects.count()


def test_anonymous_books_end_to_end(client, phone_type, adviser):
    details_url = first_option_url(client, phone_type)
    page = client.get(details_url)
    assert page.status_code == 200
    assert "Femke" in page.content.decode()
    response = post_details(client, details_url, GOOD)
    assert response.status_code == 302, response.context.get("problem")
    booking = Booking.objects.get()
    assert response["Location"] == reverse("bookings:confirmation", args=[booking.public_id])
    assert booking.source == "public"
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.staff == adviser
    contact = booking.contact
    assert (contact.first_name, contact.phone, contact.email) == (
        "Emma",
        "+31612345678",
        "emma@example.com",
    )
    # The customer's messages are in the outbox with the booking.
    channels = set(Message.objects.values_list("channel", flat=True))
    assert channels == {"email", "sms"}

    confirmation = client.get(response["Location"])
    text = confirmation.content.decode()
    assert confirmation.status_code == 200
    assert "Femke" in text and "Phone call" in text
    when = re.search(r'data-testid="when">([^<]*)<', text).group(1)
    zone = ZoneInfo(booking.organisation.time_zone)
    local_start, local_end = (timezone.localtime(t, zone) for t in (booking.start, booking.end))
    assert f"{local_start:%H:%M}–{local_end:%H:%M}" in when  # the organisation's time, not UTC
    manage = client.get(confirmation.context["links"]["manage"])
    assert manage.status_code == 200
    assert manage.context["booking"] == booking
    ics = client.get(reverse("bookings:calendar", args=[booking.public_id]))
    assert ics["Content-Type"].startswith("text/calendar")
    event = icalendar.Calendar.from_ical(ics.content).walk("VEVENT")[0]
    assert event.decoded("dtstart") == booking.start
    assert event.decoded("dtend") == booking.end


def test_existing_contact_is_matched_by_phone(client, org, phone_type):
    existing = ContactFactory(organisation=org, phone="+31612345678", email="")
    details_url = first_option_url(client, phone_type)
    response = post_details(client, details_url, {**GOOD, "email": "other@example.com"})
    assert response.status_code == 302
    assert Booking.objects.get().contact == existing
    assert Contact.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("phone", "12"), ("phone", "not a phone"), ("email", "emma@"), ("first_name", "")],
)
def test_bad_details_are_field_errors_and_nothing_is_written(client, phone_type, field, value):
    details_url = first_option_url(client, phone_type)
    before = counts()
    response = post_details(client, details_url, {**GOOD, field: value})
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert counts() == before


@pytest.mark.parametrize("postcode", ["ABC", "9999 ZZ", "99"])
def test_bad_postcode_is_a_field_error(client, visit_type, postcode):
    url = reverse("book:type", args=[visit_type.organisation.slug, visit_type.slug])
    # Tomorrow in the organisation's zone: the window is ahead whatever the hour here (on the
    # machine's UTC date this failed around midnight, as a window in the past).
    zone = ZoneInfo(visit_type.organisation.time_zone)
    day = (timezone.localdate(timezone=zone) + datetime.timedelta(days=1)).isoformat()
    response = client.get(url, {"postcode": postcode, "start": day, "end": day})
    assert response.status_code == 200
    assert response.context["form"].errors["postcode"]
    assert response.context["days"] == []
    assert counts() == (0, 0, 0)


def test_window_in_the_past_is_a_field_error(client, phone_type):
    url = reverse("book:type", args=[phone_type.organisation.slug, phone_type.slug])
    response = client.get(url, {"start": "2020-01-01", "end": "2020-01-05"})
    assert response.context["form"].errors["start"]
    response = client.get(url, {"start": "2099-01-05", "end": "2099-01-01"})
    assert response.context["form"].errors["end"]


def test_visit_by_postcode_offers_options_and_books_at_the_address(client, visit_type):
    url = reverse("book:type", args=[visit_type.organisation.slug, visit_type.slug])
    first = client.get(url)
    assert first.status_code == 200 and not first.context["form"].errors  # no errors yet
    details_url = first_option_url(client, visit_type, postcode="1012 AB", address="Damrak 1")
    response = post_details(client, details_url, GOOD)
    assert response.status_code == 302
    booking = Booking.objects.get()
    assert booking.location.postcode.replace(" ", "") == "1012AB"


def test_honeypot_writes_nothing(client, phone_type):
    details_url = first_option_url(client, phone_type)
    response = post_details(client, details_url, {**GOOD, "website": "http://spam.example"})
    assert response.status_code == 400
    assert counts() == (0, 0, 0)


@override_settings(PUBLIC_BOOKING_RATE_LIMIT="2/10m")
def test_booking_posts_are_rate_limited_per_ip(client, phone_type):
    details_url = first_option_url(client, phone_type)
    for _ in range(2):
        assert post_details(client, details_url, {**GOOD, "phone": "1"}).status_code == 400
    response = post_details(client, details_url, GOOD, REMOTE_ADDR="10.9.9.9")
    assert response.status_code == 302  # another address is not limited
    before = counts()
    response = post_details(client, details_url, GOOD)
    assert response.status_code == 429
    assert counts() == before


def test_lost_race_shows_message_and_fresh_options(client, phone_type, adviser):
    details_url = first_option_url(client, phone_type)
    taken = client.get(details_url).context["choice"]
    other = ContactFactory(organisation=phone_type.organisation)
    start = taken["start"].astimezone(datetime.UTC)
    booking_create(type=phone_type, staff=adviser, contact=other, start=start)
    response = post_details(client, details_url, GOOD)
    assert response.status_code == 409
    assert response.context["problem"]
    assert response.context["days"], "fresh options are shown"
    fresh = [o["start"] for d in response.context["days"] for o in d["options"]]
    assert taken["start"] not in fresh
    assert Booking.objects.count() == 1
    assert not Contact.objects.filter(phone="+31612345678").exists()


def test_tampered_option_token_books_nothing(client, phone_type):
    details_url = first_option_url(client, phone_type)
    path, _, query = details_url.partition("?")
    response = client.post(path, {"o": "x" + query, **GOOD})
    assert response.status_code == 400
    assert counts() == (0, 0, 0)


def test_another_organisations_type_and_inactive_types_are_404(client, org, phone_type):
    other = OrganisationFactory()
    foreign = make_type(other, slug="foreign")
    assert client.get(f"/book/{org.slug}/{foreign.slug}/").status_code == 404
    assert client.get(f"/book/{org.slug}/{foreign.slug}/details/").status_code == 404
    assert client.get("/book/no-such-org/").status_code == 404
    phone_type.active = False
    phone_type.save()
    assert client.get(f"/book/{org.slug}/{phone_type.slug}/").status_code == 404
    listing = client.get(f"/book/{org.slug}/")
    assert listing.status_code == 200
    assert phone_type.name not in listing.content.decode()


def test_embedded_page_is_frameable_and_normal_pages_are_not(client, phone_type):
    url = reverse("book:type", args=[phone_type.organisation.slug, phone_type.slug])
    embedded = client.get(url, {"embed": "1"})
    assert embedded.status_code == 200
    assert "X-Frame-Options" not in embedded
    assert embedded["Content-Security-Policy"] == "frame-ancestors *"
    assert 'class="topbar"' not in embedded.content.decode()
    plain = client.get(url)
    assert plain["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" not in plain
    assert 'class="topbar"' in plain.content.decode()
    assert client.get("/")["X-Frame-Options"] == "DENY"
    with override_settings(EMBED_ALLOWED_ORIGINS=["https://shop.example", "https://b.example"]):
        framed = client.get(url, {"embed": "1"})
    assert framed["Content-Security-Policy"] == (
        "frame-ancestors 'self' https://shop.example https://b.example"
    )


def test_embedded_flow_without_cookies_needs_own_origin_and_form_token(phone_type):
    """A third-party iframe keeps no cookies: the Origin check and the signed form token stand in
    for the CSRF cookie; a forged cross-site POST is refused."""
    browser = Client(enforce_csrf_checks=True)
    details_url = first_option_url(browser, phone_type, embed="1", lang="en")
    path, _, query = details_url.partition("?")
    from urllib.parse import parse_qs

    token = parse_qs(query)["o"][0]
    page = browser.get(details_url)
    assert "X-Frame-Options" not in page
    form_token = page.context["form_token"]
    browser.cookies.clear()  # what a browser blocking third-party cookies sends
    data = {"o": token, "ft": form_token, "embed": "1", **GOOD}
    forged = browser.post(path, data, HTTP_ORIGIN="https://evil.example")
    assert forged.status_code == 403
    no_token = browser.post(path, {**data, "ft": ""}, HTTP_ORIGIN="http://testserver")
    assert no_token.status_code == 403
    assert Booking.objects.count() == 0
    ok = browser.post(path, data, HTTP_ORIGIN="http://testserver")
    assert ok.status_code == 302
    assert "embed=1" in ok["Location"]
    confirmation = browser.get(ok["Location"])
    assert "X-Frame-Options" not in confirmation
    assert Booking.objects.count() == 1


def test_normal_page_keeps_django_csrf(phone_type):
    browser = Client(enforce_csrf_checks=True)
    details_url = first_option_url(browser, phone_type)
    page = browser.get(details_url)
    path = details_url.partition("?")[0]
    from urllib.parse import parse_qs

    token = parse_qs(details_url.partition("?")[2])["o"][0]
    data = {"o": token, "ft": page.context["form_token"], **GOOD}
    assert browser.post(path, data).status_code == 403  # cookie but no CSRF token
    csrf = browser.cookies["csrftoken"].value
    assert browser.post(path, {**data, "csrfmiddlewaretoken": csrf}).status_code == 302


def test_page_speaks_the_organisations_language_unless_the_visitor_chose(client, org, phone_type):
    org.default_language = "nl"
    org.save()
    url = reverse("book:type", args=[org.slug, phone_type.slug])
    assert client.get(url)["Content-Language"] == "nl"
    assert client.get(url, {"lang": "sv"})["Content-Language"] == "sv"
    client.cookies["django_language"] = "ru"
    assert client.get(url)["Content-Language"] == "ru"


def test_logged_in_customer_skips_the_form_and_keeps_their_adviser(client, org, phone_type):
    femke = Staff.objects.get(organisation=org)
    bram = StaffFactory(unit=femke.unit, user__first_name="Bram")
    give_hours(bram, datetime.time(8, 0), datetime.time(18, 0))
    user = UserFactory()
    contact = ContactFactory(organisation=org, user=user, phone="+31687654321")
    last_week = datetime.datetime.now(datetime.UTC).replace(microsecond=0) - datetime.timedelta(
        days=7
    )
    booking_create(  # their last appointment was with Bram
        type=phone_type,
        staff=bram,
        contact=contact,
        start=last_week,
        enforce_availability=False,
        now=last_week - datetime.timedelta(days=1),
    )
    client.force_login(user)
    response = client.get(reverse("book:type", args=[org.slug, phone_type.slug]))
    assert response.context["contact"] == contact
    best = response.context["suggested"][0]
    assert best["staff_first_name"] == "Bram"
    assert "usual_staff" in best["reason_codes"]
    assert any("usual" in reason for reason in best["reasons"])
    page = client.get(best["token"])
    assert page.context["form"] is None  # no details to type in
    response = post_details(client, best["token"], {})
    assert response.status_code == 302
    booking = Booking.objects.get(public_id=response["Location"].split("/")[-2])
    assert (booking.contact, booking.staff, booking.created_by) == (contact, bram, user)
    assert Contact.objects.filter(organisation=org).count() == 1


def test_my_bookings_lists_own_bookings_with_manage_links(client, org, phone_type, adviser):
    user = UserFactory()
    contact = ContactFactory(organisation=org, user=user)
    stranger = ContactFactory(organisation=org)
    start = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(days=2)
    mine = booking_create(
        type=phone_type, staff=adviser, contact=contact, start=start, enforce_availability=False
    )
    booking_create(
        type=phone_type,
        staff=adviser,
        contact=stranger,
        start=start + datetime.timedelta(hours=2),
        enforce_availability=False,
    )
    assert client.get(reverse("bookings:mine")).status_code == 302  # log in first
    client.force_login(user)
    response = client.get(reverse("bookings:mine"))
    assert response.status_code == 200
    rows = response.context["upcoming"]
    assert [r["booking"] for r in rows] == [mine]
    assert client.get(rows[0]["manage_url"]).status_code == 200
    staff_client = Client()
    staff_client.force_login(adviser.user)
    assert staff_client.get(reverse("bookings:mine")).status_code == 404


def test_embed_code_page_for_managers_of_the_organisation(client, org, phone_type):
    manager = StaffFactory(unit=make_unit(org, "HQ"), roles=[Role.MANAGER])
    url = reverse("book:embed_code", args=[org.slug])
    assert client.get(url).status_code == 302
    client.force_login(manager.user)
    response = client.get(url)
    assert response.status_code == 200
    snippet = response.context["snippets"][0]["snippet"]
    assert "/static/slotwise/embed.js" in snippet
    assert f'data-slotwise-org="{org.slug}" data-slotwise-type="{phone_type.slug}"' in snippet
    assert "embed.js" in response.content.decode()
    outsider = StaffFactory(roles=[Role.MANAGER])
    client.force_login(outsider.user)
    assert client.get(url).status_code == 404
    technician = StaffFactory(unit=manager.unit, roles=[Role.TECHNICIAN])
    client.force_login(technician.user)
    assert client.get(url).status_code == 404


def test_confirmation_unknown_public_id_is_404(client):
    url = reverse("bookings:confirmation", args=["00000000-0000-0000-0000-000000000000"])
    assert client.get(url).status_code == 404


def test_types_list_in_the_embed_keeps_the_embed_mode(client, org, phone_type):
    response = client.get(reverse("book:types", args=[org.slug]), {"embed": "1", "lang": "sv"})
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    assert response["Content-Language"] == "sv"
    (item,) = response.context["types"]
    assert "embed=1" in item["url"] and "lang=sv" in item["url"]
    assert client.get(item["url"])["Content-Security-Policy"].startswith("frame-ancestors")


def test_group_type_shows_seats_left_and_books_a_seat(client, org, adviser):
    group = make_type(
        org,
        name="Group session",
        slug="group",
        mode="branch",
        duration_minutes=90,
        capacity=3,
        min_notice_minutes=120,
    )
    details_url = first_option_url(client, group)
    assert post_details(client, details_url, GOOD).status_code == 302
    first = Booking.objects.get()
    response = client.get(reverse("book:type", args=[org.slug, group.slug]))
    session = [
        o for d in response.context["days"] for o in d["options"] if o["start"] == first.start
    ]
    assert session and session[0]["seats_left"] == 2
    other = {**GOOD, "phone": "06 23456789", "email": "second@example.com"}
    assert post_details(client, session[0]["token"], other).status_code == 302
    assert Booking.objects.filter(start=first.start, type=group).count() == 2


def test_confirmation_later_hides_links_and_address(client, visit_type, monkeypatch):
    details_url = first_option_url(client, visit_type, postcode="1012 AB", address="Damrak 1")
    response = post_details(client, details_url, GOOD)
    booking = Booking.objects.get()
    fresh = client.get(response["Location"])
    assert fresh.context["links"] and "Damrak 1" in fresh.content.decode()
    later = timezone.now() + datetime.timedelta(hours=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    stale = client.get(response["Location"])
    assert stale.status_code == 200
    assert stale.context["links"] is None
    assert "Damrak 1" not in stale.content.decode()
    ics = client.get(reverse("bookings:calendar", args=[booking.public_id]))
    assert b"Damrak 1" not in ics.content
    # The signed link still gives everything, the calendar file too.
    manage_url = fresh.context["links"]["manage"]
    manage = client.get(manage_url)
    assert "Damrak 1" in manage.content.decode()
    full_ics = client.get(manage.context["ics_url"])
    event = icalendar.Calendar.from_ical(full_ics.content).walk("VEVENT")[0]
    assert "Damrak 1" in str(event["location"])
