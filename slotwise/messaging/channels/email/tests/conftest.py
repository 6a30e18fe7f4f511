import json
import socket
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from slotwise.messaging.channels.email import mailgun
from slotwise.messaging.channels.email.channel import EmailChannel

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SIGNING_KEY = "key-mailgun-test-signing-key"
SIGNING_ENV = "MAILGUN_TEST_SIGNING_KEY"
PASSWORD_ENV = "SMTP_TEST_PASSWORD"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def signed_fields(fields: dict, *, key: str = SIGNING_KEY, age: int = 0, token: str = "") -> dict:
    """The fixture's fields with a fresh timestamp, token and signature, as Mailgun sends them."""
    timestamp = str(int(time.time()) - age)
    token = token or fields.get("token") or "0123456789abcdef0123456789abcdef0123456789abcdef01"
    return {
        **fields,
        "timestamp": timestamp,
        "token": token,
        "signature": mailgun.sign(key, timestamp, token),
    }


class SmtpCollector:
    """An aiosmtpd handler that keeps what it receives; `refuse` recipients get 550, `data_reply`
    (e.g. "554 5.7.1 Spam") answers DATA instead of accepting."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse: set[str] = set()
        self.data_reply: str | None = None
        self.port = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.data_reply:
            return self.data_reply
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"slotwise" and auth_data.password == b"right-password"
    return AuthResult(success=ok, handled=False)  # aiosmtpd answers 535 itself


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that requires AUTH (plain text allowed)."""
    collector = SmtpCollector()
    collector.port = free_port()
    controller = Controller(
        collector,
        hostname="127.0.0.1",
        port=collector.port,
        auth_require_tls=False,
        authenticator=_authenticator,
    )
    controller.start()
    yield collector
    controller.stop()


@pytest.fixture
def make_channel(monkeypatch, smtp_server):
    monkeypatch.setenv(PASSWORD_ENV, "right-password")
    monkeypatch.setenv(SIGNING_ENV, SIGNING_KEY)

    def make(**overrides):
        settings = {
            "from_address": "Salon Lina <hello@salon.example>",
            "host": "127.0.0.1",
            "port": str(smtp_server.port),
            "username": "slotwise",
            "password_env": PASSWORD_ENV,
            "webhook_signing_key_env": SIGNING_ENV,
            **overrides,
        }
        return EmailChannel(settings=settings, inbound_url="", organisation_id=1)

    return make


@pytest.fixture
def channel(make_channel):
    return make_channel()
