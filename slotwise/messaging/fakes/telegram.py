"""A local fake of the Telegram Bot API (api.telegram.org), for tests and the demo.

A plain HTTP server on 127.0.0.1 speaking the part of https://core.telegram.org/bots/api the
Slotwise adapter uses, as Telegram does:

- ``/bot<token>/<method>`` (GET or POST; parameters in the query string, JSON,
  ``application/x-www-form-urlencoded`` or ``multipart/form-data`` — file uploads — with
  ``reply_markup`` as JSON text); method names are case-insensitive. Every answer is
  ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code", "description"[, "parameters":
  {"retry_after"}]}`` with the error code as HTTP status. A token that is not the bot's answers
  401 ``Unauthorized``; a path without a well-formed token or an unknown method 404 ``Not Found``.
- ``sendMessage`` (``chat_id``, ``text`` ≤ 4096, ``reply_markup``), ``sendPhoto`` (``photo``: an
  upload ≤ 10 MB, a URL or a file id; ``caption`` ≤ 1024), ``sendDocument`` (``document`` ≤ 50
  MB), answering the sent ``Message``. A chat in ``fake.blocked`` answers 403 ``Forbidden: bot
  was blocked by the user``; with ``strict_chats=True`` a chat that never wrote to the bot answers
  400 ``Bad Request: chat not found`` (always for a chat id that is not a number).
- ``getFile`` → ``{"file_id", "file_unique_id", "file_size", "file_path"}`` (400 ``file is too
  big`` over 20 MB), and ``/file/bot<token>/<file_path>`` serves the bytes — for the files the
  fake's users send and the files the bot uploaded.
- ``setWebhook`` (``url``, ``secret_token`` of ``[A-Za-z0-9_-]{1,256}``, ``allowed_updates``),
  ``deleteWebhook``, ``getWebhookInfo``, ``getMe``, ``answerCallbackQuery``.

Telegram has no idempotency key, and neither has the fake: the same request twice is two
messages (the adapter's docstring says what that means).

Failures on demand: ``fake.fail_next(429, retry_after=3)`` (or 401, 403 with Telegram's
descriptions, 400 "Bad Request: chat not found", 500 …) answers the next call (of ``method``, if
given) with that error; ``fake.fail_http(502)`` answers with a non-JSON gateway page.

"Being the user": ``fake.user_says(chat_id, "hi")``, ``user_sends_photo``,
``user_sends_document``, ``user_shares_contact``, ``user_presses`` (a callback query),
``user_starts(chat_id, param)`` (``/start <param>``) build the update as Telegram would and POST it
to the registered webhook with the ``X-Telegram-Bot-Api-Secret-Token`` header (the secret given to
setWebhook). ``deliver=(url, body, headers) -> status`` replaces the HTTP POST (tests post
through Django's test client). Every API request is recorded in ``fake.requests``, every message
the bot sent in ``fake.sent``, every webhook delivery in ``fake.deliveries``.

Command line (the demo)::

    python -m slotwise.messaging.fakes.telegram --port 8081 \\
        --webhook-url http://127.0.0.1:8000/messaging/inbound/telegram/<key>/

prints the ``export`` lines and the channel settings, then serves until interrupted. Control
endpoints: ``POST /__fake__/say`` with JSON ``{"chat_id", "text", "first_name"?}`` sends a user's
message to the webhook; ``GET /__fake__/sent`` lists what the bot sent.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

DEFAULT_TOKEN = "1234567890:AAFakeTelegramTokenForSlotwiseTests_01"
DEFAULT_WEBHOOK_SECRET = "slotwise-fake-webhook-secret"
DEFAULT_BOT_USERNAME = "slotwise_fake_bot"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_PHOTO = 10 * 1024 * 1024
MAX_DOCUMENT = 50 * 1024 * 1024
MAX_DOWNLOAD = 20 * 1024 * 1024

_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

#: Telegram's own wording for the errors `fail_next` can produce.
DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _unique_id(content: bytes) -> str:
    return "AQAD" + hashlib.sha256(content).hexdigest()[:12]


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, tuple]]:
    """multipart/form-data → (fields, files: name → (filename, bytes, content type))."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    files: dict[str, tuple] = {}
    if not message.is_multipart():
        return fields, files
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[str(name)] = (filename, payload, part.get_content_type())
        else:
            fields[str(name)] = payload.decode("utf-8")
    return fields, files


