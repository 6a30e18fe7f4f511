"""The Telegram fake on 127.0.0.1 and a channel pointed at it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slotwise.messaging.channels.base import InboundRequest
from slotwise.messaging.channels.telegram.channel import TelegramChannel
from slotwise.messaging.fakes.telegram import DEFAULT_WEBHOOK_SECRET, TelegramFake

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture(name: str, **message_changes) -> dict:
    """A recorded-shape update, its message (or callback's message) dated now by default."""
    import time

    update = json.loads((FIXTURES / f"{name}.json").read_text())
    message = update.get("message") or update.get("callback_query", {}).get("message")
    if message is not None:
        message["date"] = int(time.time())
        message.update(message_changes)
    return update


@pytest.fixture
def telegram_fake():
    with TelegramFake() as fake:
        yield fake


@pytest.fixture
def telegram_env(telegram_fake, monkeypatch):
    for key, value in telegram_fake.env().items():
        monkeypatch.setenv(key, value)
    return telegram_fake.env()


@pytest.fixture
def channel(telegram_fake, telegram_env) -> TelegramChannel:
    return TelegramChannel(settings=telegram_fake.settings())


def request_for(body: bytes | dict, headers: dict | None = None) -> InboundRequest:
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    if headers is None:
        headers = {"x-telegram-bot-api-secret-token": DEFAULT_WEBHOOK_SECRET}
    return InboundRequest(
        method="POST",
        body=body,
        headers={k.lower(): v for k, v in headers.items()},
        query={},
        url="https://example.test/messaging/inbound/telegram/key/",
    )
