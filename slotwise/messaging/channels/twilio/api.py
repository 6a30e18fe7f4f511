"""The parts of Twilio's REST API and webhooks that more than one adapter needs: the SMS channel,
the phone-call channel (Voice status callbacks) and the system-message SMS provider
(`slotwise.messaging.sms.twilio`) all use this module, so the signature check, the error rules
and the Messages call exist once.

Signature (Twilio "Webhooks security"): `X-Twilio-Signature` = base64(HMAC-SHA1(auth token,
URL + every POST parameter, sorted by name, as name+value with no separators)). The URL is the
full URL Twilio called, query string included. Twilio's own helper libraries also accept the
URL with the default port added or removed (a proxy may have rewritten it), and so do we.

Twilio puts no time in what it signs, so a captured request can be replayed for ever; the
adapters give every item an event id (MessageSid, MessageSid+status, CallSid+status) and the
inbox drops a replay by that id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import httpx

from slotwise.core import http

API_VERSION = "2010-04-01"
DEFAULT_API_URL = "https://api.twilio.com"

#: Twilio error codes that mean the account or its sender is unusable: disable the channel.
BROKEN_CODES = {
    20003,  # Authenticate (wrong Account SID / auth token)
    20005,  # Account not active
    20404,  # The requested resource was not found (wrong Account SID in the URL)
    21212,  # Invalid 'From' phone number
    21603,  # 'From' phone number is required
    21606,  # 'From' is not a valid, message-capable Twilio number of this account
    21659,  # 'From' is not a Twilio number or verified
    30002,  # Account suspended (delivery status)
}
#: Errors about this recipient or this message: fail the message, keep the channel.
PERMANENT_CODES = {
    21211,  # Invalid 'To' phone number
    21408,  # Permission to send to this region not enabled
    21602,  # Message body is required
    21608,  # Trial account: number not verified
    21610,  # Recipient unsubscribed (replied STOP)
    21612,  # Cannot route to this number
    21614,  # 'To' is not a mobile number
    21617,  # Message body too long
    21620,  # Invalid media URL
    21623,  # Too many media URLs
}
RATE_LIMIT_CODES = {20429, 14107}


class TwilioApiError(Exception):
    """A failed Twilio call. `kind`: "broken" (the account is unusable), "permanent" (this
    message will never go), "rate_limited" or "transient" (try again later)."""

    def __init__(
        self,
        detail: str,
        *,
        kind: str,
        status: int | None = None,
        code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.status = status
        self.code = code
        self.retry_after = retry_after

    @property
    def permanent(self) -> bool:
        return self.kind in ("broken", "permanent")


def classify(status: int | None, code: int | None) -> str:
    """Twilio's error code decides where it has one; the HTTP status otherwise."""
    if code in RATE_LIMIT_CODES or status == 429:
        return "rate_limited"
    if code in BROKEN_CODES or status in (401, 403):
        return "broken"
    if code in PERMANENT_CODES:
        return "permanent"
    if status is not None and 400 <= status < 500:
        return "permanent"
    return "transient"


# --- signatures -------------------------------------------------------------------------------


