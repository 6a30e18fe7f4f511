"""`messaging_simulate` (be the customer: a signed message over HTTP to a console channel's
webhook, then the pump puts it into the inbox) and `messaging_webhooks` (register where the
provider's API allows, print the address elsewhere)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from slotwise.messaging.channel_settings import REGISTRATION_KEY
from slotwise.messaging.fakes.telegram import TelegramFake
from slotwise.messaging.inbound import inbound_url
from slotwise.messaging.models import Conversation, InboundEvent, Message
from slotwise.messaging.testing import make_channel, process_inbound
from slotwise.tests_factories import ContactFactory, OrganisationFactory

SECRET = "sim-secret"


@pytest.fixture
def console(monkeypatch):
    monkeypatch.setenv("SIM_CONSOLE_SECRET", SECRET)
    org = OrganisationFactory(slug="simorg", country="SE")
    return make_channel(
        org, "console", {"medium": "sms", "secret_env": "SIM_CONSOLE_SECRET"}, name="SMS"
    )


def _simulate(live_server, *args, **kwargs) -> str:
    out = io.StringIO()
    call_command(
        "messaging_simulate",
        "--org",
        "simorg",
        "--base-url",
        live_server.url,
        *args,
        stdout=out,
        **kwargs,
    )
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_simulate_lands_a_message_on_the_contact(live_server, console):
    contact = ContactFactory(organisation=console.organisation, phone="+46701234567")
    _simulate(
        live_server,
        "--channel",
        "SMS",
        "--from",
        "+46701234567",
        "--text",
        "Hej! Kan jag flytta min tid?",
        "--id",
        "sim-1",
    )
    assert InboundEvent.objects.count() == 1
    assert process_inbound() == 1
    message = Message.objects.get()
    assert message.direction == "in" and message.body == "Hej! Kan jag flytta min tid?"
    assert message.contact == contact and message.channel_config == console
    # The same event id again is a replay: accepted, nothing new.
    _simulate(
        live_server, "--channel", "SMS", "--from", "+46701234567", "--text", "x", "--id", "sim-1"
    )
    assert InboundEvent.objects.count() == 1
    # A stranger with a name becomes a new contact.
    _simulate(
        live_server,
        "--channel",
        "SMS",
        "--from",
        "+46709999999",
        "--text",
        "Hi",
        "--name",
        "Ann Berg",
    )
    process_inbound()
    new = Conversation.objects.get(address="+46709999999").contact
    assert (new.first_name, new.last_name, new.phone) == ("Ann", "Berg", "+46709999999")


@pytest.mark.django_db(transaction=True)
def test_simulate_with_the_wrong_secret_is_rejected(live_server, console):
    with pytest.raises(CommandError, match="403"):
        _simulate(
            live_server, "--channel", "SMS", "--from", "+4670", "--text", "x", "--secret", "wrong"
        )
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_simulate_explains_what_is_missing(console, monkeypatch):
    with pytest.raises(CommandError, match="No channel 'Nope'"):
        call_command(
            "messaging_simulate",
            "--org",
            "simorg",
            "--channel",
            "Nope",
            "--from",
            "1",
            "--text",
            "x",
        )
    with pytest.raises(CommandError, match="No organisation"):
        call_command(
            "messaging_simulate", "--org", "nope", "--channel", "SMS", "--from", "1", "--text", "x"
        )
    make_channel(console.organisation, "telegram", {}, name="Bot")
    with pytest.raises(CommandError, match="only console channels"):
        call_command(
            "messaging_simulate",
            "--org",
            "simorg",
            "--channel",
            "Bot",
            "--from",
            "1",
            "--text",
            "x",
        )
    monkeypatch.delenv("SIM_CONSOLE_SECRET")
    with pytest.raises(CommandError, match="CONSOLE_CHANNEL_SECRET"):
        call_command(
            "messaging_simulate",
            "--org",
            "simorg",
            "--channel",
            "SMS",
            "--from",
            "1",
            "--text",
            "x",
        )


@pytest.mark.django_db
def test_webhooks_registers_telegram_and_prints_the_others(console, monkeypatch):
    org = console.organisation
    with TelegramFake() as fake:
        for key, value in fake.env(prefix="SIM_TG").items():
            monkeypatch.setenv(key, value)
        bot = make_channel(org, "telegram", fake.settings(prefix="SIM_TG"), name="Bot")
        out = io.StringIO()
        call_command("messaging_webhooks", "--org", "simorg", stdout=out)
        assert fake.webhook["url"] == inbound_url(bot)
        text = out.getvalue()
        assert f"registered {inbound_url(bot)}" in text
        assert f"set this address at the provider: {inbound_url(console)}" in text
        bot.refresh_from_db()
        assert bot.settings[REGISTRATION_KEY]["status"] == "registered"

        # --kind filters; a provider's refusal fails the command with its reason.
        fake.fail_next(401, method="setWebhook")
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(CommandError, match="1 webhook registration"):
            call_command(
                "messaging_webhooks",
                "--org",
                "simorg",
                "--kind",
                "telegram",
                stdout=out,
                stderr=err,
            )
        assert "registration failed" in err.getvalue()
        assert inbound_url(console) not in out.getvalue()
        assert fake.token not in err.getvalue()


@pytest.mark.django_db
def test_webhooks_dry_run_calls_nothing(console, monkeypatch):
    with TelegramFake() as fake:
        for key, value in fake.env(prefix="SIM_TG").items():
            monkeypatch.setenv(key, value)
        make_channel(console.organisation, "telegram", fake.settings(prefix="SIM_TG"), name="Bot")
        out = io.StringIO()
        call_command("messaging_webhooks", "--org", "simorg", "--dry-run", stdout=out)
        assert "would register" in out.getvalue()
        assert fake.webhook is None
    with pytest.raises(CommandError):
        call_command("messaging_webhooks", "--org", "nope")
