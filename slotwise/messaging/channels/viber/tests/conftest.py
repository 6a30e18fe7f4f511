"""The Viber fake on 127.0.0.1 and a channel pointed at it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from slotwise.messaging.channels.base import InboundRequest
from slotwise.messaging.channels.viber.channel import ViberChannel
from slotwise.messaging.fakes.viber import DEFAULT_AUTH_TOKEN, ViberFake, sign

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
USER = "01234567890A="


def fixture(name: str, **changes) -> dict:
    """A recorded-shape callback, timestamped now by default."""
    event = json.loads((FIXTURES / f"{name}.json").read_text())
    event["timestamp"] = int(time.time() * 1000)
    event.update(changes)
    return event


def signed(event: dict | bytes, token: str = DEFAULT_AUTH_TOKEN) -> tuple[bytes, dict]:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return body, {"X-Viber-Content-Signature": sign(body, token)}


@pytest.fixture
def viber_fake():
    with ViberFake() as fake:
        yield fake


@pytest.fixture
def viber_env(viber_fake, monkeypatch):
    for key, value in viber_fake.env().items():
        monkeypatch.setenv(key, value)
    return viber_fake.env()


@pytest.fixture
def channel(viber_fake, viber_env) -> ViberChannel:
    return ViberChannel(settings=viber_fake.settings())


@pytest.fixture
def ready(viber_fake):
    """A webhook registered and USER subscribed: what sending needs at Viber."""
    viber_fake.set_webhook_url("https://slotwise.example/messaging/inbound/viber/abc/")
    viber_fake.subscribed.add(USER)
    return viber_fake


def request_for(body: bytes | dict, headers: dict | None = None) -> InboundRequest:
    if isinstance(body, dict):
        body, default_headers = signed(body)
        headers = default_headers if headers is None else headers
    return InboundRequest(
        method="POST",
        body=body,
        headers={k.lower(): v for k, v in (headers or {}).items()},
        query={},
        url="https://example.test/messaging/inbound/viber/key/",
    )