def _pairs(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    if isinstance(params, Mapping):
        return [(str(k), str(v)) for k, v in params.items()]
    return [(str(k), str(v)) for k, v in params]


def compute_signature(
    url: str, params: Mapping[str, str] | Iterable[tuple[str, str]], auth_token: str
) -> str:
    """base64(HMAC-SHA1(auth token, url + sorted name+value pairs)). A repeated parameter adds
    each of its values, sorted (as Twilio's helper libraries do)."""
    grouped: dict[str, set[str]] = {}
    for name, value in _pairs(params):
        grouped.setdefault(name, set()).add(value)
    data = url + "".join(
        name + value for name in sorted(grouped) for value in sorted(grouped[name])
    )
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as given, without its default port and with it (Twilio signs what it called;
    a proxy may have added or dropped `:443`)."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if default is None or not parts.netloc or port not in (None, default):
        return [url]
    bare = parts.netloc[: parts.netloc.rfind(":")] if port is not None else parts.netloc
    variants = [url]
    for netloc in (bare, f"{bare}:{default}"):
        candidate = urlunsplit(parts._replace(netloc=netloc))
        if candidate not in variants:
            variants.append(candidate)
    return variants


def signature_valid(
    url: str,
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    signature: str,
    auth_token: str,
) -> bool:
    if not signature or not auth_token:
        return False
    pairs = _pairs(params)
    return any(
        hmac.compare_digest(signature, compute_signature(candidate, pairs, auth_token))
        for candidate in _url_variants(url)
    )


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    """The form fields of an `application/x-www-form-urlencoded` webhook, in order, blanks
    kept (Twilio signs empty values too)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    return parse_qsl(text, keep_blank_values=True)


# --- the Messages API -------------------------------------------------------------------------

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """One shared client from the outbound chokepoint for every Twilio call of this process:
    building a client builds a TLS context (tens of milliseconds), and a kept-alive connection
    to Twilio saves a handshake per message. httpx clients are thread-safe."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = http.client()
    return _client


def messages_url(api_url: str, account_sid: str) -> str:
    return (
        f"{api_url.rstrip('/')}/{API_VERSION}/Accounts/{quote(account_sid, safe='')}/Messages.json"
    )


def _json(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def raise_for_response(response: httpx.Response, what: str = "Twilio") -> dict:
    """The JSON body of a 2xx answer, or TwilioApiError carrying Twilio's code and message."""
    payload = _json(response)
    if 200 <= response.status_code < 300:
        return payload if isinstance(payload, dict) else {}
    code = None
    detail = ""
    if isinstance(payload, dict):
        detail = str(payload.get("message") or "")
        try:
            code = int(payload["code"]) if payload.get("code") is not None else None
        except (TypeError, ValueError):
            code = None
        if code is not None:
            detail = f"{detail} (Twilio error {code})".strip()
    detail = detail or response.text[:500]
    raise TwilioApiError(
        f"{what} HTTP {response.status_code}: {detail}",
        kind=classify(response.status_code, code),
        status=response.status_code,
        code=code,
        retry_after=_retry_after(response),
    )


@dataclass(frozen=True, slots=True)
class Credentials:
    account_sid: str
    auth_token: str
    api_url: str = DEFAULT_API_URL


def create_message(
    credentials: Credentials,
    form: Iterable[tuple[str, str]],
    *,
    idempotency_key: str = "",
) -> dict:
    """POST one message (form pairs: To, From or MessagingServiceSid, Body, MediaUrl …) and
    return Twilio's message resource. Network errors and 5xx are transient."""
    headers = {"Accept": "application/json"}
    if idempotency_key:
        headers["I-Twilio-Idempotency-Token"] = idempotency_key
    try:
        response = client().post(
            messages_url(credentials.api_url, credentials.account_sid),
            data=_form_dict(form),
            auth=(credentials.account_sid, credentials.auth_token),
            headers=headers,
        )
    except httpx.TimeoutException as exc:
        raise TwilioApiError(f"Twilio timed out: {exc}", kind="transient") from exc
    except httpx.HTTPError as exc:
        raise TwilioApiError(f"Twilio unreachable: {exc}", kind="transient") from exc
    return raise_for_response(response)


def _form_dict(form: Iterable[tuple[str, str]]) -> dict[str, str | list[str]]:
    """httpx takes repeated form fields (MediaUrl) as a list value."""
    out: dict[str, str | list[str]] = {}
    for name, value in form:
        if name in out:
            existing = out[name]
            out[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[name] = value
    return out


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    default = {"https": 443, "http": 80}
    return (
        pa.scheme == pb.scheme
        and (pa.hostname or "") == (pb.hostname or "")
        and (pa.port or default.get(pa.scheme)) == (pb.port or default.get(pb.scheme))
    )


@dataclass(frozen=True, slots=True)
class Download:
    content: bytes
    content_type: str
    filename: str = ""


class TooLarge(Exception):
    pass


def download(url: str, *, credentials: Credentials | None, max_bytes: int) -> Download:
    """GET a media file Twilio holds (an MMS picture): basic auth when the URL is Twilio's API
    (never to another host: httpx drops the header when a redirect leaves the origin), follow
    the redirect to the CDN, and stop reading past `max_bytes` (TooLarge)."""
    auth = None
    if credentials is not None and same_origin(url, credentials.api_url):
        auth = (credentials.account_sid, credentials.auth_token)
    try:
        with client().stream("GET", url, auth=auth, follow_redirects=True) as response:
            if response.status_code >= 400:
                response.read()
                raise_for_response(response, "Twilio media")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise TooLarge(declared)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(str(size))
                chunks.append(chunk)
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            return Download(
                content=b"".join(chunks),
                content_type=content_type,
                filename=_filename(response),
            )
    except httpx.TimeoutException as exc:
        raise TwilioApiError(f"Twilio media timed out: {exc}", kind="transient") from exc
    except httpx.HTTPError as exc:
        raise TwilioApiError(f"Twilio media unreachable: {exc}", kind="transient") from exc


def _filename(response: httpx.Response) -> str:
    disposition = response.headers.get("Content-Disposition", "")
    for part in disposition.split(";"):
        name, _sep, value = part.strip().partition("=")
        if name.lower() == "filename" and value:
            return value.strip('"')[:200]
    return ""