# --- the server -------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, fake: TelegramFake) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        if self.server.fake.verbose:
            sys.stderr.write("telegram-fake: " + (format % args) + "\n")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode())

    def _route(self, method: str) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        body = self._body()
        if parts.path.startswith("/__fake__/"):
            return self._control(method, parts.path[len("/__fake__/") :], body)
        match = re.match(r"^/(file/)?bot([^/]*)/(.+)$", parts.path)
        if not match:
            return self._json(404, ApiError(404, "Not Found").body())
        is_file, token, rest = bool(match.group(1)), match.group(2), match.group(3)
        if not _TOKEN.match(token):
            return self._json(404, ApiError(404, "Not Found").body())
        if token != fake.token:
            return self._json(401, ApiError(401, "Unauthorized").body())
        if is_file:
            if method != "GET":
                return self._json(404, ApiError(404, "Not Found").body())
            found = fake._file_by_path(rest)
            if found is None:
                return self._json(404, ApiError(404, "Not Found").body())
            return self._send(200, found["content"], "application/octet-stream")
        try:
            params, files = self._params(parts.query, body)
        except ValueError:
            return self._json(400, _bad("can't parse request").body())
        status, payload, raw = fake._api(rest, params, files)
        if raw is not None:
            return self._send(status, raw, "text/html")
        return self._json(status, payload)

    def _params(self, query: str, body: bytes) -> tuple[dict[str, Any], dict[str, tuple]]:
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        files: dict[str, tuple] = {}
        content_type = self.headers.get("Content-Type") or ""
        kind = content_type.split(";")[0].strip().lower()
        if not body:
            return params, files
        if kind == "application/json":
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            params.update(data)
        elif kind == "application/x-www-form-urlencoded":
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        elif kind == "multipart/form-data":
            fields, files = parse_multipart(body, content_type)
            params.update(fields)
        return params, files

    def _control(self, method: str, rest: str, body: bytes) -> None:
        fake = self.server.fake
        try:
            if method == "GET" and rest == "sent":
                with fake._lock:
                    return self._json(200, list(fake.sent))
            if method == "GET" and rest == "requests":
                with fake._lock:
                    return self._json(200, list(fake.requests))
            if method == "POST" and rest == "say":
                data = json.loads(body or b"{}")
                status = fake.user_says(
                    data["chat_id"],
                    str(data.get("text", "")),
                    first_name=str(data.get("first_name") or "Test"),
                )
                return self._json(200, {"webhook_status": status})
        except (ValueError, KeyError, TypeError) as exc:
            return self._json(400, {"error": str(exc)})
        return self._json(404, {"error": "not found"})

    def do_GET(self) -> None:  # noqa: N802
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")


# --- the fake ---------------------------------------------------------------------------------


