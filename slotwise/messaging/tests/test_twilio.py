import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from slotwise.messaging.models import Message
from slotwise.messaging.services import message_deliver, sms_queue
from slotwise.messaging.sms import SmsError, sms_providers
from slotwise.messaging.sms.console import ConsoleSmsProvider
from slotwise.messaging.sms.twilio import TwilioSmsProvider

SID = "AC00000000000000000000000000000001"
TOKEN = "secret-token"


class FakeTwilio:
    """A local stand-in for POST /2010-04-01/Accounts/{sid}/Messages.json."""

    def __init__(self):
        self.requests: list[dict] = []
        self.reply: tuple[int, dict] = (201, {"sid": "SM0123456789abcdef", "status": "queued"})
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length).decode()
                expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
                fake.requests.append(
                    {
                        "path": self.path,
                        "form": {k: v[0] for k, v in parse_qs(raw).items()},
                        "content_type": self.headers.get("Content-Type", ""),
                        "idempotency": self.headers.get("I-Twilio-Idempotency-Token"),
                    }
                )
                if self.headers.get("Authorization") != expected:
                    status, payload = 401, {"code": 20003, "message": "Authenticate"}
                elif self.path != f"/2010-04-01/Accounts/{SID}/Messages.json":
                    status, payload = 404, {"code": 20404, "message": "Not found"}
                else:
                    status, payload = fake.reply
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def twilio():
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def provider(twilio, settings):
    settings.TWILIO_ACCOUNT_SID = SID
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_FROM = "+15005550006"
    settings.TWILIO_API_URL = twilio.url
    return sms_providers.create("twilio")


def test_registry_builds_twilio_provider(provider):
    assert isinstance(provider, TwilioSmsProvider)


def test_send_posts_form_with_auth_and_idempotency(provider, twilio):
    result = provider.send(to="+46701234567", body="Hej å ä ö", idempotency_key="key-1")
    assert result.provider_message_id == "SM0123456789abcdef"
    [request] = twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request["content_type"].startswith("application/x-www-form-urlencoded")
    assert request["form"] == {"To": "+46701234567", "From": "+15005550006", "Body": "Hej å ä ö"}
    assert request["idempotency"] == "key-1"


def test_wrong_credentials_are_permanent(twilio, settings):
    provider = TwilioSmsProvider(
        account_sid=SID, auth_token="wrong", from_="+15005550006", api_url=twilio.url
    )
    with pytest.raises(SmsError) as exc:
        provider.send(to="+46701234567", body="x", idempotency_key="k")
    assert exc.value.permanent


def test_400_is_permanent_with_twilio_message(provider, twilio):
    twilio.reply = (400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400})
    with pytest.raises(SmsError) as exc:
        provider.send(to="+1", body="x", idempotency_key="k")
    assert exc.value.permanent is True
    assert "Invalid 'To' Phone Number" in str(exc.value)
    assert "21211" in str(exc.value)


def test_503_is_transient(provider, twilio):
    twilio.reply = (503, {"message": "Service Unavailable"})
    with pytest.raises(SmsError) as exc:
        provider.send(to="+46701234567", body="x", idempotency_key="k")
    assert exc.value.permanent is False


def test_unreachable_is_transient(settings):
    provider = TwilioSmsProvider(
        account_sid=SID, auth_token=TOKEN, from_="+15005550006", api_url="http://127.0.0.1:9"
    )
    with pytest.raises(SmsError) as exc:
        provider.send(to="+46701234567", body="x", idempotency_key="k")
    assert exc.value.permanent is False


def test_missing_configuration_is_permanent(settings):
    settings.TWILIO_ACCOUNT_SID = ""
    with pytest.raises(SmsError) as exc:
        TwilioSmsProvider().send(to="+46701234567", body="x", idempotency_key="k")
    assert exc.value.permanent is True


@pytest.mark.django_db
def test_message_deliver_console_marks_sent_once(settings, monkeypatch):
    settings.SMS_PROVIDER = "console"
    sent = []
    original = ConsoleSmsProvider.send

    def counting_send(self, **kwargs):
        sent.append(kwargs)
        return original(self, **kwargs)

    monkeypatch.setattr(ConsoleSmsProvider, "send", counting_send)
    message = sms_queue(to="+46701234567", body="Hello", purpose="test")
    assert message.status == Message.Status.QUEUED
    delivered = message_deliver(message_id=message.pk)
    assert delivered.status == Message.Status.SENT
    assert delivered.sent_at is not None
    assert delivered.provider_message_id == f"console-{message.idempotency_key}"
    assert sent[0]["idempotency_key"] == str(message.idempotency_key)
    again = message_deliver(message_id=message.pk)
    assert again.status == Message.Status.SENT
    assert len(sent) == 1
    message.refresh_from_db()
    assert message.attempts == 1


@pytest.mark.django_db
def test_message_deliver_twilio_permanent_failure_marks_failed(provider, twilio, settings):
    settings.SMS_PROVIDER = "twilio"
    twilio.reply = (400, {"code": 21211, "message": "Invalid 'To' Phone Number"})
    message = sms_queue(to="+46701234567", body="Hello", purpose="test")
    result = message_deliver(message_id=message.pk)
    assert result.status == Message.Status.FAILED
    assert "Invalid 'To' Phone Number" in result.last_error
    assert twilio.requests[0]["idempotency"] == str(message.idempotency_key)


@pytest.mark.django_db
def test_message_deliver_twilio_transient_failure_stays_pending(provider, twilio, settings):
    settings.SMS_PROVIDER = "twilio"
    twilio.reply = (503, {"message": "Service Unavailable"})
    message = sms_queue(to="+46701234567", body="Hello", purpose="test")
    message_deliver(message_id=message.pk)  # recorded, and retried later with back-off
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.attempts == 1
    assert message.next_attempt_at > message.created_at
    assert "503" in message.last_error
