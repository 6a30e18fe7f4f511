"""The Twilio fake itself: what the outbox benchmark and the crash tests rely on."""

import base64
import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import httpx

from slotwise.messaging.channels.base import OutgoingMessage
from slotwise.messaging.channels.twilio import api


def auth(fake):
    return (fake.account_sid, fake.auth_token)


def test_concurrent_sends_are_counted_once_per_key(channel, twilio_fake):
    keys = [f"key-{i % 20}" for i in range(80)]  # every key sent 4 times, from 16 threads
    with ThreadPoolExecutor(16) as pool:
        sids = list(
            pool.map(
                lambda k: (
                    channel.send(
                        OutgoingMessage(to="+46701234567", text=k, idempotency_key=k)
                    ).external_id
                ),
                keys,
            )
        )
    assert len(set(sids)) == 20
    assert twilio_fake.delivered_count() == 20
    assert twilio_fake.deliveries_by_key() == {f"key-{i}": 1 for i in range(20)}
    assert sum(twilio_fake.attempts_by_key().values()) == 80


def test_messages_without_a_token_are_all_delivered(twilio_fake):
    url = api.messages_url(twilio_fake.url, twilio_fake.account_sid)
    form = {"To": "+46701234567", "From": twilio_fake.settings()["from_number"], "Body": "x"}
    for _ in range(3):
        assert httpx.post(url, data=form, auth=auth(twilio_fake)).status_code == 201
    assert twilio_fake.deliveries_by_key() == {"": 3}


def test_get_message_and_wrong_account(twilio_fake):
    url = api.messages_url(twilio_fake.url, twilio_fake.account_sid)
    form = {"To": "+46701234567", "From": twilio_fake.settings()["from_number"], "Body": "x"}
    sid = httpx.post(url, data=form, auth=auth(twilio_fake)).json()["sid"]
    got = httpx.get(url.replace(".json", f"/{sid}.json"), auth=auth(twilio_fake))
    assert got.status_code == 200 and got.json()["sid"] == sid
    other = api.messages_url(twilio_fake.url, "AC" + "0" * 32)
    answer = httpx.post(other, data=form, auth=auth(twilio_fake))
    assert answer.status_code == 404 and answer.json()["code"] == 20404


def test_validation_errors_have_twilios_shape(twilio_fake):
    url = api.messages_url(twilio_fake.url, twilio_fake.account_sid)
    cases = [
        ({"From": "+15005550006", "Body": "x"}, 21604),
        ({"To": "+46701234567", "Body": "x"}, 21603),
        ({"To": "+46701234567", "From": "+15005550006"}, 21602),
        ({"To": "+46701234567", "From": "+15005550006", "Body": "x" * 1601}, 21617),
        ({"To": "+46701234567", "From": "+15005550006", "MediaUrl": "ftp://x/y"}, 21620),
    ]
    for form, code in cases:
        answer = httpx.post(url, data=form, auth=auth(twilio_fake))
        payload = answer.json()
        assert answer.status_code == 400 and payload["code"] == code
        assert payload["more_info"].endswith(str(code)) and payload["status"] == 400


def test_media_needs_auth_and_redirects_to_the_cdn(twilio_fake):
    url = twilio_fake.add_media(b"GIF89a", "image/gif")
    assert httpx.get(url).status_code == 401
    answer = httpx.get(url, auth=auth(twilio_fake))
    assert answer.status_code == 302 and "/__cdn__/" in answer.headers["Location"]
    assert httpx.get(url, auth=auth(twilio_fake), follow_redirects=True).content == b"GIF89a"


def test_callbacks_over_http_are_signed(twilio_fake):
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook/?event=status"
        record = twilio_fake.send_inbound_sms(url, from_="+46701234567", body="Hej")
        assert record["status"] == 204
    finally:
        server.shutdown()
        server.server_close()
    [(path, headers, body)] = received
    assert path == "/hook/?event=status"
    params = dict(api.form_pairs(body))
    assert params["Body"] == "Hej" and params["From"] == "+46701234567"
    assert api.signature_valid(url, params, headers["X-Twilio-Signature"], twilio_fake.auth_token)


def test_control_endpoints(twilio_fake):
    delivered = []
    twilio_fake.webhook_url = "http://slotwise.example/in/sms/"
    twilio_fake.voice_webhook_url = "http://slotwise.example/in/phone/"
    twilio_fake.deliver = lambda url, body, headers: delivered.append((url, body)) or 200
    request = urllib.request.Request(
        f"{twilio_fake.url}/__fake__/sms", data=urlencode({"Body": "Hi"}).encode(), method="POST"
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        assert json.loads(response.read())["status"] == 200
    request = urllib.request.Request(
        f"{twilio_fake.url}/__fake__/calls",
        data=urlencode({"CallStatus": "busy"}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        assert json.loads(response.read())["sid"].startswith("CA")
    assert [url for url, _ in delivered] == [twilio_fake.webhook_url, twilio_fake.voice_webhook_url]
    with urllib.request.urlopen(f"{twilio_fake.url}/__fake__/messages") as response:  # noqa: S310
        assert json.loads(response.read()) == []


def test_basic_auth_header_shape(twilio_fake):
    token = base64.b64encode(f"{twilio_fake.account_sid}:wrong".encode()).decode()
    answer = httpx.post(
        api.messages_url(twilio_fake.url, twilio_fake.account_sid),
        headers={"Authorization": f"Basic {token}"},
        data={"To": "+46701234567"},
    )
    assert answer.status_code == 401 and answer.json()["code"] == 20003
