"""notify(): the preferred channel first, then the fallback chain; WhatsApp templates outside
the 24-hour window; the system sender when the organisation has no channel for SMS/e-mail."""

import pytest
from django.utils import timezone

from slotwise.messaging.channels.base import ChannelError
from slotwise.messaging.channels.console.channel import ConsoleChannel
from slotwise.messaging.models import Message, MessageStatus
from slotwise.messaging.notify import notify, register_template
from slotwise.messaging.testing import make_channel, send_outbox
from slotwise.tests_factories import ContactFactory, OrganisationFactory

pytestmark = pytest.mark.django_db

TEMPLATE = "messaging/notifications/test_hello"


@pytest.fixture
def org():
    return OrganisationFactory(country="NL", name="Taxi Fleet")


def _contact(org, **fields):
    defaults = {"first_name": "Olga", "phone": "+31612345678", "email": "olga@example.test"}
    return ContactFactory(organisation=org, **(defaults | fields))


def test_preferred_whatsapp_outside_window_goes_as_a_template(org):
    register_template("test_hello", whatsapp_params=("first_name",))
    whatsapp = make_channel(
        org, "console", {"medium": "whatsapp", "templates": {"test_hello": "hello_v2"}}
    )
    contact = _contact(org, preferred_channel="whatsapp")
    message = notify(
        contact=contact, template=TEMPLATE, context={"first_name": "Olga"}, purpose="t"
    )
    assert message.channel_config == whatsapp
    assert message.to == "31612345678"  # the wa_id: the number without "+"
    assert message.body == "Hello Olga, this is Taxi Fleet."
    assert message.template == {"name": "hello_v2", "language": "en", "params": ["Olga"]}
    # After the contact wrote within 24 hours, free text is allowed.
    message.conversation.last_inbound_at = timezone.now()
    message.conversation.save()
    again = notify(contact=contact, template=TEMPLATE, context={})
    assert again.template == {} and again.conversation == message.conversation


def test_language_of_the_contact(org):
    make_channel(org, "console", {"medium": "sms"})
    contact = _contact(org, language="sv")
    message = notify(contact=contact, template=TEMPLATE)
    assert message.body.startswith("Hej Olga") or message.body.startswith("Hello Olga")


def test_failure_falls_back_along_the_chain_to_the_system_sms(org, monkeypatch):
    make_channel(org, "console", {"medium": "whatsapp"})
    contact = _contact(org, preferred_channel="whatsapp", email="")

    def not_on_whatsapp(self, message):
        raise ChannelError("not a WhatsApp user", permanent=True)

    monkeypatch.setattr(ConsoleChannel, "send", not_on_whatsapp)
    first = notify(contact=contact, template=TEMPLATE)
    assert first.fallback == [[None, "+31612345678", "phone"]]
    send_outbox()
    first.refresh_from_db()
    assert first.status == MessageStatus.FAILED
    sms = Message.objects.exclude(pk=first.pk).get()
    assert (sms.channel_config, sms.channel, sms.to) == (None, "sms", "+31612345678")
    assert sms.contact == contact and sms.body == first.body
    send_outbox()
    sms.refresh_from_db()
    assert sms.status == MessageStatus.SENT


def test_no_reachable_channel_is_none(org):
    contact = _contact(org, phone="", email="", preferred_channel="telegram")
    assert notify(contact=contact, template=TEMPLATE) is None
    assert Message.objects.count() == 0


def test_preferred_email_uses_the_system_mail_without_an_email_channel(org):
    contact = _contact(org, preferred_channel="email")
    message = notify(contact=contact, template=TEMPLATE, subject="Hi")
    assert (message.channel, message.to, message.subject) == ("email", "olga@example.test", "Hi")
    assert message.fallback[0][2] == "phone"


def test_an_outbox_batch_writes_its_messages_in_one_insert_at_the_end(org):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from slotwise.messaging.services import email_queue, outbox_batch, sms_queue

    contacts = [
        _contact(org, first_name=name, email=f"{name}@example.test", phone=f"+3161234567{i}")
        for i, name in enumerate(("Olga", "Piet", "Sara"))
    ]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        with outbox_batch():
            queued = [notify(contact=c, template=TEMPLATE, chain=["phone"]) for c in contacts]
            queued.append(email_queue(to="a@example.test", subject="Hi", body="Hello"))
            queued.append(sms_queue(to="+31600000000", body="Code 1234"))
            assert all(m.pk is None for m in queued)
            assert not Message.objects.filter(organisation=org).exists()
        inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "messaging_message"')]
    assert len(inserts) == 1
    sent = Message.objects.filter(to__in=[c.phone for c in contacts]).order_by("pk")
    assert [m.body.split(",")[0] for m in sent] == ["Hello Olga", "Hello Piet", "Hello Sara"]
    assert all(m.contact_id and m.status == MessageStatus.QUEUED for m in sent)
    assert Message.objects.filter(to="a@example.test", channel="email", subject="Hi").count() == 1
    assert Message.objects.filter(to="+31600000000", body="Code 1234").count() == 1
    # Outside a batch each message is written at once.
    single = sms_queue(to="+31611111111", body="now")
    assert single.pk is not None


def test_an_outbox_batch_that_fails_writes_nothing(org):
    from django.db import transaction

    from slotwise.messaging.services import outbox_batch, sms_queue

    with pytest.raises(RuntimeError), transaction.atomic(), outbox_batch():
        sms_queue(to="+31622222222", body="lost")
        raise RuntimeError("the batch failed")
    assert not Message.objects.filter(to="+31622222222").exists()
    # The batch is over: the next message is written at once again.
    assert sms_queue(to="+31622222222", body="kept").pk is not None
