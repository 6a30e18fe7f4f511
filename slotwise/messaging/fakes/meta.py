"""A local fake of Meta's Graph API for WhatsApp (Cloud API) and Instagram messaging, for tests
and the demo (ARCHITECTURE rule 1): a ThreadingHTTPServer on 127.0.0.1 that speaks the part of
the documented API the two channels use, closely enough that the real adapters work unchanged.

Endpoints (any version prefix ``/vNN.N``; ``Authorization: Bearer <token>`` or ``access_token``
in the query; a missing token is Graph's 400 code 2500, a wrong one 401 code 190):

- ``POST /{v}/{phone_number_id}/messages`` — JSON as documented (``messaging_product:
  whatsapp``, ``to``, ``type`` text | template | image | document | audio | video | sticker |
  interactive | reaction | location, and the object of that type), validated the way the Cloud
  API does (body ≤ 4096, caption ≤ 1024 and not on audio, ``link`` http(s) or a known media
  ``id``, template name + language code and text parameters, 1–3 reply buttons with unique
  titles ≤ 20 and ids ≤ 256). Answers ``{"messaging_product": "whatsapp", "contacts": [{"input",
  "wa_id"}], "messages": [{"id": "wamid.…"}]}``. No idempotency key: like the real API, the
  same request twice sends two messages.
- ``POST /{v}/{phone_number_id}/media`` — multipart upload (``file``, ``type``,
  ``messaging_product``) → ``{"id"}``.
- ``GET /{v}/{media_id}`` → ``{"messaging_product", "url", "mime_type", "sha256", "file_size",
  "id"}``; the ``url`` (``/whatsapp_business/attachments/?mid=…``) serves the bytes to the same
  token only.
- ``POST /{v}/{waba_id}/subscribed_apps`` with ``override_callback_uri`` + ``verify_token`` —
  verifies the URL with the GET handshake first (error 2200 if it does not echo), then sends
  that account's webhooks there.
- ``POST /{v}/me/messages`` and ``/{v}/{ig_user_id}/messages`` — Instagram: ``recipient.id`` and
  ``message`` with ``text`` (≤ 1000 bytes, optional ``quick_replies`` ≤ 13, titles ≤ 20) or
  ``attachment {type: image|video|audio|file, payload: {url}}`` → ``{"recipient_id",
  "message_id"}``.
- ``GET /ig_messaging_cdn/?asset_id=…`` — Instagram attachment bytes (no token, as the CDN).

Errors use Graph's shape ``{"error": {"message", "type", "code", "error_subcode",
"error_data": {"messaging_product", "details"}, "fbtrace_id"}}``. ``fail_next("auth" |
"rate_limit" | "pair_rate_limit" | "server" | "unavailable" | "undeliverable" | (status, error))``
makes the next API call(s) fail that way.

**Not on WhatsApp.** Numbers in ``not_on_whatsapp`` are, like at Meta, accepted (200 with a
wamid) and then answered by a ``failed`` status webhook with error 131026; with
``undeliverable="error"`` the send itself fails with that error instead. ``enforce_window=True``
treats a free-form message to a number that has not written in 24 hours the same way (131047).
Other messages get the ``auto_statuses`` (e.g. sent, delivered) as status webhooks.

**Webhooks** are the documented payloads (``object: whatsapp_business_account`` /
``instagram``), signed ``X-Hub-Signature-256: sha256=HMAC-SHA256(app secret, body)``. Builders
return them (``whatsapp_text(...)``, ``whatsapp_media(...)``, ``whatsapp_button_reply(...)``,
``whatsapp_status(...)``, ``instagram_text(...)``, ``instagram_attachment(...)``,
``instagram_read(...)``); ``deliver(payload)`` signs and sends one at once; events the API
calls cause wait in ``outbox`` until ``flush()`` (or go out by themselves with
``auto_deliver=True``). Delivery goes through ``webhook_sender(url, body, headers) -> status``
when set (tests post with Django's test client), else an HTTP POST to ``webhook_url`` /
``instagram_webhook_url``. Everything received is in ``requests``; the state is guarded by one
lock.

Command line (the demo; prints the environment variables and channel settings to use)::

    python -m slotwise.messaging.fakes.meta --port 8899 \\
        --webhook-url http://127.0.0.1:8000/messaging/inbound/whatsapp/<inbound key>/ \\
        --instagram-webhook-url http://127.0.0.1:8000/messaging/inbound/instagram/<key>/

and, to be the customer: ``curl -X POST 127.0.0.1:8899/__fake__/whatsapp/inbound -d
'{"from": "46701234567", "name": "Anna", "text": "Hej!"}'`` (``/__fake__/instagram/inbound``
likewise with an IGSID); ``GET /__fake__/requests`` lists what the API received.
"""

from __future__ import annotations

import argparse
import base64
import copy
import email.policy
import hashlib
import hmac
import json
import re
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

DEFAULT_ACCESS_TOKEN = "EAAG-fake-meta-access-token"
DEFAULT_APP_SECRET = "fake-meta-app-secret"
DEFAULT_VERIFY_TOKEN = "fake-meta-verify-token"
DEFAULT_PHONE_NUMBER_ID = "106540352242922"
DEFAULT_DISPLAY_PHONE_NUMBER = "15550783881"
DEFAULT_WABA_ID = "102290129340398"
DEFAULT_IG_USER_ID = "17841405309211844"
ERROR_CODES_URL = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

