"""The demo's messaging: console channels in every organisation, conversations made through the
real inbound and outbox services, canned replies in the organisation's language — and a second
`demo_data` run adds nothing."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from slotwise.customers.models import Contact, Identity
from slotwise.messaging.channels.console.channel import ConsoleChannel
from slotwise.messaging.demo import DEMO_SECRET, DEMO_SECRET_ENV, messaging_demo
from slotwise.messaging.models import (
    CannedReply,
    ChannelConfig,
    Conversation,
    InboundEvent,
    Message,
)
from slotwise.messaging.testing import post_inbound, process_inbound
from slotwise.org.models import Organisation

pytestmark = pytest.mark.django_db


def _counts() -> tuple[int, ...]:
    return (
        ChannelConfig.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
        InboundEvent.objects.count(),
        CannedReply.objects.count(),
        Contact.objects.count(),
        Identity.objects.count(),
    )


@pytest.fixture
def demo():
    call_command("demo_data", stdout=io.StringIO())


def test_demo_messaging_is_complete_and_idempotent(demo):
    counts = _counts()
    call_command("demo_data", stdout=io.StringIO())
    assert _counts() == counts
    for org in Organisation.objects.all():  # and once more directly: nothing new either
        assert messaging_demo(org) == {"channels": 0, "canned": 0, "inbound": 0, "outbound": 0}
    assert _counts() == counts

    for org in Organisation.objects.all():
        # the in-app chat ("chat") is made when the work-orders demo notifies a technician
        configs = ChannelConfig.objects.filter(organisation=org).exclude(kind="chat")
        channels = {c.name: c for c in configs}
        assert {"SMS", "WhatsApp", "E-mail"} <= set(channels), org
        for config in channels.values():
            assert config.kind == "console" and config.enabled
            assert config.settings["secret_env"] == DEMO_SECRET_ENV
        assert {c.medium for c in channels.values()} >= {"phone", "whatsapp", "email"}
        replies = CannedReply.objects.filter(organisation=org)
        assert replies.count() >= 3 and {r.language for r in replies} == {org.default_language}
        conversations = Conversation.objects.filter(organisation=org)
        assert conversations.exists(), org
        assert Message.objects.filter(organisation=org, direction="in").exists(), org
        sent = Message.objects.filter(organisation=org, direction="out", data__demo__isnull=False)
        assert sent.exists(), org
        assert set(sent.values_list("status", flat=True)) == {"delivered"}  # through the console
        assert all(m.author_id for m in sent)

    driveon = Organisation.objects.get(slug="driveon")
    media = {c.name: c.medium for c in ChannelConfig.objects.filter(organisation=driveon)}
    assert media["Telegram"] == "telegram" and media["Viber"] == "viber"
    driver = Identity.objects.get(organisation=driveon, kind="telegram").contact
    assert (driver.first_name, driver.phone) == ("Алексей", "+79161230001")
    assert Identity.objects.filter(contact=driver, kind="phone").exists()


def test_demo_conversations_land_on_the_demo_customers(demo):
    maja = Contact.objects.get(user__username="se-customer")
    conversation = Conversation.objects.get(contact=maja, channel__name="SMS")
    bodies = list(
        conversation.messages.order_by("created_at", "id").values_list("direction", "body")
    )
    assert [d for d, _b in bodies] == ["in", "out", "in"]
    assert "Tisdag" in bodies[-1][1]
    # The customer's last message is unanswered: the conversation waits and is unread.
    assert conversation.unread_count == 1 and conversation.waiting_since is not None
    emma = Contact.objects.get(user__username="nl-customer")
    mail = Conversation.objects.get(contact=emma, channel__name="E-mail")
    first = mail.messages.filter(direction="in").get()
    assert first.subject == "Vraag over mijn hypotheekgesprek"
    assert Identity.objects.filter(contact=emma, kind="email").exists()
    emily = Contact.objects.get(user__username="la-customer")
    whatsapp = Conversation.objects.get(contact=emily, channel__name="WhatsApp")
    assert whatsapp.address == emily.phone.lstrip("+")
    assert whatsapp.unread_count == 0 and whatsapp.waiting_since is None  # answered last


def _post(client, config, payload: dict):
    body = json.dumps(payload).encode()
    signature = ConsoleChannel.sign(body, DEMO_SECRET)
    return post_inbound(client, config, body, {"X-Console-Signature": signature})


def test_be_the_customer_on_a_demo_channel(demo, client, monkeypatch):
    """What `messaging_simulate` does, with the secret `make demo` exports: an SMS from the demo
    customer's number, and a WhatsApp message from a number the demo already knows there."""
    monkeypatch.setenv(DEMO_SECRET_ENV, DEMO_SECRET)
    maja = Contact.objects.get(user__username="se-customer")
    sms = ChannelConfig.objects.get(organisation=maja.organisation, name="SMS")
    assert (
        _post(client, sms, {"from": maja.phone, "text": "Hej igen!", "id": "t-1"}).status_code
        == 200
    )
    emily = Contact.objects.get(user__username="la-customer")
    whatsapp = ChannelConfig.objects.get(organisation=emily.organisation, name="WhatsApp")
    payload = {"from": emily.phone.lstrip("+"), "text": "Running late!", "id": "t-2"}
    assert _post(client, whatsapp, payload).status_code == 200
    assert process_inbound() == 2
    assert Message.objects.get(channel_config=sms, body="Hej igen!").contact == maja
    assert Message.objects.get(channel_config=whatsapp, body="Running late!").contact == emily
