"""Calls through the whole pipeline: Twilio Voice status callbacks posted to the inbound view
become call entries on the contact's conversation."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest

from slotwise.messaging.channels.twilio import api
from slotwise.messaging.inbound import inbound_url
from slotwise.messaging.models import InboundEvent, Message, MessageKind
from slotwise.messaging.testing import make_channel, process_inbound
from slotwise.tests_factories import ContactFactory, OrganisationFactory

from .conftest import TOKEN_ENV
from .test_channel import fixture_form

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def site(settings):
    settings.SITE_URL = "http://testserver"


@pytest.fixture
def org():
    return OrganisationFactory(country="SE", time_zone="Europe/Stockholm")


@pytest.fixture
def config(org, twilio_fake, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, twilio_fake.auth_token)
    settings = twilio_fake.settings(TOKEN_ENV)
    settings.pop("from_number")
    return make_channel(org, "phone", settings, name="Phone")


def post(client, config, form, *, token):
    url = inbound_url(config)
    signature = api.compute_signature(url, form, token)
    return client.generic(
        "POST",
        urlsplit(url).path,
        urlencode(form).encode(),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


def counts():
    return InboundEvent.objects.count(), Message.objects.count()


def test_completed_call_lands_on_the_known_contact(client, config, twilio_fake, org):
    contact = ContactFactory(organisation=org, phone="+46701234567")
    response = post(client, config, fixture_form("voice_completed"), token=twilio_fake.auth_token)
    assert response.status_code == 200
    process_inbound()
    call = Message.objects.get()
    assert call.contact == contact
    assert call.kind == MessageKind.CALL and call.direction == "in"
    assert call.body == "Incoming call, answered, 3 min 12 s"
    assert call.data["duration_s"] == 192 and call.data["status"] == "completed"
    assert call.conversation.unread_count == 0  # a call is on the timeline, not unread mail


def test_unanswered_outbound_call_is_logged_as_ours(client, config, twilio_fake):
    post(client, config, fixture_form("voice_no_answer"), token=twilio_fake.auth_token)
    process_inbound()
    call = Message.objects.get()
    assert call.direction == "out" and call.kind == MessageKind.CALL
    assert call.contact.phone == "+46701234567"
    assert call.data["status"] == "no-answer"


def test_progress_callbacks_write_nothing(client, config, twilio_fake):
    form = {**fixture_form("voice_completed"), "CallStatus": "ringing"}
    assert post(client, config, form, token=twilio_fake.auth_token).status_code == 200
    process_inbound()
    assert counts() == (0, 0)


def test_bad_signature_and_replay(client, config, twilio_fake):
    form = fixture_form("voice_completed")
    assert post(client, config, form, token="forged").status_code == 403
    assert counts() == (0, 0)
    post(client, config, form, token=twilio_fake.auth_token)
    post(client, config, form, token=twilio_fake.auth_token)
    process_inbound()
    assert counts() == (1, 1)