_VERSION = re.compile(r"^v\d+\.\d+$")
_WA_TYPES = {
    "text",
    "template",
    "image",
    "document",
    "audio",
    "video",
    "sticker",
    "interactive",
    "reaction",
    "location",
    "contacts",
}
_MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
_IG_ATTACHMENTS = ("image", "video", "audio", "file")

#: canned failures for fail_next(): HTTP status and the Graph error object.
FAILURES: dict[str, tuple[int, dict[str, Any]]] = {
    "auth": (
        401,
        {
            "message": "Error validating access token: Session has expired on Tuesday, "
            "01-Jan-30 00:00:00 PST.",
            "type": "OAuthException",
            "code": 190,
            "error_subcode": 463,
        },
    ),
    "rate_limit": (
        429,
        {
            "message": "(#130429) Rate limit hit",
            "type": "OAuthException",
            "code": 130429,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": "Cloud API message throughput has been reached.",
            },
        },
    ),
    "pair_rate_limit": (
        400,
        {
            "message": "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            "type": "OAuthException",
            "code": 131056,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": "Message failed to send because there were too many messages sent "
                "from this phone number to the same phone number in a short period of time.",
            },
        },
    ),
    "server": (
        500,
        {
            "message": "(#131000) Something went wrong",
            "type": "OAuthException",
            "code": 131000,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": "Message failed to send due to an unknown error.",
            },
        },
    ),
    "unavailable": (503, {}),  # a proxy's answer: no Graph JSON at all
    "undeliverable": (
        400,
        {
            "message": "(#131026) Message undeliverable",
            "type": "OAuthException",
            "code": 131026,
            "error_data": {"messaging_product": "whatsapp", "details": "Message Undeliverable."},
        },
    ),
    "window": (
        400,
        {
            "message": "(#10) This message is sent outside of allowed window.",
            "type": "OAuthException",
            "code": 10,
            "error_subcode": 2018278,
        },
    ),
}

_STATUS_ERRORS = {
    131026: ("Message undeliverable", "Message Undeliverable."),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
}


