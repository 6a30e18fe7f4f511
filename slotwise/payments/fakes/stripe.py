"""A local stand-in for the Stripe API, for tests and the demo (ARCHITECTURE rule 1).

A real HTTP server on 127.0.0.1 that speaks the part of Stripe's v1 REST API the Slotwise adapter
calls through the official SDK, closely enough that the SDK works against it unchanged:

- ``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/<id>``,
  ``POST /v1/checkout/sessions/<id>/expire``
- ``GET /v1/payment_intents/<id>``, ``GET /v1/charges/<id>``, ``GET /v1/events/<id>``
- ``POST /v1/refunds``, ``GET /v1/refunds/<id>``
- ``GET|POST /c/pay/<session id>``: a hosted checkout page (Pay / Decline) for the demo.

As Stripe does: form-encoded bodies with nested keys (``line_items[0][price_data][unit_amount]``),
``Authorization: Bearer <secret key>`` (or HTTP basic with the key as user name), ``expand[]`` on
retrieval, amounts in minor units and lower-case currencies, errors as
``{"error": {"type", "code", "message", "param"}}`` with 400/401/404, and idempotency: a POST
with an ``Idempotency-Key`` seen before returns the saved response (header
``Idempotent-Replayed: true``); the same key with other parameters or on another endpoint is a
400 ``idempotency_error``. Requests that fail validation save nothing, as documented.

Control API for tests: ``complete_session(id)``, ``fail(id)``, ``expire_session(id)`` and
``refund_externally(id, amount)`` change the remote state the way a payer or the Dashboard would
and send the webhook events Stripe sends, each signed with ``Stripe-Signature: t=<unix>,v1=<hex>``
where ``v1 = HMAC-SHA256(webhook secret, "<t>.<payload>")``. Events are delivered through
``webhook_sender(body, headers)`` when set (tests post them with Django's test client), else
POSTed to ``webhook_url``. Events that API calls cause (a refund, an expiry) wait in ``outbox``
until ``flush()``, or go out at once in a background thread with ``auto_deliver=True``.

Command line (for the demo)::

    python -m slotwise.payments.fakes.stripe --port 12111 \\
        --webhook-url http://127.0.0.1:8000/payments/callback/stripe/<org>/
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_VERSION = "2026-10-28.endive"
DEFAULT_API_KEY = "sk_test_slotwise_fake"
DEFAULT_WEBHOOK_SECRET = "whsec_slotwise_fake"
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd"}
SESSION_LIFETIME = 24 * 60 * 60

_PREFIX = {
    "cs_": "sessions",
    "pi_": "payment_intents",
    "ch_": "charges",
    "re_": "refunds",
    "txn_": "balance_transactions",
    "evt_": "events",
}
# What may be expanded on which object (anything else is a 400, as at Stripe).
_EXPANDABLE = {
    "checkout.session": {"payment_intent"},
    "payment_intent": {"latest_charge"},
    "charge": {"balance_transaction", "refunds", "payment_intent"},
    "refund": {"charge", "payment_intent", "balance_transaction"},
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str = "",
        param: str = "",
        save: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": {"type": type, "message": message}}
        if code:
            self.body["error"]["code"] = code
        if param:
            self.body["error"]["param"] = param
        self.save = save  # saved under the idempotency key (execution had begun)


def _id(prefix: str) -> str:
    return f"{prefix}test_{secrets.token_hex(12)}"


def nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding → nested dicts and lists (``a[0][b]=1`` → {"a": [{"b": "1"}]})."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if not match:
            raise ApiError(400, f"Invalid parameter name: {key}", code="parameter_unknown")
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # "expand[]=x": append
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ApiError(400, f"Invalid parameter: {key}", param=key)
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def _int(value: Any, param: str, *, minimum: int = 0) -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise ApiError(400, f"Invalid integer: {value}", param=param) from None
    if number < minimum:
        raise ApiError(400, f"This value must be greater than or equal to {minimum}.", param=param)
    return number


def _required(params: dict, name: str) -> Any:
    value = params.get(name)
    if value in (None, ""):
        raise ApiError(
            400, f"Missing required param: {name}.", code="parameter_missing", param=name
        )
    return value


class FakeStripe:
    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        webhook_url: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
        auto_deliver: bool = False,
        fee_per_mille: int = 15,
        fee_fixed: int = 25,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.host, self.port = host, port
        self.auto_deliver = auto_deliver
        self.fee_per_mille, self.fee_fixed = fee_per_mille, fee_fixed
        self.webhook_sender: Callable[[bytes, dict[str, str]], int] | None = None
        self.lock = threading.RLock()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in _PREFIX.values()}
        self.idempotency: dict[tuple[str, str], tuple[tuple, int, dict]] = {}
        self.requests: list[dict[str, Any]] = []  # every API request: method, path, params, key
        self.outbox: list[dict[str, Any]] = []
        self.delivered: list[tuple[dict[str, Any], int]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- server -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeStripe:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-stripe", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- views of the remote state --------------------------------------------------------------
    @property
    def sessions(self) -> dict[str, dict[str, Any]]:
        return self.objects["sessions"]

    @property
    def payment_intents(self) -> dict[str, dict[str, Any]]:
        return self.objects["payment_intents"]

    @property
    def charges(self) -> dict[str, dict[str, Any]]:
        return self.objects["charges"]

    @property
    def refunds(self) -> dict[str, dict[str, Any]]:
        return self.objects["refunds"]

    def lookup(self, object_id: str) -> dict[str, Any] | None:
        for prefix, kind in _PREFIX.items():
            if object_id.startswith(prefix):
                return self.objects[kind].get(object_id)
        return None

    # --- HTTP entry point ---------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers = {k.lower(): v for k, v in headers.items()}
        try:
            self._authenticate(headers.get("authorization", ""))
            params = nest(parse_qsl(body.decode() if method == "POST" else query, True))
        except ApiError as exc:
            return exc.status, exc.body, {}
        key = headers.get("idempotency-key", "") if method == "POST" else ""
        with self.lock:
            self.requests.append(
                {"method": method, "path": path, "params": params, "idempotency_key": key}
            )
            fingerprint = (method, path, tuple(sorted(parse_qsl(body.decode(), True))))
            if key:
                saved = self.idempotency.get((self.api_key, key))
                if saved is not None:
                    if saved[0] != fingerprint:
                        return (
                            400,
                            ApiError(
                                400,
                                "Keys for idempotent requests can only be used with the same "
                                "parameters they were first used with. Try using a key other "
                                f"than '{key}' if you meant to execute a different request.",
                                type="idempotency_error",
                            ).body,
                            {},
                        )
                    return saved[1], copy.deepcopy(saved[2]), {"Idempotent-Replayed": "true"}
            try:
                status, result = 200, self._route(method, path, params)
                save = True
            except ApiError as exc:
                status, result, save = exc.status, exc.body, exc.save
            if key and save:
                self.idempotency[(self.api_key, key)] = (fingerprint, status, copy.deepcopy(result))
        return status, result, {"Idempotency-Key": key} if key else {}

    def _authenticate(self, header: str) -> None:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "basic":
            import base64

            try:
                credential = base64.b64decode(credential).decode().split(":", 1)[0]
            except ValueError:
                credential = ""
        elif scheme.lower() != "bearer":
            credential = ""
        if not credential:
            raise ApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_"
                "SECRET_KEY').",
            )
        if not hmac.compare_digest(credential, self.api_key):
            raise ApiError(401, f"Invalid API Key provided: {credential[:8]}****{credential[-4:]}")

    def _route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        if parts[:1] != ["v1"]:
            raise ApiError(404, f"Unrecognized request URL ({method}: {path}).")
        parts = parts[1:]
        expand = params.get("expand") or []
        if isinstance(expand, str):
            expand = [expand]
        if method == "POST" and parts == ["checkout", "sessions"]:
            return self._expand(self._session_create(params), expand)
        if method == "GET" and len(parts) == 3 and parts[:2] == ["checkout", "sessions"]:
            return self._expand(self._get(parts[2], "checkout.session", "session"), expand)
        if method == "POST" and len(parts) == 4 and parts[:2] == ["checkout", "sessions"]:
            if parts[3] == "expire":
                return self._expand(self._session_expire(parts[2]), expand)
        if method == "POST" and parts == ["refunds"]:
            return self._expand(self._refund_create(params), expand)
        if method == "GET" and len(parts) == 2:
            kinds = {
                "payment_intents": ("payment_intent", "intent"),
                "charges": ("charge", "charge"),
                "refunds": ("refund", "refund"),
                "events": ("event", "id"),
            }
            if parts[0] in kinds:
                name, param = kinds[parts[0]]
                return self._expand(self._get(parts[1], name, param), expand)
        raise ApiError(404, f"Unrecognized request URL ({method}: {path}).")

    def _get(self, object_id: str, name: str, param: str) -> dict[str, Any]:
        obj = self.lookup(object_id)
        if obj is None or obj.get("object") != name:
            raise ApiError(
                404, f"No such {name}: '{object_id}'", code="resource_missing", param=param
            )
        return obj

    def _expand(self, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        result = copy.deepcopy(obj)
        for path in paths:
            self._expand_path(result, str(path).split("."), str(path))
        return result

    def _expand_path(self, obj: Any, parts: list[str], path: str) -> None:
        if not parts or not isinstance(obj, dict):
            return
        field = parts[0]
        if field not in _EXPANDABLE.get(obj.get("object", ""), set()):
            raise ApiError(400, f"This property cannot be expanded ({field}).", param="expand")
        if field == "refunds" and obj.get("object") == "charge":
            if not isinstance(obj.get("refunds"), dict):
                data = [copy.deepcopy(r) for r in self.refunds.values() if r["charge"] == obj["id"]]
                data.sort(key=lambda r: r["created"], reverse=True)
                obj["refunds"] = {
                    "object": "list",
                    "data": data,
                    "has_more": False,
                    "url": f"/v1/charges/{obj['id']}/refunds",
                }
            for refund in obj["refunds"]["data"]:
                self._expand_path(refund, parts[1:], path)
            return
        value = obj.get(field)
        if isinstance(value, str):
            target = self.lookup(value)
            if target is not None:
                obj[field] = copy.deepcopy(target)
        self._expand_path(obj.get(field), parts[1:], path)

    # --- endpoints ----------------------------------------------------------------------------
    def _session_create(self, params: dict[str, Any]) -> dict[str, Any]:
        mode = _required(params, "mode")
        if mode != "payment":
            raise ApiError(400, "This fake supports only mode=payment.", param="mode")
        success_url = _required(params, "success_url")
        for name in ("success_url", "cancel_url"):
            if params.get(name) and not str(params[name]).startswith(("http://", "https://")):
                raise ApiError(400, "Not a valid URL", code="url_invalid", param=name)
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise ApiError(
                400,
                "Missing required param: line_items.",
                code="parameter_missing",
                param="line_items",
            )
        currency, total = "", 0
        for i, item in enumerate(items):
            prefix = f"line_items[{i}]"
            price = item.get("price_data") if isinstance(item, dict) else None
            if not isinstance(price, dict):
                raise ApiError(
                    400,
                    f"Missing required param: {prefix}[price_data].",
                    code="parameter_missing",
                    param=f"{prefix}[price_data]",
                )
            item_currency = str(_required(price, "currency")).lower()
            if not re.fullmatch(r"[a-z]{3}", item_currency):
                raise ApiError(400, "Invalid currency", param=f"{prefix}[price_data][currency]")
            if currency and item_currency != currency:
                raise ApiError(400, "All line items must use the same currency.")
            currency = item_currency
            unit = _int(_required(price, "unit_amount"), f"{prefix}[price_data][unit_amount]")
            product = price.get("product_data")
            if not isinstance(product, dict) or not product.get("name"):
                raise ApiError(
                    400,
                    f"Missing required param: {prefix}[price_data][product_data][name].",
                    code="parameter_missing",
                    param=f"{prefix}[price_data][product_data][name]",
                )
            quantity = _int(item.get("quantity", "1"), f"{prefix}[quantity]", minimum=1)
            total += unit * quantity
        now = int(time.time())
        session_id = _id("cs_")
        intent_data = params.get("payment_intent_data") or {}
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currency,
            "customer_email": params.get("customer_email"),
            "expires_at": _int(params.get("expires_at", now + SESSION_LIFETIME), "expires_at"),
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": dict(params.get("metadata") or {}),
            "mode": "payment",
            "payment_intent": None,  # created when the payer confirms (API ≥ 2022-08-01)
            "payment_status": "unpaid",
            "status": "open",
            "success_url": success_url,
            "url": f"{self.url}/c/pay/{session_id}",
            # Not part of Stripe's object; what the PaymentIntent will carry.
            "_intent_metadata": dict(intent_data.get("metadata") or {}),
            "_intent_description": intent_data.get("description"),
        }
        self.sessions[session_id] = session
        return self._public(session)

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}

    def _session_expire(self, session_id: str) -> dict[str, Any]:
        session = self._get(session_id, "checkout.session", "session")
        if session["status"] != "open":
            raise ApiError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired.',
                save=True,
            )
        session["status"] = "expired"
        self._emit("checkout.session.expired", session, outbox=True)
        return self._public(session)

    def _refund_create(self, params: dict[str, Any]) -> dict[str, Any]:
        charge = None
        if params.get("payment_intent"):
            intent = self._get(str(params["payment_intent"]), "payment_intent", "payment_intent")
            charge = self.charges.get(intent.get("latest_charge") or "")
            if intent["status"] != "succeeded" or charge is None:
                raise ApiError(
                    400,
                    f"This PaymentIntent ({intent['id']}) does not have a successful charge "
                    "to refund.",
                    param="payment_intent",
                    save=True,
                )
        elif params.get("charge"):
            charge = self._get(str(params["charge"]), "charge", "charge")
        else:
            raise ApiError(
                400,
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
            )
        reason = params.get("reason")
        if reason and reason not in ("duplicate", "fraudulent", "requested_by_customer"):
            raise ApiError(400, f"Invalid reason: {reason}", param="reason")
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        amount = _int(params.get("amount", remaining), "amount", minimum=1)
        if remaining <= 0:
            raise ApiError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
                save=True,
            )
        if amount > remaining:
            raise ApiError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
                param="amount",
                save=True,
            )
        refund = self._refund(charge, amount, metadata=dict(params.get("metadata") or {}))
        refund["reason"] = reason
        self._emit("refund.created", refund, outbox=True)
        self._emit("charge.refunded", charge, outbox=True)
        return self._public(refund)

    # --- remote state changes -----------------------------------------------------------------
    def _intent_for(self, session: dict[str, Any]) -> dict[str, Any]:
        intent = self.payment_intents.get(session.get("payment_intent") or "")
        if intent is None:
            intent = {
                "id": _id("pi_"),
                "object": "payment_intent",
                "amount": session["amount_total"],
                "amount_capturable": 0,
                "amount_received": 0,
                "currency": session["currency"],
                "created": int(time.time()),
                "description": session.get("_intent_description"),
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": False,
                "metadata": dict(session.get("_intent_metadata") or {}),
                "payment_method_types": ["card"],
                "status": "requires_payment_method",
            }
            self.payment_intents[intent["id"]] = intent
            session["payment_intent"] = intent["id"]
        return intent

    def _charge(self, intent: dict[str, Any], *, succeeded: bool) -> dict[str, Any]:
        amount = intent["amount"]
        charge = {
            "id": _id("ch_"),
            "object": "charge",
            "amount": amount,
            "amount_captured": amount if succeeded else 0,
            "amount_refunded": 0,
            "balance_transaction": None,
            "captured": succeeded,
            "created": int(time.time()),
            "currency": intent["currency"],
            "failure_code": None if succeeded else "card_declined",
            "failure_message": None if succeeded else "Your card was declined.",
            "livemode": False,
            "metadata": dict(intent["metadata"]),  # copied from the PaymentIntent, as Stripe does
            "paid": succeeded,
            "payment_intent": intent["id"],
            "refunded": False,
            "status": "succeeded" if succeeded else "failed",
        }
        if succeeded:
            fixed = 0 if intent["currency"] in ZERO_DECIMAL else self.fee_fixed
            fee = amount * self.fee_per_mille // 1000 + fixed
            txn = {
                "id": _id("txn_"),
                "object": "balance_transaction",
                "amount": amount,
                "currency": intent["currency"],
                "fee": fee,
                "fee_details": [
                    {"amount": fee, "currency": intent["currency"], "type": "stripe_fee"}
                ],
                "net": amount - fee,
                "source": charge["id"],
                "status": "pending",
                "type": "charge",
            }
            self.objects["balance_transactions"][txn["id"]] = txn
            charge["balance_transaction"] = txn["id"]
        self.charges[charge["id"]] = charge
        return charge

    def _refund(self, charge: dict[str, Any], amount: int, *, metadata: dict) -> dict[str, Any]:
        refund = {
            "id": _id("re_"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": None,
            "charge": charge["id"],
            "created": int(time.time()),
            "currency": charge["currency"],
            "metadata": metadata,
            "payment_intent": charge["payment_intent"],
            "reason": None,
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        return refund

    def complete_session(self, session_id: str, *, deliver: bool = True) -> list[dict[str, Any]]:
        """The payer paid on the hosted page: the PaymentIntent succeeds, its charge is captured,
        the session completes. Returns (and, with `deliver`, sends) the webhook events."""
        with self.lock:
            session = self.sessions[session_id]
            if session["status"] != "open":
                raise ValueError(f"session {session_id} is {session['status']}")
            intent = self._intent_for(session)
            charge = self._charge(intent, succeeded=True)
            intent.update(
                status="succeeded",
                amount_received=intent["amount"],
                latest_charge=charge["id"],
                last_payment_error=None,
            )
            session.update(status="complete", payment_status="paid")
            events = [
                self._emit("charge.succeeded", charge),
                self._emit("payment_intent.succeeded", intent),
                self._emit("checkout.session.completed", session),
            ]
        return self._send(events, deliver)

    def fail(self, session_id: str, *, deliver: bool = True) -> list[dict[str, Any]]:
        """A card was declined on the hosted page (the session stays open for another try)."""
        with self.lock:
            session = self.sessions[session_id]
            intent = self._intent_for(session)
            charge = self._charge(intent, succeeded=False)
            intent.update(
                status="requires_payment_method",
                latest_charge=charge["id"],
                last_payment_error={
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "generic_decline",
                    "message": "Your card was declined.",
                    "charge": charge["id"],
                },
            )
            events = [
                self._emit("charge.failed", charge),
                self._emit("payment_intent.payment_failed", intent),
            ]
        return self._send(events, deliver)

    def expire_session(self, session_id: str, *, deliver: bool = True) -> list[dict[str, Any]]:
        with self.lock:
            session = self.sessions[session_id]
            session["status"] = "expired"
            events = [self._emit("checkout.session.expired", session)]
        return self._send(events, deliver)

    def refund_externally(
        self, object_id: str, amount: int | None = None, *, deliver: bool = True
    ) -> list[dict[str, Any]]:
        """A refund made in the Stripe Dashboard (no Slotwise metadata), of a session's or a
        PaymentIntent's charge; `amount` in minor units, default what is left."""
        with self.lock:
            intent_id = object_id
            if object_id.startswith("cs_"):
                intent_id = self.sessions[object_id]["payment_intent"]
            charge = self.charges[self.payment_intents[intent_id]["latest_charge"]]
            remaining = charge["amount_captured"] - charge["amount_refunded"]
            refund = self._refund(charge, remaining if amount is None else amount, metadata={})
            events = [
                self._emit("refund.created", refund),
                self._emit("charge.refunded", charge),
            ]
        return self._send(events, deliver)

    # --- webhooks -----------------------------------------------------------------------------
    def _emit(self, kind: str, obj: dict[str, Any], *, outbox: bool = False) -> dict[str, Any]:
        event = {
            "id": _id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": self._public(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        self.objects["events"][event["id"]] = event
        if outbox:
            self.outbox.append(event)
            if self.auto_deliver:
                threading.Timer(0.2, self.flush).start()
        return event

    def sign(self, payload: bytes, *, timestamp: int | None = None, secret: str = "") -> str:
        t = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(
            (secret or self.webhook_secret).encode(), f"{t}.".encode() + payload, hashlib.sha256
        ).hexdigest()
        return f"t={t},v1={mac}"

    @staticmethod
    def body(event: dict[str, Any]) -> bytes:
        return json.dumps(event, indent=2).encode()

    def deliver(self, event: dict[str, Any]) -> int:
        """Send one event, signed now; the HTTP status the receiver answered."""
        payload = self.body(event)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        headers["Stripe-Signature"] = self.sign(payload)
        if self.webhook_sender is not None:
            status = self.webhook_sender(payload, headers)
        elif self.webhook_url:
            request = urllib.request.Request(
                self.webhook_url, data=payload, headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = 0
        else:
            return 0
        self.delivered.append((event, status))
        return status

    def _send(self, events: list[dict[str, Any]], deliver: bool) -> list[dict[str, Any]]:
        if deliver:
            for event in events:
                self.deliver(event)
        return events

    def flush(self) -> list[dict[str, Any]]:
        """Deliver the events API calls caused (refunds, expiries), in order."""
        with self.lock:
            events, self.outbox = self.outbox, []
        for event in events:
            self.deliver(event)
        return events

    # --- the hosted checkout page (demo) ------------------------------------------------------
    def checkout_page(self, session_id: str, method: str, form: dict[str, str]):
        with self.lock:
            session = self.sessions.get(session_id)
            if session is None:
                return 404, "text/html; charset=utf-8", b"<h1>No such checkout session</h1>", {}
            if method == "POST" and session["status"] == "open":
                if form.get("action") == "pay":
                    events = self.complete_session(session_id, deliver=False)
                    target = session["success_url"]
                else:
                    events = self.fail(session_id, deliver=False)
                    target = session.get("cancel_url") or session["success_url"]
                threading.Thread(target=self._send, args=(events, True), daemon=True).start()
                return 303, "text/html", b"", {"Location": target}
            amount = session["amount_total"]
            currency = session["currency"]
            shown = amount if currency in ZERO_DECIMAL else f"{amount / 100:.2f}"
        page = f"""<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stripe (local fake)</title></head><body style="font-family:sans-serif;max-width:28rem;margin:3rem auto">
<p><small>Local Stripe stand-in &mdash; no real money moves.</small></p>
<h1>{html.escape(str(shown))} {html.escape(currency.upper())}</h1>
<p>Status: <strong id="status">{html.escape(session["status"])}</strong></p>
<form method="post"><button name="action" value="pay">Pay</button>
<button name="action" value="decline">Decline</button></form></body></html>"""
        return 200, "text/html; charset=utf-8", page.encode(), {}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeStripe
    protocol_version = "HTTP/1.1"
    server_version = "FakeStripe/1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _read(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, ctype: str, body: bytes, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
        self.send_header("Stripe-Version", API_VERSION)
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        body = self._read() if method == "POST" else b""
        if split.path.startswith("/c/pay/"):
            form = dict(parse_qsl(body.decode(), True))
            status, ctype, page, extra = self.fake.checkout_page(
                split.path.rsplit("/", 1)[-1], method, form
            )
            self._answer(status, ctype, page, extra)
            return
        status, payload, extra = self.fake.handle(
            method, split.path, split.query, body, dict(self.headers.items())
        )
        self._answer(status, "application/json", json.dumps(payload).encode(), extra)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local stand-in for the Stripe API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--webhook-secret", default=DEFAULT_WEBHOOK_SECRET)
    parser.add_argument("--webhook-url", default="", help="where to POST signed events")
    args = parser.parse_args(argv)
    fake = FakeStripe(
        api_key=args.api_key,
        webhook_secret=args.webhook_secret,
        webhook_url=args.webhook_url,
        host=args.host,
        port=args.port,
        auto_deliver=True,
    ).start()
    print(
        f"Fake Stripe API at {fake.url} (key {fake.api_key}, webhook secret "
        f"{fake.webhook_secret}); Ctrl-C stops it.",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
