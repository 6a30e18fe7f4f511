"""Payment methods settings: org admins only, secrets named not stored, field-level errors."""

import pytest
from django.urls import reverse

from slotwise.org.roles import Role
from slotwise.payments.models import ProviderConfig
from slotwise.tests_factories import OrganisationFactory, StaffFactory, make_unit

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, org):
    admin = StaffFactory(unit=make_unit(org, "HQ"), roles=[Role.ORG_ADMIN])
    client.force_login(admin.user)
    return client


def test_enable_stripe_with_env_var_names(admin_client, org, monkeypatch):
    monkeypatch.setenv("STRIPE_KEY_T", "sk_test_x")
    monkeypatch.setenv("STRIPE_WH_T", "whsec_x")
    url = reverse("payments:provider_edit", args=["stripe"])
    response = admin_client.post(
        url,
        {
            "enabled": "on",
            "name": "Card",
            "position": "1",
            "s_secret_key_env": "STRIPE_KEY_T",
            "s_webhook_secret_env": "STRIPE_WH_T",
            "extra": '{"api_base": "http://127.0.0.1:9"}',
        },
    )
    assert response.status_code == 302
    config = ProviderConfig.objects.get(organisation=org, provider="stripe")
    assert config.enabled and config.name == "Card"
    assert config.settings == {
        "api_base": "http://127.0.0.1:9",
        "secret_key_env": "STRIPE_KEY_T",
        "webhook_secret_env": "STRIPE_WH_T",
    }
    assert "sk_test_x" not in str(config.settings)
    listing = admin_client.get(reverse("payments:providers"))
    assert b"Card" in listing.content


def test_unset_env_var_and_bad_json_are_field_errors(admin_client, org):
    url = reverse("payments:provider_edit", args=["stripe"])
    response = admin_client.post(
        url,
        {"enabled": "on", "position": "0", "s_secret_key_env": "NOPE_NOT_SET", "extra": "[1]"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "extra" in form.errors
    response = admin_client.post(
        url, {"enabled": "on", "position": "0", "s_secret_key_env": "NOPE_NOT_SET"}
    )
    form = response.context["form"]
    assert "s_secret_key_env" in form.errors and "s_webhook_secret_env" in form.errors
    assert not ProviderConfig.objects.filter(organisation=org, provider="stripe").exists()


def test_disabled_provider_may_be_incomplete(admin_client, org):
    url = reverse("payments:provider_edit", args=["swish"])
    response = admin_client.post(url, {"position": "0"})
    assert response.status_code == 302
    assert not ProviderConfig.objects.get(organisation=org, provider="swish").enabled


def test_only_org_admins(client, org):
    manager = StaffFactory(unit=make_unit(org, "Branch"), roles=[Role.MANAGER])
    client.force_login(manager.user)
    assert client.get(reverse("payments:providers")).status_code == 403
    assert client.get(reverse("payments:provider_edit", args=["test"])).status_code == 403


def test_admin_edits_only_their_own_organisation(admin_client, org):
    other = OrganisationFactory()
    ProviderConfig.objects.create(organisation=other, provider="test", name="Theirs")
    admin_client.post(
        reverse("payments:provider_edit", args=["test"]),
        {"enabled": "on", "name": "Ours", "position": "0"},
    )
    assert ProviderConfig.objects.get(organisation=other).name == "Theirs"
    assert ProviderConfig.objects.get(organisation=org).name == "Ours"
    assert admin_client.get(reverse("payments:provider_edit", args=["nope"])).status_code == 404
