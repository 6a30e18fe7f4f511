import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from slotwise.messaging.channels.base import InboundRequest
from slotwise.messaging.channels.twilio.channel import TwilioSmsChannel
from slotwise.messaging.fakes.twilio import TwilioFake

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
INBOUND_URL = "https://slotwise.example/messaging/inbound/twilio/k3y/"
TOKEN_ENV = "TWILIO_TEST_AUTH_TOKEN"


def fixture_form(name: str) -> dict[str, str]:
    return json.loads((FIXTURES / f"{name}.json").read_text())["form"]


def inbound_request(url: str, body: bytes, headers: dict[str, str], method="POST"):
    """What the inbox view hands the channel: the call as Twilio made it."""
    return InboundRequest(
        method=method,
        body=body,
        headers={k.lower(): v for k, v in headers.items()},
        query=dict(parse_qsl(urlsplit(url).query)),
        url=url,
    )


@pytest.fixture
def twilio_fake():
    with TwilioFake() as fake:
        yield fake


@pytest.fixture
def make_channel(twilio_fake, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, twilio_fake.auth_token)

    def make(cls=TwilioSmsChannel, inbound_url=INBOUND_URL, **overrides):
        settings = {**twilio_fake.settings(TOKEN_ENV), **overrides}
        return cls(settings=settings, inbound_url=inbound_url, organisation_id=1)

    return make


@pytest.fixture
def channel(make_channel):
    return make_channel()


@pytest.fixture
def to_channel(twilio_fake, channel):
    """Route the fake's webhooks straight into channel.parse_inbound; results are collected."""
    results = []

    def deliver(url, body, headers):
        results.append(channel.parse_inbound(inbound_request(url, body, headers)))
        return 200

    twilio_fake.deliver = deliver
    return results
