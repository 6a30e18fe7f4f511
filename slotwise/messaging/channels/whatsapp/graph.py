"""Graph API pieces the two Meta channels share (WhatsApp here, Instagram imports them): the
webhook subscription handshake, the ``X-Hub-Signature-256`` check, event ages, the JSON calls and
the one table that turns a Graph error into a `ChannelError`.

Meta's error reference (developers.facebook.com/docs/graph-api/guides/error-handling and
…/whatsapp/cloud-api/support/error-codes) says to decide on ``code`` (and ``error_subcode``),
never on the message text. The same table reads the ``errors[]`` of a WhatsApp ``failed``
status webhook, so a message that fails after it was accepted is judged the same way as one
refused at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from django.utils.translation import gettext as _

from slotwise.core.http import client

from ..base import ChannelError, InboundRejected, InboundRequest, InboundResult

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"

#: the credentials themselves are unusable: the channel is disabled and the admin told.
#: 0 AuthException, 3 capability, 10 permission denied (except the subcodes below), 102 session,
#: 190 access token invalid or expired, 200-299 permissions; WhatsApp: 131005 access denied,
#: 131031 account locked, 131042 payment method problem, 131045 certificate, 133010 number not
#: registered, 368 blocked for policy violations.
BROKEN_CODES = frozenset({0, 3, 10, 102, 190, 131005, 131031, 131042, 131045, 133010, 368})
#: slow down and try again (the attempt is not counted): 4 app, 17 user, 32 page, 613 call rate,
#: 80007 WABA rate, 130429 throughput, 131048 spam rate, 131056 (business, customer) pair rate,
#: 133016 registration rate.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80007, 130429, 131048, 131056, 133016})
#: Meta's side had a problem: retry with back-off. 1 unknown, 2 service, 131000 something went
#: wrong, 131016 service unavailable, 131057 account in maintenance, 133004 server unavailable.
TRANSIENT_CODES = frozenset({-1, 1, 2, 131000, 131016, 131057, 133004})
#: code 10 with these subcodes is about one conversation, not the channel (Instagram: "message
#: sent outside of allowed window", "user not available").
_PERMANENT_SUBCODES_OF_10 = frozenset({2018278, 2018108, 2534022})


def _explained(code: int) -> str:
    """What an admin reads for the codes that need an explanation (the rest show Meta's own
    message); gettext at call time, literal strings so makemessages finds them."""
    texts = {
        131026: _(
            "The recipient can't receive WhatsApp messages (the number is not on WhatsApp, or "
            "their app is too old)."
        ),
        131047: _(
            "More than 24 hours have passed since the customer last wrote: only an approved "
            "template can be sent."
        ),
        190: _(
            "The access token is invalid or has expired: create a new one and put it in the "
            "environment variable."
        ),
        131031: _("The WhatsApp Business account is locked."),
        131042: _("The WhatsApp Business account has a payment problem."),
        133010: _("The phone number is not registered with the WhatsApp Cloud API."),
        368: _("The account is temporarily blocked for policy violations."),
        132001: _("The template does not exist in this language or is not approved."),
        551: _("This person isn't available right now."),
    }
    texts[470] = texts[131047]
    return texts.get(code, "")


@dataclass(frozen=True, slots=True)
class Verdict:
    """How one Graph error is to be treated."""

    message: str
    code: str
    permanent: bool
    channel_broken: bool = False
    rate_limited: bool = False


def classify(
    *,
    code: Any,
    subcode: Any = None,
    http_status: int = 400,
    message: str = "",
    is_transient: bool = False,
    service: str = "Meta",
) -> Verdict:
    """One Graph error (code, subcode, HTTP status) → broken / rate limited / transient /
    permanent, with the text an admin reads."""
    try:
        number = int(code)
    except (TypeError, ValueError):
        number = None
    try:
        sub = int(subcode) if subcode not in (None, "") else None
    except (TypeError, ValueError):
        sub = None
    text = (_explained(number) if number is not None else "") or message or _("unknown error")
    shown = _("%(service)s: %(text)s (error %(code)s)") % {
        "service": service,
        "text": text,
        "code": code if code not in (None, "") else http_status,
    }
    code_str = "" if number is None else str(number)
    if http_status == 429 or number in RATE_LIMIT_CODES:
        return Verdict(shown, code_str, permanent=False, rate_limited=True)
    if number == 10 and sub in _PERMANENT_SUBCODES_OF_10:
        return Verdict(shown, code_str, permanent=True)
    if number in BROKEN_CODES or (number is not None and 200 <= number <= 299):
        return Verdict(shown, code_str, permanent=True, channel_broken=True)
    if number is None and http_status in (401, 403):
        return Verdict(shown, code_str, permanent=True, channel_broken=True)
    if is_transient or number in TRANSIENT_CODES or http_status >= 500:
        return Verdict(shown, code_str, permanent=False)
    return Verdict(shown, code_str, permanent=True)


def error_from_response(response: httpx.Response, *, service: str) -> ChannelError:
    """A Graph error response (``{"error": {"message", "type", "code", "error_subcode",
    "fbtrace_id"}}``, or anything else a proxy answered) → `ChannelError`."""
    error: Mapping[str, Any] = {}
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            error = body["error"]
    except ValueError:
        pass
    details = error.get("error_data") or {}
    message = str(error.get("message") or "")
    if isinstance(details, dict) and details.get("details"):
        message = f"{message} — {details['details']}" if message else str(details["details"])
    if not message:
        message = f"HTTP {response.status_code}"
    verdict = classify(
        code=error.get("code"),
        subcode=error.get("error_subcode"),
        http_status=response.status_code,
        message=message,
        is_transient=bool(error.get("is_transient")),
        service=service,
    )
    retry_after = None
    if verdict.rate_limited:
        try:
            retry_after = float(response.headers.get("retry-after", ""))
        except ValueError:
            retry_after = None
    return ChannelError(
        verdict.message,
        permanent=verdict.permanent,
        channel_broken=verdict.channel_broken,
        rate_limited=verdict.rate_limited,
        code=verdict.code or str(response.status_code),
        retry_after=retry_after,
    )


def call(
    method: str,
    url: str,
    *,
    token: str,
    service: str,
    payload: Any = None,
    params: Mapping[str, str] | None = None,
    files: Any = None,
    data: Any = None,
) -> dict[str, Any]:
    """One Graph API call with the Bearer token; the JSON answer, or `ChannelError`. The token
    goes in the header, never in the URL (URLs are logged)."""
    try:
        with client() as http:
            response = http.request(
                method,
                url,
                json=payload,
                params=params,
                files=files,
                data=data,
                headers={"Authorization": f"Bearer {token}"},
            )
    except httpx.HTTPError as exc:
        raise ChannelError(
            _("%(service)s could not be reached: %(error)s") % {"service": service, "error": exc}
        ) from exc
    if response.status_code >= 400:
        raise error_from_response(response, service=service)
    try:
        body = response.json()
    except ValueError as exc:
        raise ChannelError(
            _("%(service)s answered something that is not JSON (HTTP %(status)s).")
            % {"service": service, "status": response.status_code}
        ) from exc
    if not isinstance(body, dict):
        raise ChannelError(_("%(service)s answered an unexpected shape.") % {"service": service})
    return body


def download(url: str, *, max_bytes: int, service: str, token: str = "") -> tuple[bytes, str]:
    """GET a media file, at most `max_bytes` (stopped while streaming, whatever Content-Length
    claimed); (content, content type without parameters)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    too_large = ChannelError(
        _("%(service)s: the file is larger than %(size)s MB.")
        % {"service": service, "size": max_bytes // (1024 * 1024)},
        permanent=True,
        code="too_large",
    )
    try:
        with client(timeout=httpx.Timeout(60.0, connect=5.0)) as http:
            with http.stream("GET", url, headers=headers, follow_redirects=True) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response, service=service)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise too_large
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise too_large
                    chunks.append(chunk)
                content_type = response.headers.get("content-type", "")
    except httpx.HTTPError as exc:
        raise ChannelError(
            _("%(service)s could not be reached: %(error)s") % {"service": service, "error": exc}
        ) from exc
    return b"".join(chunks), bare_type(content_type)


