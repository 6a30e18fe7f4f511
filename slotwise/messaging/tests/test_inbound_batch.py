"""The pump processes stored inbound events in batches: one transaction, contacts and
conversations looked up together, each sender's messages in order; a batch that fails is done
again one event at a time, so a bad event can't hold back the others."""

import pytest

from slotwise.customers.models import Contact, Identity, TimelineEntry
from slotwise.messaging import inbound
from slotwise.messaging.channels.base import InboundMessage, InboundResult, StatusUpdate
from slotwise.messaging.inbound import inbound_accept, inbound_process_pending
from slotwise.messaging.models import Conversation, InboundEvent, Message
from slotwise.messaging.testing import make_channel
from slotwise.tests_factories import OrganisationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sms():
    return make_channel(OrganisationFactory(country="SE"), "console", {"medium": "sms"})


def _receive(config, *items):
    inbound_accept(config=config, result=InboundResult(messages=items))


def _sms(n: int, sender: str, text: str = "") -> InboundMessage:
    return InboundMessage(
        event_id=f"e{n}", sender=sender, sender_phone=sender, text=text or f"text {n}"
    )


def _no_fallback(monkeypatch):
    def fail(**kwargs):
        raise AssertionError("the batch fell back to one event at a time")

    monkeypatch.setattr(inbound, "inbound_process", fail)


def test_a_batch_lands_every_message_on_the_right_contact_in_order(monkeypatch, sms):
    org = sms.organisation
    known = Contact.objects.create(organisation=org, first_name="Known", phone="+46700000001")
    linked = Contact.objects.create(organisation=org, first_name="Linked", phone="+46700000002")
    Identity.objects.create(
        organisation=org, contact=linked, kind="phone", external_id="+46700000002"
    )
    senders = ["+46700000001", "+46700000002", "+46700000003", "+46700000004"]
    items = [_sms(n, senders[n % 4]) for n in range(12)]
    _receive(sms, *items)
    _no_fallback(monkeypatch)

    assert inbound_process_pending(limit=100) == 12
    assert not InboundEvent.objects.filter(processed_at__isnull=True).exists()
    assert Contact.objects.filter(organisation=org).count() == 4  # two new ones
    assert Conversation.objects.count() == 4
    for sender in senders:
        contact = Contact.objects.get(organisation=org, phone=sender)
        assert Identity.objects.filter(contact=contact, kind="phone", external_id=sender).exists()
        conversation = Conversation.objects.get(contact=contact)
        assert conversation.unread_count == 3 and conversation.waiting_since is not None
        texts = list(
            Message.objects.filter(conversation=conversation)
            .order_by("id")
            .values_list("body", flat=True)
        )
        n0 = senders.index(sender)
        assert texts == [f"text {n}" for n in range(n0, 12, 4)]
        assert conversation.last_preview == texts[-1]
    assert Contact.objects.get(pk=known.pk).first_name == "Known"
    # A new contact is on the timeline once.
    new = Contact.objects.get(organisation=org, phone="+46700000003")
    assert TimelineEntry.objects.filter(contact=new, kind="contact.created").count() == 1
    # A later batch finds what the first one made.
    _receive(sms, _sms(100, "+46700000003", "again"))
    assert inbound_process_pending(limit=100) == 1
    assert Contact.objects.filter(organisation=org).count() == 4
    assert Conversation.objects.get(contact=new).unread_count == 4


def test_a_failing_event_is_isolated(monkeypatch, sms):
    def hook(message):
        if message.body == "boom":
            raise RuntimeError("a bot bug")

    monkeypatch.setattr(inbound, "INBOUND_HOOKS", [hook])
    _receive(sms, _sms(1, "+46700000001"), _sms(2, "+46700000002", "boom"), _sms(3, "+46700000003"))
    assert inbound_process_pending(limit=100) == 2  # the batch failed; one by one, two went
    assert set(Message.objects.values_list("body", flat=True)) == {"text 1", "text 3"}
    failed = InboundEvent.objects.get(event_id="e2")
    assert failed.processed_at is not None and failed.error
    assert not InboundEvent.objects.filter(processed_at__isnull=True).exists()


def test_a_status_for_an_unknown_message_waits_without_blocking(monkeypatch, sms):
    monkeypatch.setattr(inbound, "_DEFERRED", {})
    inbound_accept(
        config=sms,
        result=InboundResult(
            statuses=(StatusUpdate(event_id="s1", external_id="not-yet", status="delivered"),)
        ),
    )
    _receive(sms, _sms(1, "+46700000001"))
    assert inbound_process_pending(limit=100) == 1  # the message; the status waits
    status = InboundEvent.objects.get(event_id="s1")
    assert status.processed_at is None and status.pk in inbound._DEFERRED
    # Deferred: the next pass does not claim it again at once.
    _receive(sms, _sms(2, "+46700000001"))
    assert inbound_process_pending(limit=1) == 1
    assert Message.objects.count() == 2
