"""The Meta Graph API fake and an Instagram channel pointed at it (secrets in the environment)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from slotwise.messaging.channels.base import InboundRequest
from slotwise.messaging.channels.instagram.channel import InstagramChannel
from slotwise.messaging.fakes.meta import DEFAULT_APP_SECRET, MetaFake, sign

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture(name: str, *, timestamp: float | None = None, url: str = "") -> dict:
    """A recorded-shape payload with its timestamps (milliseconds) set to `timestamp` (default
    now) and, with `url`, its attachments pointing there."""
    payload = json.loads((FIXTURES / name).read_text())
    when = int((time.time() if timestamp is None else timestamp) * 1000)
    for entry in payload["entry"]:
        entry["time"] = when
        for item in entry["messaging"]:
            item["timestamp"] = when
            for attachment in item.get("message", {}).get("attachments", []):
                if url:
                    attachment["payload"]["url"] = url
    return payload


def body(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def signed_request(
    payload: dict | bytes, *, secret: str = DEFAULT_APP_SECRET, signature: str | None = None
) -> InboundRequest:
    raw = payload if isinstance(payload, bytes) else body(payload)
    headers = {"content-type": "application/json"}
    signature = sign(raw, secret) if signature is None else signature
    if signature:
        headers["x-hub-signature-256"] = signature
    return InboundRequest(
        method="POST", body=raw, headers=headers, query={}, url="http://testserver/x/"
    )


@pytest.fixture
def meta(monkeypatch):
    fake = MetaFake().start()
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    yield fake
    fake.stop()


@pytest.fixture
def instagram(meta) -> InstagramChannel:
    return InstagramChannel(settings=meta.instagram_settings())