def bare_type(content_type: str) -> str:
    """``audio/ogg; codecs=opus`` → ``audio/ogg``."""
    return content_type.split(";", 1)[0].strip().lower()


# --- inbound ----------------------------------------------------------------------------------


def handshake(request: InboundRequest, verify_token: str) -> InboundResult:
    """Meta's GET when the callback URL is saved: echo ``hub.challenge`` if ``hub.verify_token``
    is ours (developers.facebook.com/docs/graph-api/webhooks/getting-started)."""
    mode = request.query.get("hub.mode", "")
    given = request.query.get("hub.verify_token", "")
    challenge = request.query.get("hub.challenge", "")
    if mode != "subscribe" or not given or not hmac.compare_digest(given, verify_token):
        raise InboundRejected("verification token mismatch", status=403)
    return InboundResult(response_body=challenge.encode(), content_type="text/plain")


def signature(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends: ``sha256=`` + HMAC-SHA256(app secret, raw
    body) in hex."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def check_signature(request: InboundRequest, app_secret: str) -> None:
    given = request.header("x-hub-signature-256").strip()
    if not given or not hmac.compare_digest(given.lower(), signature(request.body, app_secret)):
        raise InboundRejected("bad signature", status=403)


def occurred(value: Any, *, milliseconds: bool = False) -> datetime | None:
    """A Meta timestamp (seconds as a string for WhatsApp, milliseconds for Instagram)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if milliseconds:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def is_stale(when: datetime | None, max_age: int | None) -> bool:
    """Older than `max_age` seconds (a captured webhook played back later). An item without a
    time is stale when an age limit is set: every Meta item carries one."""
    if max_age is None:
        return False
    if when is None:
        return True
    return time.time() - when.timestamp() > max_age


def short_id(value: str, *, limit: int = 200) -> str:
    """An event id that fits `InboundEvent.event_id` (Instagram message ids are long base64)."""
    if len(value) <= limit:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def json_object(body: bytes) -> dict[str, Any]:
    """The webhook body as a JSON object (after the signature check), or a 400."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InboundRejected("malformed body", status=400) from exc
    if not isinstance(payload, dict):
        raise InboundRejected("malformed body", status=400)
    return payload


def as_dict(value: Any) -> dict[str, Any]:
    """Webhook payloads are read defensively: a field of the wrong shape counts as absent."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
