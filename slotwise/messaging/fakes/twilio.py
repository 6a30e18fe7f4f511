"""A local fake of Twilio's REST API (Messages) and of Twilio's webhooks, for tests, benchmarks
and the demo.

A ThreadingHTTPServer on 127.0.0.1 that speaks what the adapters use, with Twilio's documented
shapes (API version 2010-04-01, form-encoded requests, JSON answers, HTTP basic auth with the
Account SID and auth token):

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` — To, From or MessagingServiceSid,
  Body, MediaUrl (repeatable, up to 10), StatusCallback. 201 with the message resource
  (``sid`` "SM…", ``status`` "queued" — "accepted" through a Messaging Service). The header
  ``I-Twilio-Idempotency-Token``: the same token again answers the same resource and the message
  is NOT delivered twice. Errors as Twilio sends them, ``{"code", "message", "more_info",
  "status"}``: 401/20003 bad credentials, 404/20404 another account's path, 400/21604 no To,
  21211 invalid To, 21603 no From, 21606 From not one of the account's numbers, 21602 no Body
  and no media, 21617 body over 1600 characters, 21620 bad media URL, 21623 too many media,
  21610 recipient unsubscribed (``fake.unsubscribed``), 21614 not a mobile number
  (``fake.landlines``); ``fake.fail(status, code, message, times)`` injects errors (429/20429,
  500, 401 …) for the next calls.
- ``GET /2010-04-01/Accounts/{AccountSid}/Messages/{sid}.json`` — the resource.
- ``GET /2010-04-01/Accounts/{AccountSid}/Messages/{MM}/Media/{ME}`` — basic auth, then a 302
  to ``/__cdn__/{ME}`` that serves the bytes (as Twilio redirects to its CDN).

Status callbacks: when a message has a StatusCallback, ``fake.set_status(sid, "delivered")``
(or ``advance(sid)``: sent, then delivered; ``auto_status=True`` does that at once in a thread
for every new message) POSTs MessageSid/MessageStatus/… to it, signed with
``X-Twilio-Signature`` under the auth token. Posting goes through ``deliver(url, body, headers)
-> status`` when set (a test can hand it to Django's test client), else over HTTP.

Being the customer: ``send_inbound_sms(url, from_=…, body=…, media=[(bytes, type)])`` posts a
signed incoming-message webhook (media are stored here, so MediaUrl0 resolves);
``send_voice_status(url, from_=…, status="completed", duration=…)`` a Voice status callback.

Counters for the outbox benchmark and crash tests: ``delivered_count()`` (messages accepted,
replays not counted), ``deliveries_by_key()`` (idempotency token → deliveries, always 1 per
token here; sends without a token count under ""), ``attempts_by_key()`` (POSTs per token,
replays included).

Command line (the demo)::

    python -m slotwise.messaging.fakes.twilio --port 8025 \\
        --webhook-url http://127.0.0.1:8000/messaging/inbound/twilio/<key>/ \\
        [--voice-webhook-url http://127.0.0.1:8000/messaging/inbound/phone/<key>/]

prints the channel settings and serves until interrupted; status callbacks go out at once.
Control endpoints: ``POST /__fake__/sms`` (form From, Body) — a customer texts us;
``POST /__fake__/calls`` (form From, CallStatus, CallDuration, Direction) — a call ends;
``GET /__fake__/messages`` — what we sent, as JSON.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import socket
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from slotwise.messaging.channels.twilio.api import compute_signature

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "5107" * 8
DEFAULT_AUTH_TOKEN = "twilio-fake-auth-token"
DEFAULT_FROM = "+15005550006"
DEFAULT_SERVICE_SID = "MG" + "5107" * 8
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_MESSAGE_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages(?:/([^/]+?))?(\.json)?$")
_MEDIA_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)/Media/([^/.]+)$")
FORM = "application/x-www-form-urlencoded"


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, fake: TwilioFake) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK cost 40 ms per keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        if self.server.fake.verbose:
            sys.stderr.write("twilio-fake: " + (format % args) + "\n")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        payload: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        body = (
            raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        )
        self.send_response(status)
        if body:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _authorised(self) -> bool:
        fake = self.server.fake
        expected = (
            "Basic " + base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
        )
        return self.headers.get("Authorization") == expected

    def do_GET(self) -> None:  # noqa: N802
        fake = self.server.fake
        path = urlsplit(self.path).path
        if path.startswith("/__cdn__/"):
            media = fake.media.get(path[len("/__cdn__/") :])
            if media is None:
                return self._send(404)
            return self._send(200, raw=media[0], content_type=media[1])
        if path == "/__fake__/messages":
            with fake._lock:
                return self._send(200, list(fake.messages.values()))
        if not self._authorised():
            return self._send(*_error(401, 20003, "Authenticate"))
        match = _MEDIA_PATH.match(path)
        if match and match.group(1) == fake.account_sid:
            if match.group(3) not in fake.media:
                return self._send(
                    *_error(404, 20404, f"The requested resource {path} was not found")
                )
            return self._send(302, headers={"Location": f"{fake.url}/__cdn__/{match.group(3)}"})
        match = _MESSAGE_PATH.match(path)
        if match and match.group(1) == fake.account_sid and match.group(2):
            with fake._lock:
                resource = fake.messages.get(match.group(2))
            if resource is not None:
                return self._send(200, resource)
        return self._send(*_error(404, 20404, f"The requested resource {path} was not found"))

    def do_POST(self) -> None:  # noqa: N802
        fake = self.server.fake
        path = urlsplit(self.path).path
        body = self._body()
        form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        if path.startswith("/__fake__/"):
            return self._control(path[len("/__fake__/") :], dict(form))
        token = self.headers.get("I-Twilio-Idempotency-Token", "")
        fake._record(
            {
                "method": "POST",
                "path": path,
                "form": form,
                "content_type": self.headers.get("Content-Type", ""),
                "idempotency": token,
            }
        )
        if not self._authorised():
            return self._send(*_error(401, 20003, "Authenticate"))
        match = _MESSAGE_PATH.match(path)
        if not match or match.group(2) or match.group(1) != fake.account_sid:
            return self._send(*_error(404, 20404, f"The requested resource {path} was not found"))
        injected = fake._take_failure()
        if injected is not None:
            status, payload, retry_after = injected
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
            return self._send(status, payload, headers=headers)
        status, payload = fake._create_message(form, token)
        return self._send(status, payload)

    def _control(self, what: str, form: dict[str, str]) -> None:
        fake = self.server.fake
        for key in ("From", "To"):
            # `curl -d From=+4670…` sends the plus unencoded, which a form reads as a space.
            value = form.get(key, "").strip()
            if value[:1].isdigit():
                form[key] = "+" + value
        if what == "sms" and fake.webhook_url:
            record = fake.send_inbound_sms(
                fake.webhook_url, from_=form.get("From", "+46701234567"), body=form.get("Body", "")
            )
            return self._send(
                200, {"status": record["status"], "sid": record["params"]["MessageSid"]}
            )
        if what == "calls" and fake.voice_webhook_url:
            record = fake.send_voice_status(
                fake.voice_webhook_url,
                from_=form.get("From", "+46701234567"),
                status=form.get("CallStatus", "completed"),
                duration=int(form.get("CallDuration") or 60),
                direction=form.get("Direction", "inbound"),
            )
            return self._send(200, {"status": record["status"], "sid": record["params"]["CallSid"]})
        return self._send(404)


class TwilioFake:
    """Twilio's Messages API and webhooks on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        numbers: Iterable[str] = (DEFAULT_FROM,),
        messaging_service_sid: str = DEFAULT_SERVICE_SID,
        auto_status: bool = False,
        deliver: Callable[[str, bytes, dict[str, str]], int] | None = None,
        webhook_url: str = "",
        voice_webhook_url: str = "",
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.numbers = set(numbers)
        self.messaging_service_sid = messaging_service_sid
        self.auto_status = auto_status
        self.deliver = deliver
        self.webhook_url = webhook_url
        self.voice_webhook_url = voice_webhook_url
        self.verbose = verbose
        self.unsubscribed: set[str] = set()
        self.landlines: set[str] = set()
        self.messages: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.callbacks: list[dict[str, Any]] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self._status_callbacks: dict[str, str] = {}
        self._by_token: dict[str, str] = {}
        self._attempts: Counter[str] = Counter()
        self._deliveries: Counter[str] = Counter()
        self._failures: list[tuple[int, dict[str, Any], float | None]] = []
        self._lock = threading.RLock()
        self._server: _Server | None = None

    # --- life -----------------------------------------------------------------------------------
    def start(self) -> TwilioFake:
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="twilio-fake", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TwilioFake:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def settings(self, env_name: str = "TWILIO_FAKE_AUTH_TOKEN") -> dict[str, str]:
        """ChannelConfig.settings for a "twilio" (or "phone") channel against this fake."""
        return {
            "account_sid": self.account_sid,
            "auth_token_env": env_name,
            "from_number": next(iter(sorted(self.numbers)), DEFAULT_FROM),
            "api_url": self.url,
        }

    def env(self, env_name: str = "TWILIO_FAKE_AUTH_TOKEN") -> dict[str, str]:
        return {env_name: self.auth_token}

    # --- counters -------------------------------------------------------------------------------
    def _record(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(request)
            self._attempts[request["idempotency"]] += 1

    def delivered_count(self) -> int:
        with self._lock:
            return sum(self._deliveries.values())

    def deliveries_by_key(self) -> dict[str, int]:
        with self._lock:
            return dict(self._deliveries)

    def attempts_by_key(self) -> dict[str, int]:
        with self._lock:
            return dict(self._attempts)

    def sent(self) -> list[dict[str, Any]]:
        """The message resources created, oldest first."""
        with self._lock:
            return list(self.messages.values())

    # --- error injection --------------------------------------------------------------------------
    def fail(
        self,
        status: int = 500,
        code: int | None = None,
        message: str = "",
        *,
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """The next `times` Messages POSTs (after authentication) answer this error."""
        defaults = {401: 20003, 429: 20429, 500: 20500, 503: 20503}
        code = code if code is not None else defaults.get(status, 20001)
        message = message or {
            20003: "Authenticate",
            20429: "Too Many Requests",
            20500: "Internal Server Error",
            20503: "Service Unavailable",
        }.get(code, "Error")
        with self._lock:
            for _ in range(times):
                _status, payload = _error(status, code, message)
                self._failures.append((status, payload, retry_after))

    def _take_failure(self):
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    # --- the Messages API -------------------------------------------------------------------------
    def _create_message(self, form: list[tuple[str, str]], token: str) -> tuple[int, dict]:
        fields: dict[str, str] = {}
        media_urls: list[str] = []
        for name, value in form:
            if name == "MediaUrl":
                media_urls.append(value)
            else:
                fields[name] = value
        to = fields.get("To", "")
        sender = fields.get("From", "")
        service = fields.get("MessagingServiceSid", "")
        body = fields.get("Body", "")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if service:
            if service != self.messaging_service_sid:
                return _error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        elif not sender:
            return _error(400, 21603, "A 'From' phone number is required.")
        elif sender not in self.numbers:
            return _error(
                400,
                21606,
                f"The From phone number {sender} is not a valid, SMS-capable inbound phone "
                "number or short code for your account.",
            )
        if not body and not media_urls:
            return _error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if len(media_urls) > 10:
            return _error(400, 21623, "Number of media files exceeds allowed limit.")
        if any(urlsplit(u).scheme not in ("http", "https") for u in media_urls):
            return _error(400, 21620, "Invalid media URL(s).")
        if to in self.unsubscribed:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        if to in self.landlines:
            return _error(400, 21614, f"'To' number {to} is not a valid mobile number")
        with self._lock:
            if token and token in self._by_token:
                return 201, dict(self.messages[self._by_token[token]])
            sid = _sid("SM")
            now = formatdate(usegmt=True)
            base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
            resource = {
                "account_sid": self.account_sid,
                "api_version": API_VERSION,
                "body": body,
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": sender or None,
                "messaging_service_sid": service or None,
                "num_media": str(len(media_urls)),
                "num_segments": str(max(1, (len(body) + 152) // 153)),
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "accepted" if service else "queued",
                "subresource_uris": {"media": f"{base}/Media.json"},
                "to": to,
                "uri": f"{base}.json",
                "media_urls": media_urls,  # not Twilio's: lets tests see what was attached
            }
            self.messages[sid] = resource
            if token:
                self._by_token[token] = sid
            self._deliveries[token] += 1
            callback = fields.get("StatusCallback", "")
            if callback:
                self._status_callbacks[sid] = callback
            public = dict(resource)
        if self.auto_status and callback:
            threading.Thread(target=self.advance, args=(sid,), daemon=True).start()
        return 201, public

    # --- status callbacks -------------------------------------------------------------------------
    def set_status(self, sid: str, status: str, *, error_code: str | int | None = None) -> dict:
        """Move a sent message on (sent, delivered, read, undelivered, failed) and POST the
        status callback, if the message asked for one. Returns the callback record (or {})."""
        with self._lock:
            resource = self.messages[sid]
            resource["status"] = status
            resource["date_updated"] = formatdate(usegmt=True)
            if error_code is not None:
                resource["error_code"] = int(error_code)
            callback = self._status_callbacks.get(sid, "")
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": API_VERSION,
                "From": resource["from"] or next(iter(sorted(self.numbers)), DEFAULT_FROM),
                "MessageSid": sid,
                "MessageStatus": status,
                "SmsSid": sid,
                "SmsStatus": status,
                "To": resource["to"],
            }
            if resource["messaging_service_sid"]:
                params["MessagingServiceSid"] = resource["messaging_service_sid"]
            if error_code is not None:
                params["ErrorCode"] = str(error_code)
        if not callback:
            return {}
        record = self.post_signed(callback, params)
        with self._lock:
            self.callbacks.append(record)
        return record

    def advance(self, sid: str) -> None:
        """What a handset that is switched on does: sent, then delivered."""
        self.set_status(sid, "sent")
        self.set_status(sid, "delivered")

    # --- webhooks to us ---------------------------------------------------------------------------
    def sign(self, url: str, params: dict[str, str] | list[tuple[str, str]]) -> str:
        return compute_signature(url, params, self.auth_token)

    def post_signed(
        self, url: str, params: dict[str, str], *, signature: str | None = None
    ) -> dict[str, Any]:
        """POST a form webhook to `url` the way Twilio does (X-Twilio-Signature, Twilio's user
        agent, I-Twilio-Idempotency-Token). `signature` overrides the computed one (tests)."""
        body = urlencode(params).encode()
        headers = {
            "Content-Type": FORM,
            "X-Twilio-Signature": signature if signature is not None else self.sign(url, params),
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
            "User-Agent": "TwilioProxy/1.1",
        }
        if self.deliver is not None:
            status = self.deliver(url, body, headers)
        else:
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = 0
        return {"url": url, "params": params, "headers": headers, "body": body, "status": status}

    def add_media(
        self, content: bytes, content_type: str, *, message_sid: str = "", media_sid: str = ""
    ) -> str:
        """Keep a file as Twilio keeps an MMS's media; returns its MediaUrl."""
        media_sid = media_sid or _sid("ME")
        message_sid = message_sid or _sid("MM")
        with self._lock:
            self.media[media_sid] = (content, content_type)
        return (
            f"{self.url}/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message_sid}"
            f"/Media/{media_sid}"
        )

    def inbound_sms_params(
        self,
        *,
        from_: str,
        body: str = "",
        to: str | None = None,
        media: Iterable[tuple[bytes, str]] = (),
        sid: str | None = None,
    ) -> dict[str, str]:
        """The form of Twilio's incoming-message webhook (field names as its docs list them)."""
        sid = sid or _sid("MM" if media else "SM")
        params = {
            "ToCountry": "US",
            "ToState": "CA",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ToCity": "",
            "FromZip": "",
            "SmsSid": sid,
            "FromState": "",
            "SmsStatus": "received",
            "FromCity": "",
            "Body": body,
            "FromCountry": "SE",
            "To": to or next(iter(sorted(self.numbers)), DEFAULT_FROM),
            "ToZip": "",
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "ApiVersion": API_VERSION,
        }
        items = list(media)
        params["NumMedia"] = str(len(items))
        for i, (content, content_type) in enumerate(items):
            params[f"MediaContentType{i}"] = content_type
            params[f"MediaUrl{i}"] = self.add_media(content, content_type, message_sid=sid)
        return params

    def send_inbound_sms(self, url: str, **kwargs: Any) -> dict[str, Any]:
        """A customer texts us: POST the signed incoming-message webhook to `url`."""
        signature = kwargs.pop("signature", None)
        return self.post_signed(url, self.inbound_sms_params(**kwargs), signature=signature)

    def voice_status_params(
        self,
        *,
        from_: str,
        to: str | None = None,
        status: str = "completed",
        direction: str = "inbound",
        duration: int | None = None,
        recording_url: str = "",
        call_sid: str | None = None,
    ) -> dict[str, str]:
        """The form of a Voice status callback (call-progress-events)."""
        ours = to or next(iter(sorted(self.numbers)), DEFAULT_FROM)
        params = {
            "Called": ours,
            "ToState": "",
            "CallerCountry": "SE",
            "Direction": direction,
            "Timestamp": formatdate(usegmt=True),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": "0",
            "CallSid": call_sid or _sid("CA"),
            "To": ours,
            "ToCountry": "US",
            "ApiVersion": API_VERSION,
            "CallStatus": status,
            "From": from_,
            "AccountSid": self.account_sid,
            "Caller": from_,
            "FromCountry": "SE",
        }
        if direction != "inbound":
            # We called them: Twilio's From is our number, To the customer's.
            params.update(From=ours, Caller=ours, To=from_, Called=from_)
        if duration is not None:
            params["CallDuration"] = str(duration)
            params["Duration"] = str(max(1, (duration + 59) // 60))
        if recording_url:
            params["RecordingUrl"] = recording_url
            params["RecordingSid"] = _sid("RE")
        return params

    def send_voice_status(self, url: str, **kwargs: Any) -> dict[str, Any]:
        """A call ends: POST the signed Voice status callback to `url`."""
        signature = kwargs.pop("signature", None)
        return self.post_signed(url, self.voice_status_params(**kwargs), signature=signature)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local stand-in for Twilio's Messages API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--from", dest="from_", default=DEFAULT_FROM, help="our sender number")
    parser.add_argument("--webhook-url", default="", help="the twilio channel's inbound URL")
    parser.add_argument("--voice-webhook-url", default="", help="the phone channel's inbound URL")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    fake = TwilioFake(
        host=args.host,
        port=args.port,
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        numbers=(args.from_,),
        auto_status=True,
        webhook_url=args.webhook_url,
        voice_webhook_url=args.voice_webhook_url,
        verbose=args.verbose,
    ).start()
    print(f"Fake Twilio API at {fake.url}; Ctrl-C stops it.", flush=True)
    print(f"export TWILIO_FAKE_AUTH_TOKEN={fake.auth_token}", flush=True)
    print(f"channel settings: {json.dumps(fake.settings())}", flush=True)
    print(
        f"a customer texts: curl --data-urlencode From=+46701234567 -d Body=Hej {fake.url}/__fake__/sms",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
