"""The Channels page: org admins only, another organisation's channel is a 404, field-level
errors with nothing half-saved, secrets named (never shown), "Enable again", and the webhook
registered by the worker's task against the local Telegram Bot API fake."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from slotwise.messaging.channel_settings import REGISTRATION_KEY
from slotwise.messaging.fakes.telegram import DEFAULT_WEBHOOK_SECRET, TelegramFake
from slotwise.messaging.inbound import inbound_url
from slotwise.messaging.models import ChannelConfig
from slotwise.messaging.tasks import channel_configure_webhook
from slotwise.messaging.testing import make_channel
from slotwise.org.roles import Role
from slotwise.tests_factories import OrganisationFactory, StaffFactory, make_unit

pytestmark = pytest.mark.django_db

TOKEN_VALUE = "123456:SECRET-token-value-never-shown"


@pytest.fixture
def org():
    return OrganisationFactory(slug="acme")


@pytest.fixture
def admin_client(client, org):
    admin = StaffFactory(unit=make_unit(org, "HQ"), roles=[Role.ORG_ADMIN])
    client.force_login(admin.user)
    return client


@pytest.fixture
def telegram_fake():
    with TelegramFake() as fake:
        yield fake


def _telegram_post(**changes) -> dict:
    data = {
        "name": "Telegram bot",
        "enabled": "on",
        "rate_per_second": "30",
        "position": "1",
        "s_bot_token_env": "ACME_TG_TOKEN",
        "s_webhook_secret_env": "ACME_TG_SECRET",
        "s_bot_username": "acme_bot",
        "s_api_url": "",
        "s_max_event_age_seconds": "",
        "extra": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# --- access ----------------------------------------------------------------------------------


def test_only_org_admins(client, org):
    config = make_channel(org, "console", {"medium": "sms"})
    manager = StaffFactory(unit=make_unit(org, "Branch"), roles=[Role.MANAGER])
    client.force_login(manager.user)
    for url in (
        reverse("channel_settings:list"),
        reverse("channel_settings:new"),
        reverse("channel_settings:create", args=["telegram"]),
        reverse("channel_settings:edit", args=[config.pk]),
        reverse("channel_settings:webhook_status", args=[config.pk]),
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("channel_settings:enable", args=[config.pk])).status_code == 403
    client.logout()
    response = client.get(reverse("channel_settings:list"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_navigation_entry_for_org_admins_only(client, admin_client, org):
    page = admin_client.get(reverse("home"))
    assert reverse("channel_settings:list") in page.content.decode()
    manager = StaffFactory(unit=make_unit(org, "Branch"), roles=[Role.MANAGER])
    client.force_login(manager.user)
    assert reverse("channel_settings:list") not in client.get(reverse("home")).content.decode()


def test_another_organisations_channel_is_not_found(admin_client, org, monkeypatch):
    other = OrganisationFactory()
    theirs = make_channel(other, "console", {"medium": "sms"}, name="Theirs")
    theirs.disabled_at = timezone.now()
    theirs.save()
    assert b"Theirs" not in admin_client.get(reverse("channel_settings:list")).content
    assert admin_client.get(reverse("channel_settings:edit", args=[theirs.pk])).status_code == 404
    status = reverse("channel_settings:webhook_status", args=[theirs.pk])
    assert admin_client.get(status).status_code == 404
    for name in ("enable", "register_webhook"):
        url = reverse(f"channel_settings:{name}", args=[theirs.pk])
        assert admin_client.post(url).status_code == 404
    response = admin_client.post(
        reverse("channel_settings:edit", args=[theirs.pk]), {"name": "Mine now", "position": "0"}
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Theirs" and theirs.disabled_at is not None


# --- adding and editing ------------------------------------------------------------------------


def test_add_page_offers_kinds_but_not_the_on_demand_chat(admin_client):
    page = admin_client.get(reverse("channel_settings:new")).content.decode()
    for kind in ("console", "telegram", "viber", "whatsapp", "twilio"):
        assert reverse("channel_settings:create", args=[kind]) in page
    assert "/channels/new/chat/" not in page
    assert admin_client.get(reverse("channel_settings:create", args=["chat"])).status_code == 404
    assert admin_client.get(reverse("channel_settings:create", args=["nope"])).status_code == 404


def test_create_a_telegram_channel_with_variable_names(admin_client, org, monkeypatch):
    monkeypatch.setenv("ACME_TG_TOKEN", TOKEN_VALUE)
    monkeypatch.setenv("ACME_TG_SECRET", "hook-secret-value")
    response = admin_client.post(
        reverse("channel_settings:create", args=["telegram"]),
        _telegram_post(extra='{"note": "main bot"}'),
    )
    assert response.status_code == 302
    config = ChannelConfig.objects.get(organisation=org, kind="telegram")
    assert response["Location"] == reverse("channel_settings:edit", args=[config.pk])
    assert (config.name, config.enabled, config.rate_per_second, config.position) == (
        "Telegram bot",
        True,
        30,
        1,
    )
    assert config.settings == {
        "bot_token_env": "ACME_TG_TOKEN",
        "webhook_secret_env": "ACME_TG_SECRET",
        "bot_username": "acme_bot",
        "note": "main bot",
    }
    page = admin_client.get(reverse("channel_settings:edit", args=[config.pk]))
    html = page.content.decode()
    assert inbound_url(config) in html
    assert 'data-testid="env-set" data-env="ACME_TG_TOKEN"' in html
    assert 'data-testid="register-webhook"' in html
    assert TOKEN_VALUE not in html and "hook-secret-value" not in html
    listing = admin_client.get(reverse("channel_settings:list")).content.decode()
    assert "Telegram bot" in listing and TOKEN_VALUE not in listing


def test_a_variable_that_is_not_set_is_shown_and_blocks_enabling(admin_client, org):
    url = reverse("channel_settings:create", args=["telegram"])
    response = admin_client.post(url, _telegram_post())
    assert response.status_code == 200
    form = response.context["form"]
    assert "s_bot_token_env" in form.errors and "s_webhook_secret_env" in form.errors
    assert "ACME_TG_TOKEN" in str(form.errors["s_bot_token_env"])
    assert 'data-testid="env-missing" data-env="ACME_TG_TOKEN"' in response.content.decode()
    assert not ChannelConfig.objects.filter(organisation=org).exists()
    # Switched off, it may be saved incomplete; the page then says what is missing.
    response = admin_client.post(url, _telegram_post(enabled=None))
    assert response.status_code == 302
    config = ChannelConfig.objects.get(organisation=org)
    assert not config.enabled
    listing = admin_client.get(reverse("channel_settings:list")).content.decode()
    assert "ACME_TG_TOKEN is not set" in listing


def test_field_errors_and_nothing_half_saved(admin_client, org, monkeypatch):
    monkeypatch.setenv("ACME_TG_TOKEN", TOKEN_VALUE)
    monkeypatch.setenv("ACME_TG_SECRET", "hook-secret-value")
    config = make_channel(
        org,
        "telegram",
        {"bot_token_env": "ACME_TG_TOKEN", "webhook_secret_env": "ACME_TG_SECRET"},
        name="Bot",
    )
    make_channel(org, "telegram", {}, name="Second bot", enabled=False)
    url = reverse("channel_settings:edit", args=[config.pk])
    cases = [
        ({"s_bot_token_env": TOKEN_VALUE}, "s_bot_token_env"),  # the secret, not its name
        ({"extra": "[1, 2]"}, "extra"),
        ({"extra": "{not json"}, "extra"),
        ({"extra": '{"bot_token_env": "X"}'}, "extra"),  # has its own field
        ({"name": "Second bot"}, "name"),  # taken in this organisation
        ({"name": "  "}, "name"),
        ({"rate_per_second": "-1"}, "rate_per_second"),
        ({"s_webhook_secret_env": ""}, "s_webhook_secret_env"),  # required while enabled
    ]
    for changes, field in cases:
        response = admin_client.post(url, _telegram_post(**changes))
        assert response.status_code == 200, changes
        assert field in response.context["form"].errors, (changes, response.context["form"].errors)
    config.refresh_from_db()
    assert config.name == "Bot" and config.rate_per_second == 0
    assert config.settings == {
        "bot_token_env": "ACME_TG_TOKEN",
        "webhook_secret_env": "ACME_TG_SECRET",
    }
    assert TOKEN_VALUE not in str(ChannelConfig.objects.values_list("settings", flat=True))


def test_saving_keeps_the_registration_unless_settings_change(admin_client, org, monkeypatch):
    monkeypatch.setenv("ACME_TG_TOKEN", TOKEN_VALUE)
    monkeypatch.setenv("ACME_TG_SECRET", "hook-secret-value")
    registration = {"status": "registered", "url": "x", "finished_at": timezone.now().isoformat()}
    config = make_channel(
        org,
        "telegram",
        {
            "bot_token_env": "ACME_TG_TOKEN",
            "webhook_secret_env": "ACME_TG_SECRET",
            "bot_username": "acme_bot",
            REGISTRATION_KEY: registration,
        },
        name="Telegram bot",
    )
    url = reverse("channel_settings:edit", args=[config.pk])
    assert admin_client.post(url, _telegram_post(rate_per_second="5")).status_code == 302
    config.refresh_from_db()
    assert config.settings[REGISTRATION_KEY] == registration and config.rate_per_second == 5
    monkeypatch.setenv("OTHER_SECRET", "another")
    response = admin_client.post(url, _telegram_post(s_webhook_secret_env="OTHER_SECRET"))
    assert response.status_code == 302
    config.refresh_from_db()
    assert REGISTRATION_KEY not in config.settings


# --- health and enable again -------------------------------------------------------------------


def test_a_disabled_channel_shows_why_and_can_be_enabled_again(admin_client, org):
    config = make_channel(org, "console", {"medium": "sms"}, name="SMS")
    config.disabled_at = timezone.now()
    config.disabled_reason = "Twilio: authentication failed (20003)"
    config.save()
    listing = admin_client.get(reverse("channel_settings:list")).content.decode()
    assert "Twilio: authentication failed (20003)" in listing
    assert 'data-testid="enable-again"' in listing
    edit = admin_client.get(reverse("channel_settings:edit", args=[config.pk])).content.decode()
    assert "authentication failed" in edit and 'data-testid="enable-again"' in edit
    response = admin_client.post(
        reverse("channel_settings:enable", args=[config.pk]), {"next": "list"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("channel_settings:list")
    config.refresh_from_db()
    assert config.disabled_at is None and config.disabled_reason == "" and config.enabled
    listing = admin_client.get(reverse("channel_settings:list")).content.decode()
    assert 'data-testid="enable-again"' not in listing
    assert admin_client.get(reverse("channel_settings:enable", args=[config.pk])).status_code == 405


# --- webhook registration ----------------------------------------------------------------------


def _registered_channel(org, fake, monkeypatch) -> ChannelConfig:
    for key, value in fake.env(prefix="ACME_TG").items():
        monkeypatch.setenv(key, value)
    return make_channel(org, "telegram", fake.settings(prefix="ACME_TG"), name="Bot")


def test_register_webhook_runs_in_the_worker_and_shows_the_result(
    admin_client, org, telegram_fake, monkeypatch
):
    from django_tasks_db.models import DBTaskResult

    config = _registered_channel(org, telegram_fake, monkeypatch)
    response = admin_client.post(reverse("channel_settings:register_webhook", args=[config.pk]))
    assert response.status_code == 302
    assert telegram_fake.webhook is None  # nothing is called from the request
    config.refresh_from_db()
    assert config.settings[REGISTRATION_KEY]["status"] == "pending"
    job = DBTaskResult.objects.get(task_path="slotwise.messaging.tasks.channel_configure_webhook")
    assert job.args_kwargs["args"] == [config.pk]
    status_url = reverse("channel_settings:webhook_status", args=[config.pk])
    assert 'data-status="pending"' in admin_client.get(status_url).content.decode()

    assert channel_configure_webhook.call(config.pk) == "registered"
    assert telegram_fake.webhook["url"] == inbound_url(config)
    assert telegram_fake.webhook["secret_token"] == DEFAULT_WEBHOOK_SECRET
    config.refresh_from_db()
    assert config.settings[REGISTRATION_KEY]["status"] == "registered"
    assert config.settings["bot_token_env"] == "ACME_TG_BOT_TOKEN"  # the other settings stay
    status = admin_client.get(status_url).content.decode()
    assert 'data-status="registered"' in status and "hx-get" not in status
    edit = admin_client.get(reverse("channel_settings:edit", args=[config.pk])).content.decode()
    assert 'data-status="registered"' in edit and telegram_fake.token not in edit


def test_a_failed_registration_shows_the_providers_error(
    admin_client, org, telegram_fake, monkeypatch
):
    config = _registered_channel(org, telegram_fake, monkeypatch)
    telegram_fake.fail_next(401, method="setWebhook")
    admin_client.post(reverse("channel_settings:register_webhook", args=[config.pk]))
    assert channel_configure_webhook.call(config.pk) == "failed"
    config.refresh_from_db()
    registration = config.settings[REGISTRATION_KEY]
    assert registration["status"] == "failed" and registration["error"]
    assert telegram_fake.token not in registration["error"]
    edit = admin_client.get(reverse("channel_settings:edit", args=[config.pk])).content.decode()
    assert 'data-status="failed"' in edit


def test_an_unreachable_provider_is_a_failed_registration(admin_client, org, monkeypatch):
    monkeypatch.setenv("ACME_TG_BOT_TOKEN", "1:x")
    monkeypatch.setenv("ACME_TG_WEBHOOK_SECRET", "s3cret")
    config = make_channel(
        org,
        "telegram",
        {
            "api_url": "http://127.0.0.1:9",  # nothing listens there
            "bot_token_env": "ACME_TG_BOT_TOKEN",
            "webhook_secret_env": "ACME_TG_WEBHOOK_SECRET",
        },
    )
    assert channel_configure_webhook.call(config.pk) == "failed"
    config.refresh_from_db()
    assert config.settings[REGISTRATION_KEY]["status"] == "failed"


def test_kinds_without_a_webhook_api_have_no_register_button(admin_client, org, monkeypatch):
    console = make_channel(org, "console", {"medium": "sms"})
    whatsapp = make_channel(org, "whatsapp", {"phone_number_id": "1"}, name="WA")
    for config in (console, whatsapp):
        edit = admin_client.get(reverse("channel_settings:edit", args=[config.pk])).content.decode()
        assert 'data-testid="register-webhook"' not in edit
        assert inbound_url(config) in edit
        url = reverse("channel_settings:register_webhook", args=[config.pk])
        assert admin_client.post(url).status_code == 404
    # WhatsApp with a Business Account id registers through the Graph API.
    whatsapp.settings = {**whatsapp.settings, "waba_id": "102"}
    whatsapp.save()
    edit = admin_client.get(reverse("channel_settings:edit", args=[whatsapp.pk])).content.decode()
    assert 'data-testid="register-webhook"' in edit


def test_the_phone_channel_works_without_settings(admin_client, org):
    """Created on demand for hand-logged calls: nothing is missing until Twilio is half set up."""
    config = make_channel(org, "phone", {}, name="Phone")
    listing = admin_client.get(reverse("channel_settings:list")).content.decode()
    assert "not filled in" not in listing
    url = reverse("channel_settings:edit", args=[config.pk])
    data = {"name": "Phone", "enabled": "on", "rate_per_second": "0", "position": "0"}
    assert admin_client.post(url, data).status_code == 302
    response = admin_client.post(url, {**data, "s_account_sid": "AC123"})
    assert response.status_code == 200
    assert "s_auth_token_env" in response.context["form"].errors
    config.refresh_from_db()
    assert config.settings == {}
