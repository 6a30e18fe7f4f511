"""A local fake of the Viber REST bot API (chatapi.viber.com), for tests and the demo.

A plain HTTP server on 127.0.0.1 speaking the part of
https://developers.viber.com/docs/api/rest-bot-api/ the Slotwise adapter uses, as Viber does:

- Every call is ``POST /pa/<method>`` with a JSON body and the ``X-Viber-Auth-Token`` header, and
  every answer is HTTP 200 with ``{"status": N, "status_message": …}`` — 0 ``ok``; a missing or
  wrong token 2 ``invalidAuthToken``; bad JSON 3 ``badData``; missing fields 4 ``missingData``.
- ``send_message`` (``receiver``, ``sender.name`` ≤ 28, ``tracking_data``, ``type`` text ≤ 7000 /
  picture (``media`` URL, ``text`` ≤ 768) / file (``media``, ``size`` ≤ 50 MB, ``file_name``),
  ``keyboard`` with ``Buttons``) → ``message_token``. Viber's rules: no webhook registered → 10
  ``webhookNotSet``; a receiver who is not subscribed → 6 ``receiverNotSubscribed`` (users
  subscribe by writing to the bot — `user_says` — or `user_subscribes`; ``strict=False`` lets the
  bot write to anyone).
- ``set_webhook`` (``url``: HTTPS, or http on loopback; ``event_types``) posts a signed ``webhook``
  event to the URL first and fails with 1 ``invalidUrl`` unless that answers 200, as Viber does
  (``handshake=False`` skips it); ``url: ""`` removes the webhook.
- ``get_account_info``.
- ``GET /media/<id>/<name>``: the files users send, served without a token like Viber's media
  links (which expire after about an hour; here they don't).

Viber has no idempotency key, and neither has the fake.

Failures on demand: ``fake.fail_next(12)`` answers the next call (of ``method``) with that
status (``status_message`` from Viber's table); ``fake.fail_http(503)`` answers with an HTTP error.

"Being the user": ``fake.user_says(user_id, "hi")``, ``user_sends_picture``, ``user_sends_file``,
``user_shares_contact``, ``conversation_started(user_id, context=…)`` (opening a deep link),
``user_subscribes`` / ``user_unsubscribes``, ``receipt(token, user_id, "delivered"|"seen"|"failed")``
build the callback as Viber does and POST it to the registered webhook with
``X-Viber-Content-Signature`` = HMAC-SHA256 hex of the body under the auth token.
``auto_receipts=True`` sends delivered and then seen for every message the bot sends.
``deliver=(url, body, headers) -> status`` replaces the HTTP POST (tests post through Django's
test client). Requests are recorded in ``fake.requests``, messages sent in ``fake.sent``,
callbacks in ``fake.deliveries`` (with the answer: a ``conversation_started`` answer is the
welcome message).

Command line (the demo)::

    python -m slotwise.messaging.fakes.viber --port 8082 \\
        --webhook-url http://127.0.0.1:8000/messaging/inbound/viber/<key>/

prints the ``export`` line and the channel settings, then serves until interrupted. Control
endpoints: ``POST /__fake__/say`` ``{"user_id", "text", "name"?}``, ``POST /__fake__/start``
``{"user_id", "context", "name"?}``, ``GET /__fake__/sent``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

DEFAULT_AUTH_TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
DEFAULT_SENDER_NAME = "Slotwise"
DEFAULT_CHAT_URI = "slotwisefake"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAX_TEXT = 7000
MAX_CAPTION = 768
MAX_FILE = 50 * 1024 * 1024
EVENT_TYPES = ("delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started")
#: Viber refuses files with these extensions (a part of its list).
FORBIDDEN_EXTENSIONS = {"exe", "bat", "cmd", "com", "msi", "scr", "vbs", "js", "jar", "apk", "ps1"}

STATUS_MESSAGES = {
    0: "ok",
    1: "invalidUrl",
    2: "invalidAuthToken",
    3: "badData",
    4: "missingData",
    5: "receiverNotRegistered",
    6: "receiverNotSubscribed",
    7: "publicAccountBlocked",
    8: "publicAccountNotFound",
    9: "publicAccountSuspended",
    10: "webhookNotSet",
    11: "receiverNoSuitableDevice",
    12: "tooManyRequests",
    13: "apiVersionNotSupported",
    14: "incompatibleWithVersion",
    15: "publicAccountNotAuthorized",
    23: "freeMessagesExceeded",
    24: "noBalance",
}


class ViberError(Exception):
    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message or STATUS_MESSAGES.get(status, "generalError")


def sign(body: bytes, token: str) -> str:
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


# --- the server -------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, fake: ViberFake) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        if self.server.fake.verbose:
            sys.stderr.write("viber-fake: " + (format % args) + "\n")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, payload: Any, status: int = 200) -> None:
        self._send(status, json.dumps(payload).encode())

    def do_GET(self) -> None:  # noqa: N802
        fake = self.server.fake
        path = urlsplit(self.path).path
        if path == "/__fake__/sent":
            with fake._lock:
                return self._json(list(fake.sent))
        if path == "/__fake__/requests":
            with fake._lock:
                return self._json(list(fake.requests))
        match = re.match(r"^/media/([A-Za-z0-9_-]+)/", path)
        if match:
            with fake._lock:
                item = fake.media.get(match.group(1))
            if item is None:
                return self._send(404, b"Not Found", "text/plain")
            return self._send(200, item["content"], item["mime_type"])
        self._send(404, b"Not Found", "text/plain")

    def do_HEAD(self) -> None:  # noqa: N802
        fake = self.server.fake
        match = re.match(r"^/media/([A-Za-z0-9_-]+)/", urlsplit(self.path).path)
        with fake._lock:
            item = fake.media.get(match.group(1)) if match else None
        self.send_response(200 if item else 404)
        self.send_header("Content-Type", item["mime_type"] if item else "text/plain")
        self.send_header("Content-Length", str(len(item["content"]) if item else 0))
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        fake = self.server.fake
        path = urlsplit(self.path).path
        body = self._body()
        if path.startswith("/__fake__/"):
            return self._control(path[len("/__fake__/") :], body)
        if not path.startswith("/pa/"):
            return self._send(404, b"Not Found", "text/plain")
        status, payload = fake._api(
            path[len("/pa/") :], body, self.headers.get("X-Viber-Auth-Token") or ""
        )
        if isinstance(payload, bytes):
            return self._send(status, payload, "text/html")
        return self._json(payload, status)

    def _control(self, rest: str, body: bytes) -> None:
        fake = self.server.fake
        try:
            data = json.loads(body or b"{}")
            if rest == "say":
                status = fake.user_says(
                    str(data["user_id"]), str(data.get("text", "")), name=data.get("name")
                )
                return self._json({"webhook_status": status})
            if rest == "start":
                status = fake.conversation_started(
                    str(data["user_id"]),
                    context=str(data.get("context", "")),
                    name=data.get("name"),
                )
                return self._json({"webhook_status": status})
        except (ValueError, KeyError, TypeError) as exc:
            return self._json({"error": str(exc)}, 400)
        self._json({"error": "not found"}, 404)


# --- the fake ---------------------------------------------------------------------------------


class ViberFake:
    """The Viber REST bot API on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        chat_uri: str = DEFAULT_CHAT_URI,
        strict: bool = True,
        handshake: bool = True,
        auto_receipts: bool = False,
        deliver: Callable[[str, bytes, dict[str, str]], int] | None = None,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.auth_token = auth_token
        self.chat_uri = chat_uri
        self.strict = strict
        self.handshake = handshake
        self.auto_receipts = auto_receipts
        self.deliver = deliver
        self.verbose = verbose
        self.requests: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self.subscribed: set[str] = set()
        self.users: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self._failures: list[tuple[str | None, int, bool]] = []
        self._tokens = itertools.count(5_091_000_000_000_000_001)
        self._lock = threading.RLock()
        self._server: _Server | None = None

    # --- life -----------------------------------------------------------------------------------
    def start(self) -> ViberFake:
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="viber-fake",
            daemon=True,
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ViberFake:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- what clients need ------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self, prefix: str = "VIBER") -> dict[str, str]:
        return {f"{prefix}_AUTH_TOKEN": self.auth_token}

    def settings(self, prefix: str = "VIBER") -> dict[str, str]:
        """ChannelConfig.settings for kind "viber" (the token: the name of `env()`'s variable)."""
        return {
            "api_url": self.api_url,
            "auth_token_env": f"{prefix}_AUTH_TOKEN",
            "sender_name": DEFAULT_SENDER_NAME,
            "chat_uri": self.chat_uri,
        }

    def set_webhook_url(self, url: str, event_types: tuple[str, ...] = EVENT_TYPES) -> None:
        """Register a webhook without the handshake (what a successful set_webhook leaves)."""
        with self._lock:
            self.webhook = {"url": url, "event_types": list(event_types)}

    # --- failures on demand -----------------------------------------------------------------------
    def fail_next(self, status: int, *, method: str | None = None, times: int = 1) -> None:
        with self._lock:
            self._failures += [(method, status, False)] * times

    def fail_http(self, status: int = 503, *, method: str | None = None, times: int = 1) -> None:
        with self._lock:
            self._failures += [(method, status, True)] * times

    def _take_failure(self, method: str) -> tuple[int, bool] | None:
        with self._lock:
            for i, (only, status, raw) in enumerate(self._failures):
                if only is None or only == method:
                    del self._failures[i]
                    return status, raw
        return None

    # --- the API ----------------------------------------------------------------------------------
    def _api(self, method: str, body: bytes, token: str) -> tuple[int, Any]:
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = None
        with self._lock:
            self.requests.append(
                {"method": method, "params": params, "token_ok": token == self.auth_token}
            )
        failure = self._take_failure(method)
        if failure is not None:
            status, raw = failure
            if raw:
                return status, b"<html><body>Service Unavailable</body></html>"
            return 200, {"status": status, "status_message": STATUS_MESSAGES.get(status, "error")}
        try:
            if not token or not hmac.compare_digest(token, self.auth_token):
                raise ViberError(2)
            if not isinstance(params, dict):
                raise ViberError(3, "Failed to parse JSON")
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                return 404, b"Not Found"
            result = handler(params)
        except ViberError as exc:
            return 200, {"status": exc.status, "status_message": exc.message}
        return 200, {"status": 0, "status_message": "ok", **result}

    def _m_get_account_info(self, params) -> dict[str, Any]:
        with self._lock:
            hook = dict(self.webhook or {})
            count = len(self.subscribed)
        return {
            "id": "pa:5698795557519478543",
            "name": DEFAULT_SENDER_NAME,
            "uri": self.chat_uri,
            "icon": "",
            "category": "Business",
            "webhook": hook.get("url", ""),
            "event_types": hook.get("event_types", []),
            "subscribers_count": count,
            "members": [],
        }

    def _m_set_webhook(self, params) -> dict[str, Any]:
        url = params.get("url")
        if url is None:
            raise ViberError(4, "url is missing")
        if url == "":
            with self._lock:
                self.webhook = None
            return {}
        parts = urlsplit(str(url))
        if not (
            parts.scheme == "https"
            or (parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS)
        ):
            raise ViberError(1, "Invalid URL: the webhook must use HTTPS")
        types = params.get("event_types")
        if types is None:
            types = list(EVENT_TYPES)
        if not isinstance(types, list) or any(t not in EVENT_TYPES for t in types):
            raise ViberError(3, "Invalid event_types")
        if self.handshake:
            event = {
                "event": "webhook",
                "timestamp": int(time.time() * 1000),
                "chat_hostname": "SN-376_",
                "message_token": next(self._tokens),
            }
            status = self._post(str(url), event)
            if status != 200:
                raise ViberError(1, f"Result[HttpResponse status: {status}]. Webhook not set")
        with self._lock:
            self.webhook = {"url": str(url), "event_types": list(types)}
        return {"event_types": list(types)}

    def _m_send_message(self, params) -> dict[str, Any]:
        receiver = params.get("receiver")
        sender = params.get("sender")
        kind = params.get("type")
        if not receiver:
            raise ViberError(4, "receiver is missing")
        if not isinstance(sender, dict) or not sender.get("name"):
            raise ViberError(4, "sender.name is missing")
        if len(str(sender["name"])) > 28:
            raise ViberError(3, "sender.name is longer than 28 characters")
        if not kind:
            raise ViberError(4, "type is missing")
        if kind == "text":
            text = params.get("text")
            if not isinstance(text, str) or not text:
                raise ViberError(4, "text is missing")
            if len(text) > MAX_TEXT:
                raise ViberError(3, "text is too long")
        elif kind == "picture":
            self._media_url(params)
            if (
                not isinstance(params.get("text", ""), str)
                or len(params.get("text", "")) > MAX_CAPTION
            ):
                raise ViberError(3, "picture text is too long")
        elif kind == "file":
            self._media_url(params)
            size, name = params.get("size"), params.get("file_name")
            if not isinstance(size, int) or not name:
                raise ViberError(4, "size and file_name are required")
            if size > MAX_FILE:
                raise ViberError(3, "file is too large")
            if str(name).rsplit(".", 1)[-1].lower() in FORBIDDEN_EXTENSIONS:
                raise ViberError(3, "forbidden file type")
        else:
            raise ViberError(3, f"unsupported message type {kind}")
        keyboard = params.get("keyboard")
        if keyboard is not None:
            buttons = keyboard.get("Buttons") if isinstance(keyboard, dict) else None
            if (
                keyboard.get("Type") != "keyboard"
                or not isinstance(buttons, list)
                or not all(isinstance(b, dict) and b.get("ActionBody") for b in buttons)
            ):
                raise ViberError(3, "invalid keyboard")
        with self._lock:
            if self.webhook is None:
                raise ViberError(10)
            if self.strict and str(receiver) not in self.subscribed:
                raise ViberError(6)
            token = next(self._tokens)
            self.sent.append({**params, "message_token": token, "at": time.time()})
        if self.auto_receipts:
            threading.Thread(
                target=self._receipts, args=(token, str(receiver)), daemon=True
            ).start()
        return {"message_token": token, "chat_hostname": "SN-CHAT-05_", "billing_status": 1}

    @staticmethod
    def _media_url(params) -> None:
        media = params.get("media")
        if not media:
            raise ViberError(4, "media is missing")
        if urlsplit(str(media)).scheme not in ("http", "https"):
            raise ViberError(1, "Invalid media URL")

    def _receipts(self, token: int, user_id: str) -> None:
        time.sleep(0.2)
        self.receipt(token, user_id, "delivered")
        time.sleep(0.5)
        self.receipt(token, user_id, "seen")

    # --- being the user ---------------------------------------------------------------------------
    def _user(self, user_id: str, name: str | None = None) -> dict[str, Any]:
        with self._lock:
            user = self.users.get(user_id)
            if user is None or (name and user["name"] != name):
                user = {
                    "id": user_id,
                    "name": name or "Test User",
                    "avatar": "https://avatar.example.com/a.jpg",
                    "language": "en",
                    "country": "SE",
                    "api_version": 10,
                }
                self.users[user_id] = user
            return dict(user)

    def _event(self, event: str, **fields: Any) -> dict[str, Any]:
        return {
            "event": event,
            "timestamp": int(time.time() * 1000),
            "chat_hostname": "SN-376_",
            "message_token": next(self._tokens),
            **fields,
        }

    def message_event(
        self, user_id: str, message: dict[str, Any], *, name: str | None = None
    ) -> dict[str, Any]:
        """A ``message`` callback from `user_id` (writing subscribes them)."""
        with self._lock:
            self.subscribed.add(user_id)
        return self._event(
            "message", sender=self._user(user_id, name), message=message, silent=False
        )

    def add_media(self, content: bytes, *, mime_type: str, file_name: str) -> str:
        """Store a user's file; its public link (as Viber's media links are)."""
        ident = secrets.token_urlsafe(12)
        with self._lock:
            self.media[ident] = {"content": content, "mime_type": mime_type}
        return f"{self.api_url}/media/{ident}/{quote(file_name)}"

    def media_content(self, url: str) -> bytes:
        ident = unquote(urlsplit(url).path).split("/")[2]
        with self._lock:
            return self.media[ident]["content"]

    def user_says(self, user_id: str, text: str, *, name: str | None = None) -> int:
        return self.post_event(
            self.message_event(user_id, {"type": "text", "text": text}, name=name)
        )

    def user_sends_picture(
        self,
        user_id: str,
        content: bytes,
        *,
        caption: str = "",
        file_name: str = "photo.jpg",
        name: str | None = None,
    ) -> int:
        url = self.add_media(content, mime_type="image/jpeg", file_name=file_name)
        message = {
            "type": "picture",
            "text": caption,
            "media": url,
            "thumbnail": url,
            "file_name": file_name,
            "size": len(content),
        }
        return self.post_event(self.message_event(user_id, message, name=name))

    def user_sends_file(
        self,
        user_id: str,
        content: bytes,
        *,
        file_name: str,
        mime_type: str = "application/octet-stream",
        name: str | None = None,
    ) -> int:
        url = self.add_media(content, mime_type=mime_type, file_name=file_name)
        message = {"type": "file", "media": url, "size": len(content), "file_name": file_name}
        return self.post_event(self.message_event(user_id, message, name=name))

    def user_shares_contact(
        self, user_id: str, phone_number: str, *, contact_name: str = "", name: str | None = None
    ) -> int:
        user = self._user(user_id, name)
        message = {
            "type": "contact",
            "contact": {"name": contact_name or user["name"], "phone_number": phone_number},
        }
        return self.post_event(self.message_event(user_id, message, name=name))

    def conversation_started(
        self, user_id: str, *, context: str = "", name: str | None = None
    ) -> int:
        """The user opens the chat (e.g. from ``viber://pa?chatURI=…&context=…``)."""
        user = self._user(user_id, name)
        with self._lock:
            subscribed = user_id in self.subscribed
        event = self._event(
            "conversation_started", type="open", context=context, user=user, subscribed=subscribed
        )
        return self.post_event(event)

    def user_subscribes(self, user_id: str, *, name: str | None = None) -> int:
        user = self._user(user_id, name)
        with self._lock:
            self.subscribed.add(user_id)
        return self.post_event(self._event("subscribed", user=user))

    def user_unsubscribes(self, user_id: str) -> int:
        with self._lock:
            self.subscribed.discard(user_id)
        return self.post_event(self._event("unsubscribed", user_id=user_id))

    def receipt(
        self, message_token: int | str, user_id: str, event: str = "delivered", desc: str = ""
    ) -> int:
        """Viber's delivered / seen / failed callback for a message the bot sent."""
        if event not in ("delivered", "seen", "failed"):
            raise ValueError(event)
        fields: dict[str, Any] = {"user_id": user_id}
        if event == "failed":
            fields["desc"] = desc or "Receiver is not subscribed"
        payload = self._event(event, **fields)
        payload["message_token"] = int(message_token)
        return self.post_event(payload)

    # --- webhook delivery -------------------------------------------------------------------------
    def post_event(self, event: dict[str, Any]) -> int:
        """POST one callback to the registered webhook, signed as Viber signs; the HTTP status.
        Events the webhook did not ask for (event_types) are not sent (status 0)."""
        with self._lock:
            hook = dict(self.webhook or {})
        if not hook:
            raise RuntimeError("no webhook registered (set_webhook)")
        optional = event["event"] in EVENT_TYPES
        if optional and event["event"] not in hook.get("event_types", EVENT_TYPES):
            return 0
        return self._post(hook["url"], event)

    def _post(self, url: str, event: dict[str, Any]) -> int:
        body = json.dumps(event).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Viber-Content-Signature": sign(body, self.auth_token),
        }
        status, error, answer = 0, "", b""
        try:
            if self.deliver is not None:
                status = self.deliver(url, body, headers)
            else:
                import httpx

                response = httpx.post(url, content=body, headers=headers, timeout=10)
                status, answer = response.status_code, response.content
        except Exception as exc:  # noqa: BLE001 - recorded; Viber would retry
            error = str(exc)
        with self._lock:
            self.deliveries.append(
                {
                    "url": url,
                    "event": event,
                    "status": status,
                    "error": error,
                    "answer": answer.decode("utf-8", "replace"),
                    "at": time.time(),
                }
            )
        return status