class GraphError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: int = 100,
        subcode: int | None = None,
        details: str = "",
        type: str = "OAuthException",  # noqa: A002
        whatsapp: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        error: dict[str, Any] = {"message": message, "type": type, "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        if details:
            error["error_data"] = {"details": details}
            if whatsapp:
                error["error_data"] = {"messaging_product": "whatsapp", "details": details}
        error["fbtrace_id"] = _trace()
        self.body = {"error": error}


def _trace() -> str:
    return "A" + base64.urlsafe_b64encode(secrets.token_bytes(15)).decode().rstrip("=")


def _wamid() -> str:
    raw = b"\x15\x02\x00\x11\x18\x12" + secrets.token_bytes(24)
    return "wamid.HBgL" + base64.b64encode(raw).decode().rstrip("=")


def _ig_mid() -> str:
    raw = b"ig_message_item:1:IGMessageThread:" + secrets.token_hex(20).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _numeric_id() -> str:
    return str(10**15 + secrets.randbelow(9 * 10**15))


def _invalid(details: str, *, code: int = 100, whatsapp: bool = True) -> GraphError:
    message = (
        "(#100) Invalid parameter" if code == 100 else "(#131009) Parameter value is not valid"
    )
    return GraphError(400, message, code=code, details=details, whatsapp=whatsapp)


def _required(details: str, *, whatsapp: bool = True) -> GraphError:
    return GraphError(
        400,
        "(#131008) Required parameter is missing" if whatsapp else f"(#100) {details}",
        code=131008 if whatsapp else 100,
        details=details,
        whatsapp=whatsapp,
    )


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and urlsplit(value).scheme in ("http", "https")


def sign(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


class MetaFake:
    def __init__(
        self,
        *,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        app_secret: str = DEFAULT_APP_SECRET,
        verify_token: str = DEFAULT_VERIFY_TOKEN,
        phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
        display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
        waba_id: str = DEFAULT_WABA_ID,
        ig_user_id: str = DEFAULT_IG_USER_ID,
        webhook_url: str = "",
        instagram_webhook_url: str = "",
        not_on_whatsapp: Iterable[str] = (),
        undeliverable: str = "status",
        enforce_window: bool = False,
        auto_statuses: Iterable[str] = (),
        auto_deliver: bool = False,
        templates: dict[str, dict[str, int]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if undeliverable not in ("status", "error"):
            raise ValueError("undeliverable must be 'status' or 'error'")
        self.access_token = access_token
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.phone_number_id = phone_number_id
        self.display_phone_number = display_phone_number
        self.waba_id = waba_id
        self.ig_user_id = ig_user_id
        self.webhook_url = webhook_url
        self.instagram_webhook_url = instagram_webhook_url
        self.not_on_whatsapp = {re.sub(r"\D", "", n) for n in not_on_whatsapp}
        self.undeliverable = undeliverable
        self.enforce_window = enforce_window
        self.auto_statuses = tuple(auto_statuses)
        self.auto_deliver = auto_deliver
        #: name → {language code: number of body parameters}; None accepts any template.
        self.templates = templates
        self.host, self.port = host, port
        self.webhook_sender: Callable[[str, bytes, dict[str, str]], int] | None = None
        self.lock = threading.RLock()
        self.requests: list[dict[str, Any]] = []
        self.whatsapp_sent: dict[str, dict[str, Any]] = {}  # wamid → {"to", "payload"}
        self.instagram_sent: dict[str, dict[str, Any]] = {}  # mid → {"recipient", "message"}
        self.media: dict[str, dict[str, Any]] = {}  # media id → content, mime_type, sha256 …
        self.cdn: dict[str, dict[str, Any]] = {}  # Instagram asset id → content, mime_type
        self.last_inbound: dict[str, float] = {}  # wa_id → when they last wrote
        self.callback_override = ""
        self.outbox: list[tuple[str, dict[str, Any]]] = []  # (channel, payload)
        self.delivered: list[tuple[str, dict[str, Any], int]] = []  # (url, payload, status)
        self._failures: list[tuple[int, dict[str, Any]]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- server -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MetaFake:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() returns within 50 ms
            name="fake-meta",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> MetaFake:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- what the channels need ---------------------------------------------------------------
    def env(self, prefix: str = "META") -> dict[str, str]:
        """Environment variables holding the fake's secrets."""
        return {
            f"{prefix}_ACCESS_TOKEN": self.access_token,
            f"{prefix}_APP_SECRET": self.app_secret,
            f"{prefix}_VERIFY_TOKEN": self.verify_token,
        }

    def whatsapp_settings(self, prefix: str = "META") -> dict[str, str]:
        """`ChannelConfig.settings` for kind "whatsapp" against this fake."""
        return {
            "phone_number_id": self.phone_number_id,
            "waba_id": self.waba_id,
            "graph_url": self.url,
            "api_version": "v21.0",
            "access_token_env": f"{prefix}_ACCESS_TOKEN",
            "app_secret_env": f"{prefix}_APP_SECRET",
            "verify_token_env": f"{prefix}_VERIFY_TOKEN",
        }

    def instagram_settings(self, prefix: str = "META") -> dict[str, str]:
        return {
            "ig_user_id": self.ig_user_id,
            "graph_url": self.url,
            "api_version": "v21.0",
            "access_token_env": f"{prefix}_ACCESS_TOKEN",
            "app_secret_env": f"{prefix}_APP_SECRET",
            "verify_token_env": f"{prefix}_VERIFY_TOKEN",
        }

    # --- control ------------------------------------------------------------------------------
    def fail_next(
        self, kind: str | tuple[int, dict[str, Any]] = "server", *, times: int = 1
    ) -> None:
        """Answer the next `times` API calls with a canned failure (see FAILURES) or (HTTP
        status, Graph error object)."""
        status, error = FAILURES[kind] if isinstance(kind, str) else kind
        with self.lock:
            self._failures.extend([(status, copy.deepcopy(error))] * times)

    def add_media(
        self, content: bytes, mime_type: str, *, filename: str = "", media_id: str = ""
    ) -> str:
        """Store a file as if a customer had sent it on WhatsApp; its media id (`media_id` to
        serve a recorded fixture's id)."""
        media_id = media_id or _numeric_id()
        with self.lock:
            self.media[media_id] = {
                "content": content,
                "mime_type": mime_type,
                "sha256": hashlib.sha256(content).hexdigest(),
                "file_size": len(content),
                "filename": filename,
            }
        return media_id

    def add_instagram_asset(self, content: bytes, mime_type: str, *, asset_id: str = "") -> str:
        """Store a file as if a customer had sent it on Instagram; its CDN URL."""
        asset_id = asset_id or _numeric_id()
        with self.lock:
            self.cdn[asset_id] = {"content": content, "mime_type": mime_type}
        signature = secrets.token_hex(16)
        return f"{self.url}/ig_messaging_cdn/?asset_id={asset_id}&signature={signature}"

    # --- HTTP entry point ---------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        headers = {k.lower(): v for k, v in headers.items()}
        params = dict(parse_qsl(query, keep_blank_values=True))
        record: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": params,
            "content_type": headers.get("content-type", ""),
            "time": time.time(),
        }
        try:
            if path.startswith("/__fake__/"):
                record["json"] = _loads(body)
                self._record(record)
                return self._control(method, path, record["json"])
            if path.startswith("/ig_messaging_cdn/"):
                record["token"] = self._token(headers, params)  # none expected: a signed URL
                self._record(record)
                return self._cdn(params)
            token = self._token(headers, params)
            record["token"] = token
            if path.startswith("/whatsapp_business/attachments/"):
                self._record(record)
                self._authenticate(token)
                return self._attachment(params)
            parsed: Any = None
            if method == "POST":
                if headers.get("content-type", "").startswith("multipart/form-data"):
                    parsed = _multipart(body, headers["content-type"])
                    record["form"] = {
                        k: v if isinstance(v, str) else {"filename": v[0], "type": v[1]}
                        for k, v in parsed.items()
                    }
                else:
                    parsed = _loads(body)
                    record["json"] = parsed
            self._record(record)
            self._authenticate(token)
            with self.lock:
                failure = self._failures.pop(0) if self._failures else None
            if failure is not None:
                status, error = failure
                if not error:
                    return status, "text/html", b"<html><body>Service Unavailable</body></html>"
                error = {**error, "fbtrace_id": _trace()}
                return status, "application/json", _dumps({"error": error})
            result = self._route(method, path, parsed)
            return 200, "application/json", _dumps(result)
        except GraphError as exc:
            return exc.status, "application/json", _dumps(exc.body)

    def _record(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(record)

    @staticmethod
    def _token(headers: dict[str, str], params: dict[str, str]) -> str:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            return credential.strip()
        return params.get("access_token", "")

    def _authenticate(self, token: str) -> None:
        if not token:
            raise GraphError(
                400,
                "An active access token must be used to query information about the current user.",
                code=2500,
            )
        if not hmac.compare_digest(token, self.access_token):
            raise GraphError(
                401, "Invalid OAuth access token - Cannot parse access token", code=190
            )

    def _route(self, method: str, path: str, body: Any) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        if not parts or not _VERSION.match(parts[0]):
            raise GraphError(400, "Unknown path components: /" + path.strip("/"), code=2500)
        parts = parts[1:]
        if method == "POST" and len(parts) == 2 and parts[1] == "messages":
            if parts[0] == self.phone_number_id:
                return self._whatsapp_send(body)
            if parts[0] in ("me", self.ig_user_id):
                return self._instagram_send(body)
        if method == "POST" and parts == [self.phone_number_id, "media"]:
            return self._upload(body)
        if method == "POST" and parts == [self.waba_id, "subscribed_apps"]:
            return self._subscribe(body)
        if method == "GET" and len(parts) == 1 and parts[0] in self.media:
            return self._media_info(parts[0])
        object_id = parts[0] if parts else ""
        raise GraphError(
            400,
            f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation.",
            code=100,
            subcode=33,
            type="GraphMethodException",
        )

    # --- WhatsApp -----------------------------------------------------------------------------
    def _whatsapp_send(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object.")
        if body.get("messaging_product") != "whatsapp":
            raise _required("The parameter messaging_product is required.")
        if body.get("recipient_type", "individual") != "individual":
            raise _invalid("recipient_type must be 'individual'.")
        to = body.get("to")
        if not isinstance(to, str) or not to.strip():
            raise _required("The parameter to is required.")
        wa_id = re.sub(r"\D", "", to)
        if not 7 <= len(wa_id) <= 15:
            raise _invalid(f"'{to}' is not a valid WhatsApp business account phone number.")
        kind = body.get("type", "text")
        if kind not in _WA_TYPES:
            raise _invalid(f"Param type must be one of {sorted(_WA_TYPES)}.", code=131009)
        obj = body.get(kind)
        if not isinstance(obj, dict):
            raise _required(f"The parameter {kind} is required.")
        self._validate_whatsapp(kind, obj)
        undeliverable = wa_id in self.not_on_whatsapp
        if undeliverable and self.undeliverable == "error":
            status, error = FAILURES["undeliverable"]
            raise GraphError(
                status,
                error["message"],
                code=error["code"],
                details=error["error_data"]["details"],
            )
        wamid = _wamid()
        with self.lock:
            self.whatsapp_sent[wamid] = {"to": wa_id, "payload": copy.deepcopy(body)}
            wrote = self.last_inbound.get(wa_id)
            outside = kind != "template" and (wrote is None or time.time() - wrote > 24 * 3600)
            if undeliverable:
                self._queue("whatsapp", self.whatsapp_status(wamid, "failed", wa_id, error=131026))
            elif self.enforce_window and outside:
                self._queue("whatsapp", self.whatsapp_status(wamid, "failed", wa_id, error=131047))
            else:
                for status in self.auto_statuses:
                    self._queue("whatsapp", self.whatsapp_status(wamid, status, wa_id))
        message: dict[str, Any] = {"id": wamid}
        if kind == "template":
            message["message_status"] = "accepted"
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": wa_id}],
            "messages": [message],
        }

    def _validate_whatsapp(self, kind: str, obj: dict[str, Any]) -> None:
        if kind == "text":
            text = obj.get("body")
            if not isinstance(text, str) or not text:
                raise _required("The parameter text['body'] is required.")
            if len(text) > 4096:
                raise _invalid("Param text['body'] must be at most 4096 characters long.")
        elif kind in _MEDIA_TYPES:
            link, media_id = obj.get("link"), obj.get("id")
            if bool(link) == bool(media_id):
                raise _invalid(f"Param {kind} must have exactly one of 'link' or 'id'.")
            if link and not _is_url(link):
                raise _invalid(f"Param {kind}['link'] is not a valid URL.", code=131009)
            if media_id and str(media_id) not in self.media:
                raise _invalid(f"Param {kind}['id'] is not a valid media id.", code=131009)
            if "caption" in obj:
                if kind in ("audio", "sticker"):
                    raise _invalid(f"Param {kind}['caption'] is not allowed.", code=131009)
                if len(str(obj["caption"])) > 1024:
                    raise _invalid(f"Param {kind}['caption'] must be at most 1024 characters.")
            if "filename" in obj and kind != "document":
                raise _invalid(f"Param {kind}['filename'] is not allowed.", code=131009)
        elif kind == "template":
            self._validate_template(obj)
        elif kind == "interactive":
            self._validate_interactive(obj)

    def _validate_template(self, obj: dict[str, Any]) -> None:
        name = obj.get("name")
        language = obj.get("language")
        if not isinstance(name, str) or not name:
            raise _required("The parameter template['name'] is required.")
        if not isinstance(language, dict) or not language.get("code"):
            raise _required("The parameter template['language']['code'] is required.")
        count = 0
        components = obj.get("components", [])
        if not isinstance(components, list):
            raise _invalid("Param template['components'] must be a list.")
        for component in components:
            if not isinstance(component, dict) or component.get("type") not in (
                "header",
                "body",
                "button",
            ):
                raise _invalid("Param template['components'][]['type'] is not valid.")
            parameters = component.get("parameters", [])
            if not isinstance(parameters, list):
                raise _invalid("Param template['components'][]['parameters'] must be a list.")
            for parameter in parameters:
                if not isinstance(parameter, dict) or parameter.get("type") not in (
                    "text",
                    "currency",
                    "date_time",
                    "image",
                    "document",
                    "video",
                    "payload",
                ):
                    raise _invalid("Param parameters[]['type'] is not valid.", code=131009)
                if parameter["type"] == "text" and not isinstance(parameter.get("text"), str):
                    raise _required("The parameter parameters[]['text'] is required.")
            if component["type"] == "body":
                count += len(parameters)
        if self.templates is not None:
            languages = self.templates.get(name, {})
            if language["code"] not in languages:
                raise GraphError(
                    404,
                    "(#132001) Template name does not exist in the translation",
                    code=132001,
                    details=f"template name ({name}) does not exist in {language['code']}",
                )
            if languages[language["code"]] != count:
                raise GraphError(
                    400,
                    "(#132000) Number of parameters does not match the expected number of params",
                    code=132000,
                    details=f"body: number of localizable_params ({count}) does not match the "
                    f"expected number of params ({languages[language['code']]})",
                )

    @staticmethod
    def _validate_interactive(obj: dict[str, Any]) -> None:
        kind = obj.get("type")
        if kind not in ("button", "list", "cta_url"):
            raise _invalid("Param interactive['type'] is not valid.", code=131009)
        body = obj.get("body")
        if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"]:
            raise _required("The parameter interactive['body']['text'] is required.")
        if len(body["text"]) > 1024:
            raise _invalid("Param interactive['body']['text'] must be at most 1024 characters.")
        action = obj.get("action")
        if not isinstance(action, dict):
            raise _required("The parameter interactive['action'] is required.")
        if kind != "button":
            return
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise _invalid(
                "Param interactive['action']['buttons'] must have between 1 and 3 elements.",
                code=131009,
            )
        ids, titles = set(), set()
        for button in buttons:
            reply = button.get("reply") if isinstance(button, dict) else None
            if button.get("type") != "reply" or not isinstance(reply, dict):
                raise _invalid("Param interactive['action']['buttons'][]['type'] must be reply.")
            button_id, title = reply.get("id"), reply.get("title")
            if not isinstance(button_id, str) or not 1 <= len(button_id) <= 256:
                raise _invalid("Button id must be 1 to 256 characters.", code=131009)
            if not isinstance(title, str) or not 1 <= len(title) <= 20:
                raise _invalid("Button title length is invalid (1 to 20).", code=131009)
            if button_id in ids or title in titles:
                raise _invalid("Buttons must have unique ids and titles.", code=131009)
            ids.add(button_id)
            titles.add(title)

    def _upload(self, form: Any) -> dict[str, Any]:
        if not isinstance(form, dict) or form.get("messaging_product") != "whatsapp":
            raise _required("The parameter messaging_product is required.")
        file = form.get("file")
        if not isinstance(file, tuple):
            raise _required("The parameter file is required.")
        filename, content_type, content = file
        mime_type = form.get("type") if isinstance(form.get("type"), str) else content_type
        return {"id": self.add_media(content, mime_type or content_type, filename=filename)}

    def _media_info(self, media_id: str) -> dict[str, Any]:
        with self.lock:
            media = self.media[media_id]
            query = urlencode(
                {"mid": media_id, "ext": int(time.time()), "hash": secrets.token_hex(12)}
            )
            return {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/whatsapp_business/attachments/?{query}",
                "mime_type": media["mime_type"],
                "sha256": media["sha256"],
                "file_size": str(media["file_size"]),
                "id": media_id,
            }

    def _attachment(self, params: dict[str, str]) -> tuple[int, str, bytes]:
        with self.lock:
            media = self.media.get(params.get("mid", ""))
        if media is None:
            raise GraphError(404, "(#100) Media not found", code=100, subcode=33)
        return 200, media["mime_type"], media["content"]

    def _cdn(self, params: dict[str, str]) -> tuple[int, str, bytes]:
        with self.lock:
            asset = self.cdn.get(params.get("asset_id", ""))
        if asset is None:
            return 404, "text/plain", b"URL signature expired"
        return 200, asset["mime_type"], asset["content"]

    def _subscribe(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object.", whatsapp=False)
        url, token = body.get("override_callback_uri"), body.get("verify_token")
        if url is None:
            with self.lock:
                self.callback_override = ""
            return {"success": True}
        if not _is_url(url) or not token:
            raise _invalid(
                "override_callback_uri and verify_token are required together.", whatsapp=False
            )
        if not self.verify(url, verify_token=str(token)):
            raise GraphError(
                400,
                "(#2200) Callback verification failed with the following errors: "
                "HTTP Status Code = 403; HTTP Message = Forbidden",
                code=2200,
                whatsapp=False,
            )
        with self.lock:
            self.callback_override = url
        return {"success": True}

    # --- Instagram ----------------------------------------------------------------------------
    def _instagram_send(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object.", whatsapp=False)
        recipient = body.get("recipient")
        if not isinstance(recipient, dict) or not recipient.get("id"):
            raise GraphError(400, "(#100) The parameter recipient is required", code=100)
        message = body.get("message")
        if not isinstance(message, dict):
            raise GraphError(400, "(#100) The parameter message is required", code=100)
        text, attachment = message.get("text"), message.get("attachment")
        if bool(text) == bool(attachment):
            raise GraphError(
                400, "(#100) Message must have exactly one of text or attachment", code=100
            )
        if text is not None:
            if not isinstance(text, str) or len(text.encode()) > 1000:
                raise GraphError(
                    400,
                    "(#100) Length of param message[text] must be less than or equal to 1000",
                    code=100,
                )
        if attachment is not None:
            if not isinstance(attachment, dict) or attachment.get("type") not in _IG_ATTACHMENTS:
                raise GraphError(400, "(#100) Param message[attachment][type] is invalid", code=100)
            if not _is_url(_dict(attachment.get("payload")).get("url")):
                raise GraphError(
                    400, "(#100) Param message[attachment][payload][url] is invalid", code=100
                )
        replies = message.get("quick_replies")
        if replies is not None:
            if not isinstance(replies, list) or not 1 <= len(replies) <= 13:
                raise GraphError(
                    400, "(#100) param quick_replies must have 1 to 13 items", code=100
                )
            for reply in replies:
                reply = _dict(reply)
                title = reply.get("title")
                if reply.get("content_type") != "text" or not isinstance(title, str):
                    raise GraphError(400, "(#100) quick_replies[][title] is required", code=100)
                if len(title) > 20 or not reply.get("payload"):
                    raise GraphError(
                        400, "(#100) Invalid quick reply (title ≤ 20, payload)", code=100
                    )
        mid = _ig_mid()
        with self.lock:
            self.instagram_sent[mid] = {
                "recipient": str(recipient["id"]),
                "message": copy.deepcopy(message),
            }
        return {"recipient_id": str(recipient["id"]), "message_id": mid}

    # --- webhooks: the documented payloads ----------------------------------------------------
    def _whatsapp_envelope(self, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": self.waba_id,
                    "changes": [
                        {
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": self.display_phone_number,
                                    "phone_number_id": self.phone_number_id,
                                },
                                **value,
                            },
                            "field": "messages",
                        }
                    ],
                }
            ],
        }

    def _whatsapp_inbound(
        self,
        sender: str,
        name: str,
        kind: str,
        content: dict[str, Any],
        *,
        timestamp: float | None = None,
        wamid: str = "",
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        wa_id = re.sub(r"\D", "", sender)
        when = time.time() if timestamp is None else timestamp
        with self.lock:
            self.last_inbound[wa_id] = max(self.last_inbound.get(wa_id, 0), when)
        message: dict[str, Any] = {
            "from": wa_id,
            "id": wamid or _wamid(),
            "timestamp": str(int(when)),
        }
        if context:
            message["context"] = context
        message["type"] = kind
        message.update(content)
        return self._whatsapp_envelope(
            {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]}
        )

    def whatsapp_text(
        self,
        sender: str,
        text: str,
        *,
        name: str = "",
        timestamp: float | None = None,
        wamid: str = "",
    ) -> dict[str, Any]:
        return self._whatsapp_inbound(
            sender, name, "text", {"text": {"body": text}}, timestamp=timestamp, wamid=wamid
        )

    def whatsapp_media(
        self,
        sender: str,
        content: bytes,
        mime_type: str,
        *,
        kind: str = "image",
        caption: str = "",
        filename: str = "",
        name: str = "",
        timestamp: float | None = None,
    ) -> dict[str, Any]:
        """A customer's file: stored in the fake (served by GET /{media_id}) and announced."""
        media_id = self.add_media(content, mime_type, filename=filename)
        obj: dict[str, Any] = {}
        if caption:
            obj["caption"] = caption
        if filename and kind == "document":
            obj["filename"] = filename
        obj.update(
            {"mime_type": mime_type, "sha256": hashlib.sha256(content).hexdigest(), "id": media_id}
        )
        if kind == "audio":
            obj["voice"] = False
        return self._whatsapp_inbound(sender, name, kind, {kind: obj}, timestamp=timestamp)

    def whatsapp_button_reply(
        self,
        sender: str,
        button_id: str,
        title: str,
        *,
        name: str = "",
        replying_to: str = "",
        timestamp: float | None = None,
    ) -> dict[str, Any]:
        context = {"from": self.display_phone_number, "id": replying_to} if replying_to else None
        return self._whatsapp_inbound(
            sender,
            name,
            "interactive",
            {
                "interactive": {
                    "type": "button_reply",
                    "button_reply": {"id": button_id, "title": title},
                }
            },
            timestamp=timestamp,
            context=context,
        )

    def whatsapp_status(
        self,
        wamid: str,
        status: str,
        recipient: str = "",
        *,
        error: int | None = None,
        timestamp: float | None = None,
    ) -> dict[str, Any]:
        """A status webhook for a message we were sent (``sent``, ``delivered``, ``read`` or
        ``failed`` with `error`, e.g. 131026)."""
        with self.lock:
            sent = self.whatsapp_sent.get(wamid, {})
        item: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(int(time.time() if timestamp is None else timestamp)),
            "recipient_id": recipient or sent.get("to", ""),
        }
        if status == "failed":
            code = error or 131026
            title, details = _STATUS_ERRORS.get(code, ("Something went wrong", "Unknown error."))
            item["errors"] = [
                {
                    "code": code,
                    "title": title,
                    "message": title,
                    "error_data": {"details": details},
                    "href": ERROR_CODES_URL,
                }
            ]
        else:
            if status in ("sent", "delivered"):
                item["conversation"] = {
                    "id": secrets.token_hex(16),
                    "expiration_timestamp": str(int(time.time()) + 24 * 3600),
                    "origin": {"type": "service"},
                }
            item["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
        return self._whatsapp_envelope({"statuses": [item]})

    def _instagram_envelope(self, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "instagram",
            "entry": [
                {"id": self.ig_user_id, "time": int(time.time() * 1000), "messaging": [item]}
            ],
        }

    def _instagram_item(self, sender: str, timestamp: float | None) -> dict[str, Any]:
        when = time.time() if timestamp is None else timestamp
        return {
            "sender": {"id": sender},
            "recipient": {"id": self.ig_user_id},
            "timestamp": int(when * 1000),
        }

    def instagram_text(
        self, sender: str, text: str, *, timestamp: float | None = None, mid: str = ""
    ) -> dict[str, Any]:
        item = self._instagram_item(sender, timestamp)
        item["message"] = {"mid": mid or _ig_mid(), "text": text}
        return self._instagram_envelope(item)

    def instagram_attachment(
        self,
        sender: str,
        content: bytes,
        mime_type: str,
        *,
        kind: str = "image",
        timestamp: float | None = None,
    ) -> dict[str, Any]:
        url = self.add_instagram_asset(content, mime_type)
        item = self._instagram_item(sender, timestamp)
        item["message"] = {
            "mid": _ig_mid(),
            "attachments": [{"type": kind, "payload": {"url": url}}],
        }
        return self._instagram_envelope(item)

    def instagram_read(
        self, sender: str, mid: str, *, timestamp: float | None = None
    ) -> dict[str, Any]:
        item = self._instagram_item(sender, timestamp)
        item["read"] = {"mid": mid}
        return self._instagram_envelope(item)

    # --- delivery -----------------------------------------------------------------------------
    @staticmethod
    def body(payload: dict[str, Any]) -> bytes:
        """The bytes Meta posts (compact JSON, non-ASCII escaped as Meta does)."""
        return json.dumps(payload, separators=(",", ":")).encode()

    def headers(self, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "User-Agent": "facebookexternalua",
            "X-Hub-Signature-256": sign(body, self.app_secret),
        }

    def _target(self, channel: str) -> str:
        if channel == "instagram":
            return self.instagram_webhook_url
        return self.callback_override or self.webhook_url

    def deliver(self, payload: dict[str, Any], *, channel: str = "") -> int:
        """Sign and send one webhook now; the HTTP status the receiver answered (0: no
        receiver or unreachable)."""
        channel = channel or ("instagram" if payload.get("object") == "instagram" else "whatsapp")
        url = self._target(channel)
        body = self.body(payload)
        headers = self.headers(body)
        if self.webhook_sender is not None:
            status = self.webhook_sender(url, body, headers)
        elif url:
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = 0
        else:
            return 0
        with self.lock:
            self.delivered.append((url, payload, status))
        return status

    def _queue(self, channel: str, payload: dict[str, Any]) -> None:
        with self.lock:
            self.outbox.append((channel, payload))
        if self.auto_deliver:
            threading.Timer(0.3, self.flush).start()

    def flush(self) -> list[dict[str, Any]]:
        """Deliver the webhooks API calls caused (statuses), in order."""
        with self.lock:
            events, self.outbox = self.outbox, []
        for channel, payload in events:
            self.deliver(payload, channel=channel)
        return [payload for _, payload in events]

    def verify(self, url: str, *, verify_token: str = "") -> bool:
        """Meta's check of a callback URL: GET with hub.mode=subscribe, hub.challenge and
        hub.verify_token; true if the body is the challenge."""
        challenge = str(secrets.randbelow(10**9))
        query = urlencode(
            {
                "hub.mode": "subscribe",
                "hub.challenge": challenge,
                "hub.verify_token": verify_token or self.verify_token,
            }
        )
        target = f"{url}{'&' if '?' in url else '?'}{query}"
        try:
            with urllib.request.urlopen(target, timeout=10) as response:  # noqa: S310
                return response.status == 200 and response.read().decode() == challenge
        except (urllib.error.HTTPError, OSError):
            return False

    # --- control endpoints (the demo's "be the customer") -------------------------------------
    def _control(self, method: str, path: str, body: Any) -> tuple[int, str, bytes]:
        data = _dict(body)
        if method == "GET" and path == "/__fake__/requests":
            with self.lock:
                listed = [{k: v for k, v in r.items() if k != "token"} for r in self.requests]
            return 200, "application/json", _dumps(listed)
        if method == "POST" and path == "/__fake__/whatsapp/inbound":
            if not data.get("from"):
                return 400, "application/json", _dumps({"error": "from is required"})
            payload = self.whatsapp_text(
                str(data["from"]), str(data.get("text", "")), name=str(data.get("name", ""))
            )
        elif method == "POST" and path == "/__fake__/instagram/inbound":
            if not data.get("from"):
                return 400, "application/json", _dumps({"error": "from is required"})
            payload = self.instagram_text(str(data["from"]), str(data.get("text", "")))
        elif method == "POST" and path == "/__fake__/whatsapp/status":
            payload = self.whatsapp_status(
                str(data.get("id", "")),
                str(data.get("status", "delivered")),
                error=data.get("error"),
            )
        else:
            return 404, "application/json", _dumps({"error": "unknown control endpoint"})
        status = self.deliver(payload)
        return 200, "application/json", _dumps({"delivered": status, "payload": payload})


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def _loads(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        raise GraphError(400, "(#100) The request body is not valid JSON.", code=100) from None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """multipart/form-data → {name: text, or (filename, content type, bytes) for files}."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, Any] = {}
    if not message.is_multipart():
        raise GraphError(400, "(#100) Invalid multipart body", code=100)
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        content = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            fields[str(name)] = (filename, part.get_content_type(), content)
        else:
            fields[str(name)] = content.decode()
    return fields


class _Handler(BaseHTTPRequestHandler):
    fake: MetaFake
    protocol_version = "HTTP/1.1"
    server_version = "FakeGraph/1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, content_type, payload = self.fake.handle(
            method, split.path, split.query, body, dict(self.headers.items())
        )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-fb-trace-id", _trace())
        if status == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m slotwise.messaging.fakes.meta",
        description="A local fake of Meta's Graph API for WhatsApp and Instagram messaging.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8899)
    parser.add_argument("--webhook-url", default="", help="the WhatsApp channel's inbound URL")
    parser.add_argument("--instagram-webhook-url", default="", help="the Instagram inbound URL")
    parser.add_argument("--access-token", default=DEFAULT_ACCESS_TOKEN)
    parser.add_argument("--app-secret", default=DEFAULT_APP_SECRET)
    parser.add_argument("--verify-token", default=DEFAULT_VERIFY_TOKEN)
    parser.add_argument("--phone-number-id", default=DEFAULT_PHONE_NUMBER_ID)
    parser.add_argument("--waba-id", default=DEFAULT_WABA_ID)
    parser.add_argument("--ig-user-id", default=DEFAULT_IG_USER_ID)
    parser.add_argument(
        "--not-on-whatsapp",
        action="append",
        default=[],
        metavar="NUMBER",
        help="a number that is not on WhatsApp (repeat for more)",
    )
    parser.add_argument("--undeliverable", choices=("status", "error"), default="status")
    parser.add_argument("--enforce-window", action="store_true")
    parser.add_argument(
        "--statuses", default="sent,delivered", help="status webhooks after each accepted send"
    )
    parser.add_argument("--env-prefix", default="META")
    parser.add_argument("--verify", action="store_true", help="verify the webhook URLs at start")
    args = parser.parse_args(argv)
    fake = MetaFake(
        access_token=args.access_token,
        app_secret=args.app_secret,
        verify_token=args.verify_token,
        phone_number_id=args.phone_number_id,
        waba_id=args.waba_id,
        ig_user_id=args.ig_user_id,
        webhook_url=args.webhook_url,
        instagram_webhook_url=args.instagram_webhook_url,
        not_on_whatsapp=args.not_on_whatsapp,
        undeliverable=args.undeliverable,
        enforce_window=args.enforce_window,
        auto_statuses=[s for s in args.statuses.split(",") if s],
        auto_deliver=True,
        host=args.host,
        port=args.port,
    ).start()
    print(f"# Meta Graph API fake: {fake.url}")
    for key, value in fake.env(args.env_prefix).items():
        print(f"export {key}={value}")
    print(f"# WhatsApp channel settings:\n# {json.dumps(fake.whatsapp_settings(args.env_prefix))}")
    print(
        f"# Instagram channel settings:\n# {json.dumps(fake.instagram_settings(args.env_prefix))}"
    )
    if args.verify:
        for url in (args.webhook_url, args.instagram_webhook_url):
            if url:
                print(f"# webhook {url}: {'verified' if fake.verify(url) else 'NOT verified'}")
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
