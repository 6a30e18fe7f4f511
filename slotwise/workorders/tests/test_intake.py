"""Intake (S2.1): every source lands as a draft order on a matched or new contact; replays don't
duplicate; duplicates are flagged; the public form keeps bots out; bad input is a field error
with nothing saved; only office staff reach the staff pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from slotwise.core.errors import ValidationError
from slotwise.customers.models import Contact, Identity, TimelineEntry
from slotwise.messaging.channels.base import InboundMessage, InboundResult
from slotwise.messaging.inbound import inbound_accept
from slotwise.messaging.models import Conversation, Message
from slotwise.messaging.testing import make_channel, process_inbound
from slotwise.org.models import Location
from slotwise.org.roles import Role
from slotwise.tests_factories import ContactFactory, UserFactory
from slotwise.workorders import intake, services
from slotwise.workorders.intake_views import thanks_token
from slotwise.workorders.models import Source, Status, WorkOrder, WorkOrderEvent

from .fixtures import LA, World, make_org, make_staff, next_day

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def w():
    return World()


def counts():
    return (WorkOrder.objects.count(), Contact.objects.count(), Location.objects.count())


# -- contact_for_request ------------------------------------------------------------------------


def test_contact_is_matched_by_phone_in_e164_then_by_email(w):
    by_phone = intake.contact_for_request(
        organisation=w.org, name="Someone Else", phone="(310) 555-0101", email="x@example.com"
    )
    assert by_phone == w.contact
    by_email = intake.contact_for_request(
        organisation=w.org, name="Someone", phone="", email="CLIENT@example.com"
    )
    assert by_email == w.contact
    w.contact.refresh_from_db()
    assert w.contact.email == "client@example.com"  # matching changes nothing


def test_contact_is_created_when_nobody_matches(w):
    contact = intake.contact_for_request(
        organisation=w.org, name=" Maria  del Rio ", phone="213 555 0199", email="Maria@Example.com"
    )
    assert (contact.first_name, contact.last_name) == ("Maria", "del Rio")
    assert contact.phone == "+12135550199" and contact.email == "maria@example.com"
    assert set(Identity.objects.filter(contact=contact).values_list("kind", flat=True)) == {
        "phone",
        "email",
    }


def test_contact_bad_input_is_a_field_error_and_writes_nothing(w):
    before = counts()
    with pytest.raises(ValidationError) as err:
        intake.contact_for_request(organisation=w.org, name="A", phone="12", email="nope")
    assert set(err.value.message_dict) == {"phone", "email"}
    with pytest.raises(ValidationError) as err:
        intake.contact_for_request(organisation=w.org, name="A", phone="", email="")
    assert "phone" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        intake.contact_for_request(organisation=w.org, name="  ", phone="213 555 0188")
    assert "name" in err.value.message_dict
    assert counts() == before


# -- the public web form ------------------------------------------------------------------------


def request_url(org, **query):
    url = reverse("workorders:request", args=[org.slug])
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def good_form(**overrides):
    day = next_day(3)
    data = {
        "name": "Dana Scully",
        "phone": "(213) 555-0142",
        "email": "dana@example.com",
        "address": "1 Main St",
        "postcode": "90012",
        "city": "Los Angeles",
        "title": "Water heater leaks",
        "description": "Puddle under the tank since Monday.",
        "preferred_from": day.isoformat(),
        "preferred_to": (day + dt.timedelta(days=2)).isoformat(),
        "website": "",
    }
    data.update(overrides)
    return data


def test_request_form_renders_without_login(client, w):
    response = client.get(request_url(w.org))
    assert response.status_code == 200
    assert b'data-testid="request-form"' in response.content
    assert b'name="website"' in response.content  # the honeypot


def test_embedded_request_form_may_be_framed(client, w):
    response = client.get(request_url(w.org, embed=1))
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    assert "frame-ancestors" in response["Content-Security-Policy"]
    assert b'name="embed" value="1"' in response.content
    plain = client.get(request_url(w.org))
    assert plain["X-Frame-Options"] == "DENY"


def test_unknown_organisation_is_404(client, w):
    assert client.get(reverse("workorders:request", args=["no-such-org"])).status_code == 404


def test_web_request_lands_as_a_draft_on_a_new_contact_with_its_address_and_days(client, w):
    response = client.post(request_url(w.org), good_form())
    assert response.status_code == 302
    order = WorkOrder.objects.get()
    assert order.status == Status.DRAFT and order.source == Source.WEB_FORM
    assert order.title == "Water heater leaks"
    assert order.description == "Puddle under the tank since Monday."
    contact = order.contact
    assert contact != w.contact and contact.phone == "+12135550142"
    assert (order.location.postcode, order.location.address, order.location.city) == (
        "90012",
        "1 Main St",
        "Los Angeles",
    )
    assert order.location.lat == pytest.approx(34.06, abs=0.05)
    day = next_day(3)
    assert order.window_start == dt.datetime(day.year, day.month, day.day, tzinfo=LA)
    assert order.window_end == order.window_start.replace(day=day.day) + dt.timedelta(days=3)
    assert order.duplicate_of is None
    assert WorkOrderEvent.objects.filter(order=order, kind="created").count() == 1
    assert TimelineEntry.objects.filter(contact=contact, kind="workorder.created").exists()
    # The thank-you page shows the number, reached through a signed token.
    thanks = client.get(response["Location"])
    assert thanks.status_code == 200
    assert f'data-testid="order-number">{order.number}<'.encode() in thanks.content
    tampered = (
        reverse("workorders:request_thanks", args=[w.org.slug]) + "?t=" + str(order.public_id)
    )
    assert client.get(tampered).status_code == 302  # back to the form, nothing shown


def test_web_request_from_a_known_customer_lands_on_their_contact_and_is_flagged(client, w):
    first = services.work_order_create(
        organisation=w.org, contact=w.contact, source=Source.PHONE, title="Sink"
    )
    response = client.post(
        request_url(w.org),
        good_form(name="Whoever", phone="+1 310 555 0101", address="", postcode="", city=""),
    )
    assert response.status_code == 302
    order = WorkOrder.objects.exclude(pk=first.pk).get()
    assert order.contact == w.contact and order.location is None
    assert order.duplicate_of == first
    assert Contact.objects.filter(organisation=w.org).count() == 1


def test_web_request_without_dates_has_no_window(client, w):
    response = client.post(request_url(w.org), good_form(preferred_from="", preferred_to=""))
    assert response.status_code == 302
    order = WorkOrder.objects.get()
    assert order.window_start is None and order.window_end is None


def test_embedded_request_keeps_embed_on_the_thank_you_page(client, w):
    response = client.post(request_url(w.org), {**good_form(), "embed": "1", "lang": "en"})
    assert response.status_code == 302 and "embed=1" in response["Location"]
    thanks = client.get(response["Location"])
    assert "frame-ancestors" in thanks["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"name": "", "title": ""}, {"name", "title"}),
        ({"phone": "12", "email": "not-an-email"}, {"phone", "email"}),
        ({"phone": "", "email": ""}, {"phone"}),
        ({"postcode": "00000"}, {"postcode"}),
        ({"postcode": ""}, {"postcode"}),  # an address without a postcode
        ({"preferred_from": "2001-01-01"}, {"preferred_from"}),
        ({"preferred_to": "1999-01-01"}, {"preferred_to"}),
        ({"preferred_from": "tomorrow"}, {"preferred_from"}),
    ],
)
def test_web_request_bad_input_shows_field_errors_and_saves_nothing(client, w, overrides, fields):
    before = counts()
    response = client.post(request_url(w.org), good_form(**overrides))
    assert response.status_code == 400
    form = response.context["form"]
    assert fields <= set(form.errors), form.errors
    assert counts() == before


def test_web_request_errors_are_translated(client, w):
    response = client.post(request_url(w.org, lang="sv"), {**good_form(name=""), "lang": "sv"})
    assert response.status_code == 400
    assert response.context["form"].errors["name"]
    assert response.wsgi_request.LANGUAGE_CODE == "sv"


def test_honeypot_writes_nothing(client, w):
    before = counts()
    response = client.post(request_url(w.org), good_form(website="http://spam.example"))
    assert response.status_code == 400
    assert counts() == before


@override_settings(WORKORDER_REQUEST_RATE_LIMIT="2/10m")
def test_requests_are_rate_limited_per_ip(client, w):
    for _ in range(2):
        assert client.post(request_url(w.org), good_form(title="")).status_code == 400
    before = counts()
    response = client.post(request_url(w.org), good_form())
    assert response.status_code == 429
    assert counts() == before
    other = client.post(request_url(w.org), good_form(), REMOTE_ADDR="10.9.9.9")
    assert other.status_code == 302


def test_cross_site_post_without_the_csrf_cookie_is_refused(w):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    response = browser.post(request_url(w.org), good_form(), HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 403
    assert WorkOrder.objects.count() == 0
    same_site = browser.post(request_url(w.org), good_form(), HTTP_ORIGIN="http://testserver")
    assert same_site.status_code == 302


def test_thanks_token_is_for_one_organisation(client, w):
    order = services.work_order_create(
        organisation=w.org, contact=w.contact, source=Source.WEB_FORM, title="Sink"
    )
    other = make_org()
    url = reverse("workorders:request_thanks", args=[other.slug]) + "?t=" + thanks_token(order)
    assert client.get(url).status_code == 302


# -- the staff page -----------------------------------------------------------------------------

NEW = "/work/new/"


def test_new_order_url_name():
    assert reverse("workorders:new") == NEW


def test_new_order_for_an_existing_customer(client, w):
    client.force_login(w.manager.user)
    assert client.get(NEW).status_code == 200
    day = next_day(2)
    response = client.post(
        NEW,
        {
            "source": "phone",
            "contact": str(w.contact.public_id),
            "title": "Blocked drain",
            "description": "Kitchen sink.",
            "type": w.type.pk,
            "unit": w.team.pk,
            "window_start": f"{day.isoformat()}T09:00",
            "window_end": f"{day.isoformat()}T12:00",
        },
    )
    order = WorkOrder.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("workorders:order", args=[order.public_id])
    assert order.status == Status.DRAFT and order.source == Source.PHONE
    assert order.contact == w.contact and order.type == w.type and order.unit == w.team
    assert order.created_by == w.manager.user
    assert order.window_start == dt.datetime(day.year, day.month, day.day, 9, tzinfo=LA)
    assert order.window_end == dt.datetime(day.year, day.month, day.day, 12, tzinfo=LA)
    assert w.manager.user.has_perm("workorders.view_order", order)


def test_new_order_for_a_new_customer_entered_by_a_manager(client, w):
    client.force_login(w.manager.user)
    response = client.post(
        NEW,
        {
            "source": "manual",
            "contact": "",
            "name": "Fox Mulder",
            "phone": "213-555-0177",
            "address": "2 Oak Ave",
            "postcode": "90012",
            "title": "Broken window",
        },
    )
    assert response.status_code == 302
    order = WorkOrder.objects.get()
    assert order.source == Source.MANUAL and order.unit == w.manager.unit
    assert order.contact.phone == "+12135550177" and order.contact.first_name == "Fox"
    assert order.contact.unit == w.manager.unit
    assert order.location.address == "2 Oak Ave"


def test_new_order_uses_the_customers_address_when_none_is_given(client, w):
    w.contact.location = w.location
    w.contact.save()
    client.force_login(w.manager.user)
    response = client.post(
        NEW, {"source": "phone", "contact": str(w.contact.public_id), "title": "Tap"}
    )
    assert response.status_code == 302
    assert WorkOrder.objects.get().location == w.location


def test_new_order_matches_a_customer_by_phone_and_flags_the_duplicate(client, w):
    first = services.work_order_create(
        organisation=w.org, contact=w.contact, source=Source.EMAIL, title="Sink"
    )
    client.force_login(w.manager.user)
    response = client.post(
        NEW, {"source": "phone", "name": "Caller", "phone": "310 555 0101", "title": "Sink again"}
    )
    assert response.status_code == 302
    order = WorkOrder.objects.exclude(pk=first.pk).get()
    assert order.contact == w.contact and order.duplicate_of == first
    assert Contact.objects.filter(organisation=w.org).count() == 1


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"name": "", "phone": "", "title": ""}, {"name", "phone", "title"}),
        ({"name": "X", "phone": "12", "email": "bad", "title": "T"}, {"phone", "email"}),
        ({"name": "X", "phone": "2135550111", "title": "T", "postcode": "00000"}, {"postcode"}),
        (
            {"name": "X", "phone": "2135550111", "title": "T", "window_start": "2030-01-01T10:00"},
            {"window_end"},
        ),
        (
            {
                "name": "X",
                "phone": "2135550111",
                "title": "T",
                "window_start": "2030-01-01T10:00",
                "window_end": "2030-01-01T09:00",
            },
            {"window_end"},
        ),
        ({"name": "X", "phone": "2135550111", "title": "T", "source": "api"}, {"source"}),
        ({"name": "X", "phone": "2135550111", "title": "T", "type": "999999"}, {"type"}),
    ],
)
def test_new_order_bad_input_shows_field_errors_and_saves_nothing(client, w, data, fields):
    client.force_login(w.manager.user)
    before = counts()
    response = client.post(NEW, {"source": "phone", **data})
    assert response.status_code == 400
    assert fields <= set(response.context["form"].errors), response.context["form"].errors
    assert counts() == before


def test_new_order_refuses_a_customer_the_user_may_not_see(client, w):
    other_org_contact = ContactFactory(organisation=make_org(), phone="+12135550123")
    client.force_login(w.manager.user)
    response = client.post(
        NEW, {"source": "phone", "contact": str(other_org_contact.public_id), "title": "T"}
    )
    assert response.status_code == 400
    assert "contact" in response.context["form"].errors
    assert WorkOrder.objects.count() == 0


def test_new_order_refuses_a_unit_outside_the_users(client, w):
    client.force_login(w.manager.user)
    response = client.post(
        NEW,
        {
            "source": "phone",
            "contact": str(w.contact.public_id),
            "title": "T",
            "unit": w.other_team.pk,
        },
    )
    assert response.status_code == 400
    assert "unit" in response.context["form"].errors


def test_only_office_staff_open_the_new_order_page(client, w):
    assert client.get(NEW).status_code == 302  # anonymous: to the login page
    customer = UserFactory()
    ContactFactory(organisation=w.org, user=customer)
    client.force_login(customer)
    assert client.get(NEW).status_code == 403
    assert client.post(NEW, {"source": "phone", "title": "T", "name": "X"}).status_code == 403
    client.force_login(w.tech.user)  # a technician takes no orders in
    assert client.get(NEW).status_code == 403
    assert client.get(reverse("workorders:new_contacts") + "?q=Cust").status_code == 403
    call_centre = make_staff(w.org, unit=w.team, roles=(Role.CALL_CENTRE,), hours=())
    client.force_login(call_centre.user)
    assert client.get(NEW).status_code == 200
    assert WorkOrder.objects.count() == 0


def test_customer_search_shows_only_visible_customers(client, w):
    ContactFactory(organisation=make_org(), first_name="Zebulon", phone="+12135550999")
    mine = ContactFactory(organisation=w.org, first_name="Zebadiah")
    client.force_login(w.manager.user)
    response = client.get(reverse("workorders:new_contacts") + "?q=Zeb")
    assert response.status_code == 200
    assert list(response.context["results"]) == [mine]


# -- messages -----------------------------------------------------------------------------------


def _inbound(config, n, sender, text="", **extra):
    item = InboundMessage(event_id=f"ev-{config.pk}-{n}", sender=sender, text=text, **extra)
    inbound_accept(config=config, result=InboundResult(messages=[item]))
    process_inbound()


def test_order_from_message_email_and_replay(w):
    email = make_channel(w.org, "console", {"medium": "email"})
    _inbound(
        email,
        1,
        "client@example.com",
        "The heater makes noise.\nPlease come soon.",
        sender_email="client@example.com",
        data={"subject": "Noisy heater"},
    )
    message = Message.objects.get()
    assert message.contact == w.contact
    order = intake.order_from_message(message)
    assert order.source == Source.EMAIL and order.source_ref == str(message.pk)
    assert order.title == "Noisy heater" and order.status == Status.DRAFT
    assert order.description.startswith("The heater makes noise.")
    assert order.contact == w.contact
    assert intake.order_from_message(message) == order  # a replay: the same order
    assert WorkOrder.objects.count() == 1


def test_order_from_a_messenger_message_uses_its_first_line(w):
    sms = make_channel(w.org, "console", {"medium": "sms"})
    long_line = "Garage door stuck " + "really " * 20
    _inbound(sms, 1, "+12135550150", f"{long_line}\nsecond line", sender_phone="+12135550150")
    message = Message.objects.get()
    order = intake.order_from_message(message)
    assert order.source == Source.MESSAGE
    assert order.title.startswith("Garage door stuck") and len(order.title) <= 80
    assert order.contact.phone == "+12135550150"


def test_inbound_messages_on_an_intake_channel_become_draft_orders(w):
    channel = make_channel(w.org, "console", {"medium": "sms", "work_order_intake": True})
    _inbound(channel, 1, "+12135550160", "Fridge broken", sender_phone="+12135550160")
    order = WorkOrder.objects.get()
    assert order.status == Status.DRAFT and order.source == Source.MESSAGE
    assert order.title == "Fridge broken"
    assert order.contact.phone == "+12135550160"
    assert order.source_ref == str(Message.objects.get().pk)
    # More messages from a customer with an open order just land in the inbox.
    _inbound(channel, 2, "+12135550160", "Also the freezer", sender_phone="+12135550160")
    assert Message.objects.count() == 2 and WorkOrder.objects.count() == 1
    # A replayed webhook event is stored once, so it makes nothing either.
    _inbound(channel, 1, "+12135550160", "Fridge broken", sender_phone="+12135550160")
    assert Message.objects.count() == 2 and WorkOrder.objects.count() == 1
    # Once that order is closed or cancelled, a new message is a new order.
    services.work_order_act(
        order=order, action="cancel", reason="Fixed it myself", actor=w.manager.user
    )
    _inbound(channel, 3, "+12135550160", "Now the oven", sender_phone="+12135550160")
    assert WorkOrder.objects.count() == 2
    assert WorkOrder.objects.latest("created_at").title == "Now the oven"


def test_channels_without_intake_make_no_orders(w):
    plain = make_channel(w.org, "console", {"medium": "sms"})
    off = make_channel(w.org, "console", {"medium": "sms", "work_order_intake": False}, name="b")
    _inbound(plain, 1, "+12135550170", "Hello", sender_phone="+12135550170")
    _inbound(off, 1, "+12135550171", "Hello", sender_phone="+12135550171")
    assert Message.objects.count() == 2
    assert WorkOrder.objects.count() == 0


def test_a_failing_intake_never_loses_the_message(w, monkeypatch):
    channel = make_channel(w.org, "console", {"medium": "sms", "work_order_intake": True})

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "work_order_create", broken)
    _inbound(channel, 1, "+12135550180", "Help", sender_phone="+12135550180")
    assert Message.objects.filter(body="Help").count() == 1
    assert Conversation.objects.get().unread_count == 1
    assert WorkOrder.objects.count() == 0


# -- the inbox button ---------------------------------------------------------------------------


@pytest.fixture
def conversation(w):
    w.contact.unit = w.team
    w.contact.save()
    channel = make_channel(w.org, "console", {"medium": "email"})
    _inbound(
        channel,
        1,
        "client@example.com",
        "Door lock jammed",
        sender_email="client@example.com",
        data={"subject": "Lock"},
    )
    return Conversation.objects.get()


def test_the_conversation_page_shows_the_button_to_office_staff(client, w, conversation):
    client.force_login(w.manager.user)
    page = client.get(reverse("inbox:conversation", args=[conversation.public_id]))
    assert page.status_code == 200
    assert b'data-testid="create-work-order"' in page.content
    assert reverse("workorders:from_conversation", args=[conversation.public_id]).encode() in (
        page.content
    )


def test_order_from_the_inbox_button(client, w, conversation):
    client.force_login(w.manager.user)
    url = reverse("workorders:from_conversation", args=[conversation.public_id])
    response = client.post(url)
    order = WorkOrder.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("workorders:order", args=[order.public_id])
    assert order.source == Source.EMAIL and order.title == "Lock"
    assert order.contact == w.contact and order.unit == w.team
    assert order.created_by == w.manager.user
    again = client.post(url)  # the same last message: the same order
    assert again.status_code == 302 and WorkOrder.objects.count() == 1
    assert client.get(url).status_code == 405


def test_inbox_button_for_a_conversation_without_messages(w):
    channel = make_channel(w.org, "console", {"medium": "sms"})
    conversation = Conversation.objects.create(
        organisation=w.org, contact=w.contact, channel=channel, address="+13105550101"
    )
    order = intake.order_from_conversation(conversation, w.manager.user, unit=w.team)
    assert order.source == Source.MESSAGE and order.status == Status.DRAFT
    assert order.source_ref == "" and str(w.contact) in order.title


def test_inbox_button_access(client, w, conversation):
    url = reverse("workorders:from_conversation", args=[conversation.public_id])
    client.force_login(w.tech.user)
    assert client.post(url).status_code == 403
    other_manager = make_staff(w.org, unit=w.other_team, roles=(Role.MANAGER,), hours=())
    client.force_login(other_manager.user)
    assert client.post(url).status_code == 404
    stranger_org = make_org()
    from slotwise.tests_factories import make_unit

    stranger = make_staff(
        stranger_org, unit=make_unit(stranger_org, "HQ"), roles=(Role.ORG_ADMIN,), hours=()
    )
    client.force_login(stranger.user)
    assert client.post(url).status_code == 404
    assert WorkOrder.objects.count() == 0


def test_web_request_order_is_not_visible_to_a_technician(client, w):
    client.post(request_url(w.org), good_form())
    order = WorkOrder.objects.get()
    assert not w.tech.user.has_perm("workorders.view_order", order)
    other_manager = make_staff(w.org, unit=w.other_team, roles=(Role.MANAGER,), hours=())
    assert not other_manager.user.has_perm("workorders.view_order", order)


def test_new_order_page_can_start_from_a_customer(client, w):
    client.force_login(w.manager.user)
    page = client.get(f"{NEW}?contact={w.contact.public_id}")
    assert page.status_code == 200 and page.context["contact"] == w.contact
    stranger = ContactFactory(organisation=make_org())
    assert client.get(f"{NEW}?contact={stranger.public_id}").context["contact"] is None
    assert client.get(f"{NEW}?contact=not-a-uuid").context["contact"] is None
    response = client.post(NEW, {"source": "phone", "contact": "not-a-uuid", "title": "T"})
    assert response.status_code == 400 and "contact" in response.context["form"].errors