class TelegramFake:
    """The Telegram Bot API on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        bot_username: str = DEFAULT_BOT_USERNAME,
        strict_chats: bool = False,
        deliver: Callable[[str, bytes, dict[str, str]], int] | None = None,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.bot_username = bot_username
        self.bot_id = int(token.split(":", 1)[0])
        self.strict_chats = strict_chats
        self.deliver = deliver
        self.verbose = verbose
        self.requests: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self.blocked: set[str] = set()
        self.users: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.callback_answers: list[dict[str, Any]] = []
        self._failures: list[tuple[str | None, ApiError | int]] = []
        self._message_ids = itertools.count(1)
        self._update_ids = itertools.count(700_000_001)
        self._lock = threading.RLock()
        self._server: _Server | None = None

    # --- life -----------------------------------------------------------------------------------
    def start(self) -> TelegramFake:
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="telegram-fake",
            daemon=True,
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TelegramFake:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- what clients need ------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self, prefix: str = "TELEGRAM", webhook_secret: str = DEFAULT_WEBHOOK_SECRET):
        return {f"{prefix}_BOT_TOKEN": self.token, f"{prefix}_WEBHOOK_SECRET": webhook_secret}

    def settings(self, prefix: str = "TELEGRAM") -> dict[str, str]:
        """ChannelConfig.settings for kind "telegram" (secrets: the names of `env()`'s vars)."""
        return {
            "api_url": self.api_url,
            "bot_token_env": f"{prefix}_BOT_TOKEN",
            "webhook_secret_env": f"{prefix}_WEBHOOK_SECRET",
            "bot_username": self.bot_username,
        }

    # --- failures on demand -----------------------------------------------------------------------
    def fail_next(
        self,
        code: int,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        method: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls (of `method`, if given) with Telegram's error `code`."""
        if code == 429 and retry_after is None:
            retry_after = 1
        text = description or DESCRIPTIONS.get(code, "Error").format(retry_after=retry_after)
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        with self._lock:
            for _ in range(times):
                self._failures.append(
                    (method.lower() if method else None, ApiError(code, text, parameters))
                )

    def fail_http(self, status: int = 502, *, method: str | None = None, times: int = 1) -> None:
        """Answer with a non-JSON page (a proxy in front of Telegram failing)."""
        with self._lock:
            for _ in range(times):
                self._failures.append((method.lower() if method else None, status))

    def _take_failure(self, method: str) -> ApiError | int | None:
        with self._lock:
            for i, (only, failure) in enumerate(self._failures):
                if only is None or only == method:
                    del self._failures[i]
                    return failure
        return None

    # --- the API ----------------------------------------------------------------------------------
    def _api(self, name: str, params: dict[str, Any], files: dict[str, tuple]):
        method = name.lower()
        record = {
            "method": name,
            "params": dict(params),
            "files": {
                k: {"filename": f[0], "content_type": f[2], "size": len(f[1])}
                for k, f in files.items()
            },
            "at": time.time(),
        }
        with self._lock:
            self.requests.append(record)
        failure = self._take_failure(method)
        if isinstance(failure, int):
            return failure, None, b"<html><body><h1>Bad Gateway</h1></body></html>"
        try:
            if failure is not None:
                raise failure
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found")
            return 200, {"ok": True, "result": handler(params, files)}, None
        except ApiError as exc:
            return exc.code, exc.body(), None

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("chat_id")
        if raw in (None, ""):
            raise _bad("chat_id is empty")
        chat_id = str(raw)
        if not re.fullmatch(r"-?\d+", chat_id):
            raise _bad("chat not found")
        with self._lock:
            known = chat_id in self.users
            user = dict(self.users.get(chat_id) or {})
        if self.strict_chats and not known:
            raise _bad("chat not found")
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        chat = {"id": int(chat_id), "type": "private"}
        for key in ("first_name", "last_name", "username"):
            if user.get(key):
                chat[key] = user[key]
        return chat

    @staticmethod
    def _markup(params: dict[str, Any]) -> Any:
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            try:
                markup = json.loads(markup)
            except ValueError:
                raise _bad("can't parse reply keyboard markup JSON object") from None
        if markup is not None and not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if markup and "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "keyboard" of the ReplyKeyboardMarkup must be an Array')
        return markup

    def _message(self, chat: dict[str, Any], **fields: Any) -> dict[str, Any]:
        message = {
            "message_id": next(self._message_ids),
            "from": {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": "Slotwise",
                "username": self.bot_username,
            },
            "chat": chat,
            "date": int(time.time()),
            **{k: v for k, v in fields.items() if v not in (None, "")},
        }
        with self._lock:
            self.sent.append(message)
        return message

    def _m_getme(self, params, files) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Slotwise",
            "username": self.bot_username,
            "can_join_groups": False,
        }

    def _m_sendmessage(self, params, files) -> dict[str, Any]:
        chat = self._chat(params)
        text = str(params.get("text") or "")
        if not text.strip():
            raise _bad("message text is empty")
        if len(text) > MAX_TEXT:
            raise _bad("message is too long")
        markup = self._markup(params)
        return self._message(chat, text=text, reply_markup=markup)

    def _file_param(self, field: str, params, files, limit: int) -> dict[str, Any]:
        if field in files:
            filename, content, content_type = files[field]
            if len(content) > limit:
                raise _bad("file is too big")
            return self.add_file(content, mime_type=content_type, file_name=filename)
        ref = params.get(field)
        if not ref:
            raise _bad(f"there is no {field} in the request")
        ref = str(ref)
        if ref.startswith(("http://", "https://")):
            return {"file_id": "URL" + secrets.token_hex(8), "url": ref, "file_size": 0}
        with self._lock:
            known = self.files.get(ref)
        if known is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        return self._public(known)

    def _caption(self, params) -> str:
        caption = str(params.get("caption") or "")
        if len(caption) > MAX_CAPTION:
            raise _bad("message caption is too long")
        return caption

    def _m_sendphoto(self, params, files) -> dict[str, Any]:
        chat = self._chat(params)
        caption = self._caption(params)
        markup = self._markup(params)
        photo = self._file_param("photo", params, files, MAX_PHOTO)
        size = {k: photo[k] for k in ("file_id", "file_unique_id", "file_size") if k in photo}
        sizes = [{**size, "width": 320, "height": 240}, {**size, "width": 1280, "height": 960}]
        if "url" in photo:
            sizes = [{**s, "url": photo["url"]} for s in sizes]
        return self._message(chat, photo=sizes, caption=caption, reply_markup=markup)

    def _m_senddocument(self, params, files) -> dict[str, Any]:
        chat = self._chat(params)
        caption = self._caption(params)
        markup = self._markup(params)
        document = self._file_param("document", params, files, MAX_DOCUMENT)
        return self._message(chat, document=document, caption=caption, reply_markup=markup)

    def _m_getfile(self, params, files) -> dict[str, Any]:
        file_id = str(params.get("file_id") or "")
        with self._lock:
            found = self.files.get(file_id)
        if found is None:
            raise _bad("invalid file_id")
        if len(found["content"]) > MAX_DOWNLOAD:
            raise _bad("file is too big")
        return {
            "file_id": found["file_id"],
            "file_unique_id": found["file_unique_id"],
            "file_size": len(found["content"]),
            "file_path": found["file_path"],
        }

    def _m_setwebhook(self, params, files) -> bool:
        url = str(params.get("url") or "")
        if not url:
            with self._lock:
                self.webhook = None
            return True
        parts = urlsplit(url)
        if not (
            parts.scheme == "https"
            or (parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS)
        ):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.match(str(secret)):
            raise _bad("secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if isinstance(allowed, str):
            try:
                allowed = json.loads(allowed)
            except ValueError:
                raise _bad("can't parse allowed updates") from None
        with self._lock:
            self.webhook = {
                "url": url,
                "secret_token": str(secret) if secret else "",
                "allowed_updates": list(allowed or []),
            }
        return True

    def _m_deletewebhook(self, params, files) -> bool:
        with self._lock:
            self.webhook = None
        return True

    def _m_getwebhookinfo(self, params, files) -> dict[str, Any]:
        with self._lock:
            hook = dict(self.webhook or {})
        info: dict[str, Any] = {
            "url": hook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }
        if hook.get("allowed_updates"):
            info["allowed_updates"] = hook["allowed_updates"]
        return info

    def _m_answercallbackquery(self, params, files) -> bool:
        if not params.get("callback_query_id"):
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        with self._lock:
            self.callback_answers.append(dict(params))
        return True

    # --- files ------------------------------------------------------------------------------------
    def add_file(
        self,
        content: bytes,
        *,
        mime_type: str = "",
        file_name: str = "",
        kind: str = "documents",
        file_id: str = "",
    ) -> dict[str, Any]:
        """Store a file as Telegram would (a user's upload or the bot's); its public fields.
        `file_id`: a given id (a recorded fixture's), else a new one."""
        file_id = file_id or "BQACAgQAAx" + secrets.token_urlsafe(24)
        ext = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
        entry = {
            "file_id": file_id,
            "file_unique_id": _unique_id(content),
            "file_size": len(content),
            "file_name": file_name,
            "mime_type": mime_type,
            "content": content,
        }
        with self._lock:
            entry["file_path"] = f"{kind}/file_{len(self.files)}.{ext}"
            self.files[file_id] = entry
        return self._public(entry)

    @staticmethod
    def _public(entry: dict[str, Any]) -> dict[str, Any]:
        public = {k: entry[k] for k in ("file_id", "file_unique_id", "file_size")}
        for key in ("file_name", "mime_type"):
            if entry.get(key):
                public[key] = entry[key]
        return public

    def _file_by_path(self, path: str) -> dict[str, Any] | None:
        with self._lock:
            return next((f for f in self.files.values() if f["file_path"] == path), None)

    def file_content(self, file_id: str) -> bytes:
        with self._lock:
            return self.files[file_id]["content"]

    # --- being the user ---------------------------------------------------------------------------
    def add_user(
        self,
        chat_id: int | str,
        *,
        first_name: str = "Test",
        last_name: str = "",
        username: str = "",
        language_code: str = "en",
    ) -> dict[str, Any]:
        user = {"id": int(chat_id), "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        user["language_code"] = language_code
        with self._lock:
            self.users[str(chat_id)] = user
        return user

    def _user(self, chat_id: int | str, first_name: str | None = None) -> dict[str, Any]:
        with self._lock:
            user = self.users.get(str(chat_id))
        if user is None or (first_name and user.get("first_name") != first_name):
            user = self.add_user(chat_id, first_name=first_name or "Test")
        return dict(user)

    def message_update(
        self,
        chat_id: int | str,
        *,
        first_name: str | None = None,
        date: int | None = None,
        **fields,
    ) -> dict[str, Any]:
        """A ``message`` update from the user of `chat_id` (fields: text, photo, caption …)."""
        user = self._user(chat_id, first_name)
        chat = {k: user[k] for k in ("id", "first_name", "last_name", "username") if k in user}
        chat["type"] = "private"
        message = {
            "message_id": next(self._message_ids),
            "from": user,
            "chat": chat,
            "date": int(time.time()) if date is None else date,
            **fields,
        }
        return {"update_id": next(self._update_ids), "message": message}

    def user_says(self, chat_id: int | str, text: str, **kwargs) -> int:
        update = self.message_update(chat_id, text=text, **kwargs)
        if text.startswith("/"):
            command = text.split()[0]
            update["message"]["entities"] = [
                {"offset": 0, "length": len(command), "type": "bot_command"}
            ]
        return self.post_update(update)

    def user_starts(self, chat_id: int | str, param: str = "", **kwargs) -> int:
        """What pressing Start after a ``t.me/<bot>?start=<param>`` link sends."""
        return self.user_says(chat_id, f"/start {param}".strip(), **kwargs)

    def user_sends_photo(
        self, chat_id: int | str, content: bytes, *, caption: str = "", **kwargs
    ) -> int:
        big = self.add_file(content, mime_type="image/jpeg", file_name="photo.jpg", kind="photos")
        small = self.add_file(content[: max(1, len(content) // 4)], kind="photos")
        sizes = [
            {
                **{k: small[k] for k in ("file_id", "file_unique_id", "file_size")},
                "width": 90,
                "height": 67,
            },
            {
                **{k: big[k] for k in ("file_id", "file_unique_id", "file_size")},
                "width": 1280,
                "height": 960,
            },
        ]
        fields: dict[str, Any] = {"photo": sizes}
        if caption:
            fields["caption"] = caption
        return self.post_update(self.message_update(chat_id, **fields, **kwargs))

    def user_sends_document(
        self,
        chat_id: int | str,
        content: bytes,
        *,
        file_name: str,
        mime_type: str,
        caption: str = "",
        **kwargs,
    ) -> int:
        document = self.add_file(content, mime_type=mime_type, file_name=file_name)
        fields: dict[str, Any] = {"document": document}
        if caption:
            fields["caption"] = caption
        return self.post_update(self.message_update(chat_id, **fields, **kwargs))

    def user_shares_contact(
        self, chat_id: int | str, phone_number: str, *, own: bool = True, **kwargs
    ) -> int:
        """A contact; `own`: the user's own (a "share my phone number" button)."""
        user = self._user(chat_id, kwargs.get("first_name"))
        contact: dict[str, Any] = {
            "phone_number": phone_number,
            "first_name": user["first_name"] if own else "Someone",
        }
        if own:
            contact["user_id"] = user["id"]
        return self.post_update(self.message_update(chat_id, contact=contact, **kwargs))

    def user_presses(self, chat_id: int | str, data: str, *, first_name: str | None = None) -> int:
        """A press on an inline button of the bot's last message (a ``callback_query``)."""
        user = self._user(chat_id, first_name)
        with self._lock:
            last = next(
                (m for m in reversed(self.sent) if str(m["chat"]["id"]) == str(chat_id)), None
            )
        message = last or {
            "message_id": next(self._message_ids),
            "chat": {"id": int(chat_id), "type": "private"},
            "date": int(time.time()),
            "text": "…",
        }
        update = {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": str(secrets.randbelow(10**18)),
                "from": user,
                "message": message,
                "chat_instance": str(secrets.randbelow(10**18)),
                "data": data,
            },
        }
        return self.post_update(update)

    # --- webhook delivery -------------------------------------------------------------------------
    def webhook_headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        with self._lock:
            secret = (self.webhook or {}).get("secret_token")
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return headers

    def post_update(self, update: dict[str, Any]) -> int:
        """POST one update to the registered webhook, as Telegram does; the HTTP status."""
        with self._lock:
            hook = dict(self.webhook or {})
        if not hook:
            raise RuntimeError("no webhook registered (setWebhook)")
        body = json.dumps(update).encode()
        headers = self.webhook_headers()
        status, error, answer = 0, "", b""
        try:
            if self.deliver is not None:
                status = self.deliver(hook["url"], body, headers)
            else:
                import httpx

                response = httpx.post(hook["url"], content=body, headers=headers, timeout=10)
                status, answer = response.status_code, response.content
        except Exception as exc:  # noqa: BLE001 - recorded; Telegram would retry later
            error = str(exc)
        with self._lock:
            self.deliveries.append(
                {
                    "url": hook["url"],
                    "update": update,
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
        prog="python -m slotwise.messaging.fakes.telegram",
        description="A local fake of the Telegram Bot API.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--bot-username", default=DEFAULT_BOT_USERNAME)
    parser.add_argument(
        "--webhook-url", default="", help="register this webhook at start (as setWebhook would)"
    )
    parser.add_argument("--webhook-secret", default=DEFAULT_WEBHOOK_SECRET)
    parser.add_argument("--env-prefix", default="TELEGRAM")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    fake = TelegramFake(
        host=args.host,
        port=args.port,
        token=args.token,
        bot_username=args.bot_username,
        verbose=args.verbose,
    ).start()
    if args.webhook_url:
        fake.webhook = {
            "url": args.webhook_url,
            "secret_token": args.webhook_secret,
            "allowed_updates": [],
        }
    print(f"# Telegram fake: {fake.api_url}")
    for key, value in fake.env(args.env_prefix, args.webhook_secret).items():
        print(f"export {key}={value}")
    print(
        f"# ChannelConfig settings for kind 'telegram':\n# {json.dumps(fake.settings(args.env_prefix))}"
    )
    print(
        f"# a user writes: curl -X POST {fake.api_url}/__fake__/say "
        '-d \'{"chat_id": 1001, "text": "Hi"}\''
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