# --- command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m slotwise.messaging.fakes.viber",
        description="A local fake of the Viber REST bot API.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--chat-uri", default=DEFAULT_CHAT_URI)
    parser.add_argument(
        "--webhook-url", default="", help="register this webhook at start (no handshake)"
    )
    parser.add_argument(
        "--lenient", action="store_true", help="let the bot write to users who never subscribed"
    )
    parser.add_argument(
        "--no-receipts", action="store_true", help="don't send delivered/seen for sent messages"
    )
    parser.add_argument("--env-prefix", default="VIBER")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    fake = ViberFake(
        host=args.host,
        port=args.port,
        auth_token=args.auth_token,
        chat_uri=args.chat_uri,
        strict=not args.lenient,
        auto_receipts=not args.no_receipts,
        verbose=args.verbose,
    ).start()
    if args.webhook_url:
        fake.set_webhook_url(args.webhook_url)
    print(f"# Viber fake: {fake.api_url}")
    for key, value in fake.env(args.env_prefix).items():
        print(f"export {key}={value}")
    print(
        f"# ChannelConfig settings for kind 'viber':\n# {json.dumps(fake.settings(args.env_prefix))}"
    )
    print(
        f"# a user writes: curl -X POST {fake.api_url}/__fake__/say "
        '-d \'{"user_id": "01234567890A=", "text": "Hi"}\''
    )
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
