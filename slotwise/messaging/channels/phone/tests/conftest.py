import pytest

from slotwise.messaging.channels.phone.channel import PhoneChannel
from slotwise.messaging.fakes.twilio import TwilioFake

INBOUND_URL = "https://slotwise.example/messaging/inbound/phone/ph0ne/"
TOKEN_ENV = "TWILIO_PHONE_TEST_TOKEN"


@pytest.fixture
def twilio_fake():
    with TwilioFake() as fake:
        yield fake


@pytest.fixture
def channel(twilio_fake, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, twilio_fake.auth_token)
    settings = twilio_fake.settings(TOKEN_ENV)
    settings.pop("from_number")
    return PhoneChannel(settings=settings, inbound_url=INBOUND_URL, organisation_id=1)
