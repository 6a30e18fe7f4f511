"""The contact card, the contact list, logging calls and the merge flow, with their access."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from slotwise.customers.models import Contact, TimelineEntry
from slotwise.customers.selectors import timeline_for
from slotwise.customers.services import call_log_record, contact_create, timeline_add
from slotwise.messaging.chat import inbox_url
from slotwise.messaging.models import ChannelConfig, Conversation, Message
from slotwise.messaging.testing import make_channel
from slotwise.org.roles import Role
from slotwise.tests_factories import (
    ContactFactory,
    OrganisationFactory,
    StaffFactory,
    UserFactory,
    make_unit,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    org = OrganisationFactory(country="SE", time_zone="Europe/Stockholm")
    root = make_unit(org, "Root")
    north = make_unit(org, "North", root)
    south = make_unit(org, "South", root)
    return {
        "org": org,
        "north": north,
        "south": south,
        "mgr_north": StaffFactory(unit=north, roles=[Role.MANAGER]),
        "mgr_south": StaffFactory(unit=south, roles=[Role.MANAGER]),
        "admin": StaffFactory(unit=root, roles=[Role.ORG_ADMIN]),
        "other_org_admin": StaffFactory(
            unit=make_unit(OrganisationFactory(), "B"), roles=[Role.ORG_ADMIN]
        ),
        "north_contact": contact_create(
            organisation=org,
            first_name="Nora",
            last_name="North",
            phone="+46701111111",
            unit=north,
        ),
        "south_contact": contact_create(
            organisation=org, first_name="Sven", last_name="South", unit=south
        ),
    }


def card(contact):
    return f"/customers/{contact.public_id}/"


def test_card_shows_details_identities_and_whole_timeline(client, world):
    contact = world["north_contact"]
    telegram = make_channel(world["org"], "console", {"medium": "telegram"}, name="Telegram")
    conversation = Conversation.objects.create(
        organisation=world["org"], contact=contact, channel=telegram, address="4711"
    )
    Message.objects.create(
        organisation=world["org"],
        conversation=conversation,
        contact=contact,
        channel_config=telegram,
        direction="in",
        channel="telegram",
        provider="console",
        to="4711",
        body="Hello from Telegram",
        status="received",
    )
    timeline_add(contact=contact, kind="booking.created", summary="Haircut booked")
    client.force_login(world["mgr_north"].user)
    response = client.get(card(contact))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Nora North" in page and "+46701111111" in page
    assert "Hello from Telegram" in page and "Haircut booked" in page
    assert "Contact created" in page
    assert inbox_url(conversation) in page
    assert str(conversation.public_id) in inbox_url(conversation)
    assert 'data-testid="call-log"' in page and 'data-testid="merge-link"' in page


@pytest.mark.parametrize(
    ("who", "contact", "status"),
    [
        ("mgr_north", "north_contact", 200),
        ("admin", "north_contact", 200),
        ("admin", "south_contact", 200),
        ("mgr_south", "north_contact", 404),  # a sibling unit's contact
        ("mgr_north", "south_contact", 404),
        ("other_org_admin", "north_contact", 404),
    ],
)
def test_card_access(client, world, who, contact, status):
    client.force_login(world[who].user)
    assert client.get(card(world[contact])).status_code == status


def test_card_not_for_the_customer_themselves_nor_anonymous(client, world):
    customer = UserFactory()
    contact = world["north_contact"]
    Contact.objects.filter(pk=contact.pk).update(user=customer)
    client.force_login(customer)
    assert client.get(card(contact)).status_code == 404
    client.logout()
    assert client.get(card(contact)).status_code == 302  # to the login page


def test_list_searches_only_visible_contacts(client, world):
    client.force_login(world["mgr_north"].user)
    page = client.get("/customers/?q=North").content.decode()
    assert "Nora North" in page
    page = client.get("/customers/").content.decode()
    assert "Sven South" not in page
    page = client.get("/customers/?q=1111111").content.decode()
    assert "Nora North" in page


def test_timeline_merges_entries_and_messages_in_time_order_with_pages(world):
    contact = world["south_contact"]
    sms = make_channel(world["org"], "console", {"medium": "sms"}, name="SMS")
    TimelineEntry.objects.filter(contact=contact).delete()
    base = timezone.now() - datetime.timedelta(days=1)
    expected = []
    for i in range(7):
        at = base + datetime.timedelta(minutes=i)
        if i % 2:
            entry = timeline_add(contact=contact, kind="x", summary=f"e{i}", occurred_at=at)
            expected.append(("entry", entry.pk))
        else:
            message = Message.objects.create(
                organisation=world["org"],
                contact=contact,
                channel_config=sms,
                channel="phone",
                provider="console",
                to="+4670",
                body=f"m{i}",
                direction="out",
                status="sent",
            )
            Message.objects.filter(pk=message.pk).update(created_at=at)
            expected.append(("message", message.pk))
    # Two items at the very same moment: the cursor keeps them apart.
    same = base + datetime.timedelta(minutes=10)
    tie1 = timeline_add(contact=contact, kind="x", summary="tie1", occurred_at=same)
    tie2 = timeline_add(contact=contact, kind="x", summary="tie2", occurred_at=same)
    expected += [("entry", tie1.pk), ("entry", tie2.pk)]
    expected.reverse()  # newest first
    seen, before = [], None
    while True:
        page = timeline_for(contact, before=before, limit=2)
        seen += [(item.source, item.pk) for item in page.items]
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == expected


def test_bad_cursor_is_a_404_on_the_card(client, world):
    client.force_login(world["mgr_north"].user)
    assert client.get(card(world["north_contact"]) + "?before=garbage").status_code == 404


# --- calls ---------------------------------------------------------------------------------------


def test_log_a_call_from_the_card(client, world):
    contact = world["north_contact"]
    user = world["mgr_north"].user
    client.force_login(user)
    response = client.post(
        card(contact) + "calls/",
        {
            "call-number": "+46701111111",
            "call-direction": "outbound",
            "call-status": "completed",
            "call-duration_minutes": "2.5",
            "call-notes": "Wants a quote",
        },
    )
    assert response.status_code == 302
    message = Message.objects.get(kind="call")
    assert message.direction == "out" and message.status == "received"
    assert message.data["duration_s"] == 150 and message.data["status"] == "completed"
    assert message.author == user and "Wants a quote" in message.body
    assert message.conversation.channel.kind == "phone"
    assert message.conversation.channel.name == "Phone"
    assert message.conversation.address == "+46701111111"
    page = client.get(card(contact)).content.decode()
    assert "Outgoing call, answered, 2 min 30 s" in page


def test_call_log_with_bad_input_writes_nothing(client, world):
    contact = world["south_contact"]  # no phone number
    client.force_login(world["mgr_south"].user)
    response = client.post(
        card(contact) + "calls/",
        {"call-number": "other", "call-other_number": "12", "call-direction": "sideways"},
    )
    assert response.status_code == 400
    form = response.context["call_form"]
    assert "other_number" in form.errors and "direction" in form.errors
    assert not Message.objects.exists() and not ChannelConfig.objects.exists()


def test_call_log_of_a_sibling_units_contact_is_404(client, world):
    client.force_login(world["mgr_south"].user)
    response = client.post(
        card(world["north_contact"]) + "calls/",
        {"call-number": "+46701111111", "call-direction": "inbound", "call-status": "busy"},
    )
    assert response.status_code == 404
    assert not Message.objects.exists()


def test_call_log_record_service_reuses_the_phone_channel(world):
    contact = world["north_contact"]
    existing = make_channel(world["org"], "phone", name="Twilio Voice")
    first = call_log_record(
        contact=contact,
        actor=None,
        direction="inbound",
        outcome="no-answer",
        duration_s=0,
        notes="",
    )
    second = call_log_record(
        contact=contact,
        actor=None,
        direction="inbound",
        outcome="completed",
        duration_s=61,
        notes="ok",
    )
    assert first.conversation == second.conversation
    assert first.channel_config == existing and first.direction == "in"
    conversation = Conversation.objects.get()
    assert conversation.unread_count == 0 and conversation.last_preview.startswith("Incoming")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"direction": "up"}, "direction"),
        ({"outcome": "great"}, "outcome"),
        ({"duration_s": -5}, "duration_s"),
        ({"outcome": "busy", "duration_s": 30}, "duration_s"),
        ({"number": "12"}, "number"),
    ],
)
def test_call_log_record_field_errors(world, kwargs, field):
    from django.core.exceptions import ValidationError

    args = {
        "contact": world["north_contact"],
        "actor": None,
        "direction": "inbound",
        "outcome": "completed",
        "duration_s": 10,
        "notes": "",
    }
    with pytest.raises(ValidationError) as exc:
        call_log_record(**{**args, **kwargs})
    assert field in exc.value.message_dict
    assert not Message.objects.exists()


# --- merging -------------------------------------------------------------------------------------


def test_merge_flow_search_confirm_merge(client, world):
    target = world["north_contact"]
    dup = ContactFactory(
        organisation=world["org"],
        first_name="Nora",
        last_name="N.",
        email="nora@example.se",
        unit=world["north"],
    )
    timeline_add(contact=dup, kind="booking.created", summary="Old booking")
    client.force_login(world["mgr_north"].user)
    page = client.get(card(target) + "merge/?q=Nora").content.decode()
    assert f"/customers/{target.public_id}/merge/{dup.public_id}/" in page
    assert f"merge/{target.public_id}/" not in page  # not itself
    confirm = client.get(f"/customers/{target.public_id}/merge/{dup.public_id}/")
    assert confirm.status_code == 200
    assert "nora@example.se" in confirm.content.decode()
    response = client.post(f"/customers/{target.public_id}/merge/{dup.public_id}/")
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=dup.pk).exists()
    target.refresh_from_db()
    assert target.email == "nora@example.se"
    page = client.get(card(target)).content.decode()
    assert "Merged Nora N. into this contact" in page and "Old booking" in page


def test_merge_of_a_contact_one_may_not_see_is_404(client, world):
    client.force_login(world["mgr_north"].user)
    url = f"/customers/{world['north_contact'].public_id}/merge/{world['south_contact'].public_id}/"
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    assert Contact.objects.filter(pk=world["south_contact"].pk).exists()
    # The search doesn't offer it either.
    page = client.get(card(world["north_contact"]) + "merge/?q=Sven").content.decode()
    assert "Sven" not in page.split('data-testid="merge-results"')[-1].split("</table>")[0] or (
        "merge-candidate" not in page
    )


def test_merge_both_with_accounts_shows_the_problem(client, world):
    target, source = (
        world["north_contact"],
        ContactFactory(organisation=world["org"], unit=world["north"], user=UserFactory()),
    )
    Contact.objects.filter(pk=target.pk).update(user=UserFactory())
    client.force_login(world["mgr_north"].user)
    url = f"/customers/{target.public_id}/merge/{source.public_id}/"
    assert 'data-testid="merge-problem"' in client.get(url).content.decode()
    assert client.post(url).status_code == 400  # the page again, nothing merged
    assert Contact.objects.filter(pk=source.pk).exists()
