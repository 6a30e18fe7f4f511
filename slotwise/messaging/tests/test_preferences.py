"""S3.13: the customer chooses how to be notified, among the channels the organisation has."""

import pytest

from slotwise.customers.models import Identity
from slotwise.messaging.testing import make_channel
from slotwise.tests_factories import ContactFactory, OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/messaging/preferences/"


@pytest.fixture
def customer(client):
    org = OrganisationFactory()
    user = UserFactory()
    contact = ContactFactory(
        organisation=org, user=user, phone="+31612345678", email="", preferred_channel="sms"
    )
    client.force_login(user)
    return contact


def test_offers_only_the_organisations_channels(client, customer):
    page = client.get(URL).content.decode()
    assert 'value="sms"' in page and 'value="email"' in page
    assert 'value="telegram"' not in page
    make_channel(customer.organisation, "console", {"medium": "telegram"})
    assert 'value="telegram"' in client.get(URL).content.decode()


def test_choosing_a_channel_without_an_address_is_a_field_error(client, customer):
    make_channel(customer.organisation, "console", {"medium": "telegram"})
    response = client.post(URL, {"channel": "telegram"})
    assert response.status_code == 200
    assert 'data-field="channel"' in response.content.decode()
    customer.refresh_from_db()
    assert customer.preferred_channel == "sms"  # nothing changed
    response = client.post(URL, {"channel": "email"})
    assert "e-mail address" in response.content.decode()


def test_saving_a_reachable_channel(client, customer):
    make_channel(customer.organisation, "console", {"medium": "telegram"})
    Identity.objects.create(
        organisation=customer.organisation, contact=customer, kind="telegram", external_id="42"
    )
    response = client.post(URL, {"channel": "telegram"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.preferred_channel == "telegram"
    assert customer.timeline.filter(kind="contact.preferred_channel").exists()


def test_staff_without_contact_get_404(client):
    client.force_login(UserFactory())
    assert client.get(URL).status_code == 404


def test_anonymous_is_sent_to_login(client):
    assert client.get(URL).status_code == 302
