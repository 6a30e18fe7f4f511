"""The inbound webhooks through the real ASGI application (slotwise.asgi): they skip the
middleware chain (messaging/fastpath.py) but are authenticated, stored once, host-checked and
redirected to HTTPS exactly as on the full path."""

import asyncio
import json
from urllib.parse import urlencode

import pytest

from slotwise.core.testing import asgi_http as _call
from slotwise.messaging.channels.console.channel import ConsoleChannel
from slotwise.messaging.fakes.twilio import TwilioFake
from slotwise.messaging.fastpath import inbound_match
from slotwise.messaging.models import InboundEvent
from slotwise.messaging.testing import inbound_path, make_channel
from slotwise.tests_factories import OrganisationFactory

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "console-secret"


@pytest.fixture
def console(monkeypatch, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.SECURE_SSL_REDIRECT = False
    monkeypatch.setenv("CONSOLE_SECRET", SECRET)
    org = OrganisationFactory(country="SE")
    return make_channel(org, "console", {"medium": "telegram", "secret_env": "CONSOLE_SECRET"})


def _post(config, payload, *, secret=SECRET, **kwargs):
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"x-console-signature", ConsoleChannel.sign(body, secret).encode()),
    ]
    return asyncio.run(_call("POST", inbound_path(config), headers, body, **kwargs))


def test_webhook_is_stored_once_without_the_middleware_chain(console):
    payload = {"from": "4711", "text": "Hello", "id": "m1"}
    status, headers, _body = _post(console, payload)
    assert status == 200
    assert b"X-Frame-Options" not in headers  # the chain did not run
    assert _post(console, payload)[0] == 200  # a replay
    assert InboundEvent.objects.filter(channel=console).count() == 1
    # A forgery is refused and writes nothing.
    assert _post(console, {"from": "1", "id": "m2"}, secret="wrong")[0] == 403
    assert InboundEvent.objects.filter(channel=console).count() == 1
    # Other pages still go through the chain.
    status, headers, _body = asyncio.run(_call("GET", "/healthz"))
    assert headers.get(b"X-Frame-Options") == b"DENY"


def test_unknown_host_and_unknown_key(console):
    status, _h, _b = _post(console, {"from": "1", "id": "m1"}, host=b"evil.example")
    assert status == 400
    console.inbound_key = "nope"
    assert _post(console, {"from": "1", "id": "m1"})[0] == 404
    assert InboundEvent.objects.count() == 0


def test_disabled_channel_is_refused_at_once(console):
    assert _post(console, {"from": "1", "id": "m1"})[0] == 200
    console.enabled = False
    console.save(update_fields=["enabled"])  # clears this process's cache of channels
    assert _post(console, {"from": "1", "id": "m2"})[0] == 404
    assert InboundEvent.objects.count() == 1


def test_https_redirect_is_kept(console, settings):
    """With SECURE_SSL_REDIRECT a plain-HTTP call is left to the full chain (whose
    SecurityMiddleware redirects it; it reads the setting once, when the chain is built)."""
    settings.SECURE_SSL_REDIRECT = True
    scope = {"type": "http", "method": "POST", "path": inbound_path(console), "headers": []}
    assert inbound_match({**scope, "scheme": "http"}) is None
    assert inbound_match({**scope, "scheme": "https"}) is not None
    forwarded = [(b"x-forwarded-proto", b"https")]
    assert inbound_match({**scope, "scheme": "http", "headers": forwarded}) is not None
    # Behind the TLS proxy (X-Forwarded-Proto) the call is served by the lean path.
    body = json.dumps({"from": "1", "id": "m1"}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"x-forwarded-proto", b"https"),
        (b"x-console-signature", ConsoleChannel.sign(body, SECRET).encode()),
    ]
    status, _h, _b = asyncio.run(_call("POST", inbound_path(console), headers, body))
    assert status == 200
    assert InboundEvent.objects.count() == 1


def test_twilio_signature_over_the_url_as_called(monkeypatch, settings):
    """Twilio signs the URL it called: the lean path rebuilds it as the full one does."""
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.SECURE_SSL_REDIRECT = False
    fake = TwilioFake()
    monkeypatch.setenv("TWILIO_FAKE_AUTH_TOKEN", fake.auth_token)
    config = make_channel(OrganisationFactory(country="SE"), "twilio", fake.settings())
    path = inbound_path(config)
    params = fake.inbound_sms_params(from_="+46701234567", body="Hej")
    body = urlencode(params).encode()

    def call(signature: str):
        headers = [
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"x-twilio-signature", signature.encode()),
        ]
        return asyncio.run(_call("POST", path, headers, body))

    assert call(fake.sign("http://testserver" + path, params))[0] == 200
    assert call(fake.sign("http://elsewhere" + path, params))[0] == 403
    assert InboundEvent.objects.filter(channel=config).count() == 1
