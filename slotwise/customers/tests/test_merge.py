"""contact_merge: a duplicate's whole history moves to the kept contact, in one transaction."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from slotwise.bookings.models import Booking
from slotwise.bookings.services import booking_create
from slotwise.bookings.tests.conftest import future_slot, give_hours, make_type
from slotwise.customers.models import Consent, Contact, Identity, TimelineEntry
from slotwise.customers.services import consent_record, contact_create, contact_merge
from slotwise.messaging.models import Conversation, Message, VerificationCode
from slotwise.messaging.testing import make_channel
from slotwise.tests_factories import (
    ContactFactory,
    LocationFactory,
    OrganisationFactory,
    StaffFactory,
    UserFactory,
    make_unit,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    return OrganisationFactory(country="SE", time_zone="Europe/Stockholm")


@pytest.fixture
def staff(org):
    member = StaffFactory(unit=make_unit(org, "Branch"))
    give_hours(member)
    return member


def _inbound(conversation, body, when):
    message = Message.objects.create(
        organisation_id=conversation.organisation_id,
        conversation=conversation,
        contact=conversation.contact,
        channel_config=conversation.channel,
        direction="in",
        channel=conversation.channel.medium,
        provider=conversation.channel.kind,
        to=conversation.address,
        body=body,
        status="received",
    )
    Message.objects.filter(pk=message.pk).update(created_at=when)
    return message


def _snapshot(contact):
    return {
        "identities": Identity.objects.filter(contact=contact).count(),
        "timeline": TimelineEntry.objects.filter(contact=contact).count(),
        "messages": Message.objects.filter(contact=contact).count(),
        "bookings": Booking.objects.filter(contact=contact).count(),
        "conversations": Conversation.objects.filter(contact=contact).count(),
    }


def test_merge_moves_bookings_messages_conversations_and_fills_fields(org, staff):
    t0 = timezone.now() - datetime.timedelta(hours=5)
    telegram = make_channel(org, "console", {"medium": "telegram"}, name="Telegram")
    sms = make_channel(org, "console", {"medium": "sms"}, name="SMS")
    target = contact_create(organisation=org, first_name="Anna", email="anna@example.se")
    target.notes = "Prefers mornings."
    target.save()
    source = contact_create(
        organisation=org, first_name="Anna", last_name="Berg", phone="+46701234567"
    )
    source.notes = "Has a dog."
    source.save()
    location = LocationFactory(organisation=org)
    Contact.objects.filter(pk=source.pk).update(location=location)
    source.refresh_from_db()
    Identity.objects.create(organisation=org, contact=source, kind="telegram", external_id="4711")
    consent_record(contact=source, kind="privacy", version="2", channel="telegram")
    VerificationCode.objects.create(
        organisation=org,
        contact=source,
        code_hash="x",
        expires_at=timezone.now() + datetime.timedelta(minutes=5),
    )

    # The same Telegram chat known on both (two conversations on one channel + address), and an
    # SMS conversation only the source has.
    shared_t = Conversation.objects.create(
        organisation=org,
        contact=target,
        channel=telegram,
        address="4711",
        unread_count=1,
        waiting_since=t0 + datetime.timedelta(hours=2),
        last_message_at=t0 + datetime.timedelta(hours=2),
        last_inbound_at=t0 + datetime.timedelta(hours=2),
        last_preview="target's",
    )
    shared_s = Conversation.objects.create(
        organisation=org,
        contact=source,
        channel=telegram,
        address="4711",
        unread_count=2,
        waiting_since=t0,
        last_message_at=t0 + datetime.timedelta(hours=3),
        last_inbound_at=t0 + datetime.timedelta(hours=3),
        last_preview="source's newest",
        assignee=staff,
    )
    only_source = Conversation.objects.create(
        organisation=org, contact=source, channel=sms, address="+46701234567"
    )
    m1 = _inbound(shared_t, "target hello", t0 + datetime.timedelta(hours=2))
    m2 = _inbound(shared_s, "source hello", t0)
    m3 = _inbound(shared_s, "source again", t0 + datetime.timedelta(hours=3))
    m4 = _inbound(only_source, "sms", t0 + datetime.timedelta(hours=1))

    kind = make_type(org, currency="SEK")
    b1 = booking_create(type=kind, staff=staff, contact=source, start=future_slot(org, days=3))
    b2 = booking_create(type=kind, staff=staff, contact=target, start=future_slot(org, days=4))

    before_source, before_target = _snapshot(source), _snapshot(target)
    # (booking notifications are messages to the contact too)
    all_messages = set(Message.objects.filter(contact__in=[source, target]))
    assert {m1, m2, m3, m4} <= all_messages
    actor = UserFactory()
    source_public_id = source.public_id

    merged = contact_merge(source=source, target=target, actor=actor)

    assert merged.pk == target.pk
    assert not Contact.objects.filter(pk=source.pk).exists()
    target.refresh_from_db()
    # Filled from the source; notes appended; kept values stay.
    assert target.phone == "+46701234567" and target.email == "anna@example.se"
    assert target.last_name == "Berg" and target.location == location
    assert target.notes == "Prefers mornings.\n\nHas a dog."
    # Everything moved.
    assert set(Booking.objects.filter(contact=target)) == {b1, b2}
    assert set(Message.objects.filter(contact=target)) == all_messages
    assert Identity.objects.filter(contact=target, kind="telegram", external_id="4711").exists()
    assert Identity.objects.filter(contact=target, kind="phone").count() == 1
    assert Consent.objects.filter(contact=target, kind="privacy").exists()
    assert VerificationCode.objects.filter(contact=target).count() == 1
    after = _snapshot(target)
    assert after["bookings"] == before_source["bookings"] + before_target["bookings"]
    assert after["messages"] == before_source["messages"] + before_target["messages"]
    assert after["identities"] == before_source["identities"] + before_target["identities"]
    # +1: the merge's own entry.
    assert after["timeline"] == before_source["timeline"] + before_target["timeline"] + 1
    # The two Telegram conversations are one; counters cover both.
    assert after["conversations"] == 2
    assert not Conversation.objects.filter(pk=shared_s.pk).exists()
    shared_t.refresh_from_db()
    assert set(shared_t.messages.all()) == {m1, m2, m3}
    assert shared_t.unread_count == 3
    assert shared_t.waiting_since == t0
    assert shared_t.last_message_at == t0 + datetime.timedelta(hours=3)
    assert shared_t.last_inbound_at == t0 + datetime.timedelta(hours=3)
    assert shared_t.last_preview == "source's newest"
    assert shared_t.assignee == staff
    only_source.refresh_from_db()
    assert only_source.contact == target and m4 in set(only_source.messages.all())
    # The timeline says so, with who did it.
    entry = TimelineEntry.objects.get(contact=target, kind="contact.merged")
    assert "Anna Berg" in entry.summary and entry.actor == actor
    assert entry.data["source"] == str(source_public_id)
    assert entry.data["moved"]["bookings.booking"] == 1
    assert entry.data["conversations_merged"] == 1
    # The bookings' own history records the move (reproducible history).
    assert b1.history.first().contact_id == target.pk


def test_source_user_account_moves_to_the_target(org):
    user = UserFactory()
    source = ContactFactory(organisation=org, user=user)
    target = ContactFactory(organisation=org)
    contact_merge(source=source, target=target)
    target.refresh_from_db()
    assert target.user == user


def _counts():
    return (
        Contact.objects.count(),
        Identity.objects.count(),
        TimelineEntry.objects.count(),
        Message.objects.count(),
        Conversation.objects.count(),
    )


def test_both_with_a_user_account_is_refused_and_nothing_changes(org):
    source = contact_create(organisation=org, first_name="A", phone="+46701234567")
    Contact.objects.filter(pk=source.pk).update(user=UserFactory())
    target = ContactFactory(organisation=org, user=UserFactory())
    sms = make_channel(org, "console", {"medium": "sms"})
    Conversation.objects.create(organisation=org, contact=source, channel=sms, address="x")
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        contact_merge(source=source, target=target)
    assert "source" in exc.value.message_dict
    assert _counts() == before
    assert Conversation.objects.get().contact_id == source.pk


def test_other_organisation_is_refused(org):
    source = ContactFactory(organisation=OrganisationFactory())
    target = ContactFactory(organisation=org)
    before = _counts()
    with pytest.raises(ValidationError):
        contact_merge(source=source, target=target)
    assert _counts() == before


def test_merging_into_itself_is_refused(org):
    contact = ContactFactory(organisation=org)
    with pytest.raises(ValidationError):
        contact_merge(source=contact, target=contact)


def test_a_failure_midway_leaves_everything_as_it_was(org, monkeypatch):
    """Nothing half-done: an error after some relations moved rolls all of them back."""
    from slotwise.customers import services

    source = contact_create(organisation=org, first_name="A", phone="+46701234567")
    target = ContactFactory(organisation=org)
    sms = make_channel(org, "console", {"medium": "sms"})
    conversation = Conversation.objects.create(
        organisation=org, contact=source, channel=sms, address="x"
    )
    _inbound(conversation, "hi", timezone.now())
    real = services._repoint
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs["rel"])
        if len(calls) == 4:
            raise RuntimeError("boom")
        return real(**kwargs)

    monkeypatch.setattr(services, "_repoint", flaky)
    before = _counts()
    with pytest.raises(RuntimeError):
        contact_merge(source=source, target=target)
    assert _counts() == before
    assert Identity.objects.filter(contact=source).count() == 1
    assert Message.objects.get().contact_id == source.pk


def test_chat_conversations_follow_the_kept_contact(org):
    """The in-app chat is addressed by the contact's public id: after a merge the duplicate's
    chat is the kept contact's chat (joined with it when both have one)."""
    from slotwise.messaging.chat import chat_conversation, chat_message_post

    source, target, lone = (ContactFactory(organisation=org) for _ in range(3))
    chat_message_post(contact=source, author=None, body="from the duplicate")
    chat_message_post(contact=target, author=None, body="from the kept one")
    contact_merge(source=source, target=target)
    conversation = chat_conversation(contact=target, create=False)
    assert Conversation.objects.filter(contact=target).count() == 1
    assert {m.body for m in conversation.messages.all()} == {
        "from the duplicate",
        "from the kept one",
    }
    assert conversation.unread_count == 2
    # Only the duplicate had a chat: it is re-addressed to the kept contact.
    chat_message_post(contact=lone, author=None, body="only here")
    other = ContactFactory(organisation=org)
    contact_merge(source=lone, target=other)
    moved = chat_conversation(contact=other, create=False)
    assert moved is not None and moved.address == str(other.public_id)
    assert moved.messages.get().to == str(other.public_id)
