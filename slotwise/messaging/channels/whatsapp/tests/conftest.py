"""The Meta Graph API fake and a WhatsApp channel pointed at it (secrets in the environment)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from slotwise.messaging.channels.base import InboundRequest
from slotwise.messaging.channels.whatsapp.channel import WhatsAppChannel
from slotwise.messaging.fakes.meta import MetaFake, sign

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture(name: str, *, timestamp: float | None = None) -> dict:
    """A recorded-shape payload with its timestamps set to `timestamp` (default now): a real
    capture would be stale by now."""
    payload = json.loads((FIXTURES / name).read_text())
    when = str(int(time.time() if timestamp is None else timestamp))
    for entry in payload["entry"]:
        for change in entry["changes"]:
            for item in change["value"].get("messages", []) + change["value"].get("statuses", []):
                item["timestamp"] = when
    return payload


def body(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def signed_request(
    payload: dict | bytes, *, secret: str = "", signature: str | None = None
) -> InboundRequest:
    raw = payload if isinstance(payload, bytes) else body(payload)
    headers = {"content-type": "application/json"}
    if signature is None:
        signature = sign(raw, secret or MetaFake().app_secret)
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
def whatsapp(meta) -> WhatsAppChannel:
    return WhatsAppChannel(settings=meta.whatsapp_settings())
