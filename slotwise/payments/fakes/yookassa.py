"""A local YooKassa: a real HTTP server on 127.0.0.1 that speaks the parts of the YooKassa API v3
Slotwise uses, closely enough that the official `yookassa` SDK works against it unchanged.

What it does like YooKassa:

- HTTP Basic auth with shop id and secret key (401 ``invalid_credentials`` otherwise);
- ``POST /v3/payments`` (create), ``GET /v3/payments/{id}``, ``POST /v3/payments/{id}/capture``,
  ``POST /v3/payments/{id}/cancel`` (only a payment waiting for capture can be cancelled),
  ``POST /v3/refunds``, ``GET /v3/refunds/{id}``, ``GET /v3/refunds?payment_id=…`` (a list with
  ``next_cursor``);
- every POST needs an ``Idempotence-Key`` (400 ``invalid_request`` without one): the same key with
  the same request returns the first answer again, unchanged (a replay, not the current state),
  and the same key with a different request is a 400;
- errors as ``{"type": "error", "id", "code", "description", "parameter"}``;
- payments stay ``succeeded`` after refunds, with ``refunded_amount`` growing;
  ``income_amount`` is the amount less the fee (`fee_rate`, 3.5 % by default);
- notifications ``{"type": "notification", "event", "object"}`` with no signature.

The control API stands in for the payer and the merchant dashboard: ``succeed(id)``,
``cancel(id)``, ``wait_for_capture(id)``, ``refund(id, amount)`` change the payment and send the
notification through `sender` (by default an HTTP POST to `notification_url`; tests replace it
with one that posts through Django's test client). Notifications caused by API calls (a refund
created through the API) are collected in `outbox` and sent by `deliver_outbox()`, or at once
when `auto_deliver` is on (the command line does that). The confirmation URL of a payment is a
small checkout page on the fake itself (pay or cancel, then back to the return URL), so the demo
works in a browser.

    python -m slotwise.payments.fakes.yookassa --port 12112 --shop 100500:test_secret \\
        --notify-url http://127.0.0.1:8000/payments/callback/yookassa/<org-slug>/
"""

from __future__ import annotations

import argparse
import base64
import datetime
import html
import json
import threading
import uuid
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

TWO_PLACES = Decimal("0.01")


class ApiFailure(Exception):
    def __init__(self, status: int, code: str, description: str, parameter: str = "") -> None:
        super().__init__(description)
        self.status, self.code, self.description, self.parameter = (
            status,
            code,
            description,
            parameter,
        )

    def body(self) -> dict[str, Any]:
        error = {
            "type": "error",
            "id": str(uuid.uuid4()),
            "code": self.code,
            "description": self.description,
        }
        if self.parameter:
            error["parameter"] = self.parameter
        return error


def _bad(description: str, parameter: str = "") -> ApiFailure:
    return ApiFailure(400, "invalid_request", description, parameter)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _amount(value: Decimal, currency: str) -> dict[str, str]:
    return {"value": str(value.quantize(TWO_PLACES)), "currency": currency}


class YooKassaFake:
    def __init__(
        self,
        *,
        shops: dict[str, str] | None = None,
        currencies: tuple[str, ...] = ("RUB",),
        host: str = "127.0.0.1",
        port: int = 0,
        notification_url: str = "",
        fee_rate: Decimal = Decimal("0.035"),
        auto_deliver: bool = False,
    ) -> None:
        self.shops = dict(shops or {"100500": "test_secret"})
        self.currencies = currencies
        self.host, self.port = host, port
        self.notification_url = notification_url
        self.fee_rate = fee_rate
        self.auto_deliver = auto_deliver
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.return_urls: dict[str, str] = {}
        self._idempotency: dict[tuple[str, str], tuple[str, int, dict[str, Any]]] = {}
        #: Every API request as (method, path), for tests that count calls.
        self.requests: list[tuple[str, str]] = []
        #: The Idempotence-Key of every POST, in order.
        self.idempotence_keys: list[str] = []
        #: Notifications caused by API calls, waiting for `deliver_outbox()`.
        self.outbox: list[bytes] = []
        self.sender: Callable[[bytes], int] = self._post_notification
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- running ------------------------------------------------------------------------------
    def start(self) -> YooKassaFake:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> YooKassaFake:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """What the SDK's ``api_url`` is set to (YooKassa's is https://api.yookassa.ru/v3)."""
        return f"{self.base_url}/v3"

    def calls(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p == path)

    # --- the API ------------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: dict[str, list[str]], headers, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append((method, path))
            shop_id = self._authenticate(headers.get("Authorization", ""))
            data: dict[str, Any] = {}
            if method == "POST":
                key = headers.get("Idempotence-Key", "")
                self.idempotence_keys.append(key)
                if not key:
                    raise _bad("Idempotence key is missing", "Idempotence-Key")
                if len(key) > 64:
                    raise _bad("Idempotence key is too long", "Idempotence-Key")
                try:
                    data = json.loads(body or b"{}")
                except ValueError:
                    raise _bad("Request body is not valid JSON") from None
                if not isinstance(data, dict):
                    raise _bad("Request body must be a JSON object")
                fingerprint = f"{path}\n{json.dumps(data, sort_keys=True)}"
                seen = self._idempotency.get((shop_id, key))
                if seen is not None:
                    if seen[0] != fingerprint:
                        raise _bad(
                            "Idempotence key duplicated with different request parameters",
                            "Idempotence-Key",
                        )
                    return seen[1], seen[2]
                status, answer = self._route(method, path, query, data, shop_id)
                if status == 200:
                    self._idempotency[(shop_id, key)] = (fingerprint, status, answer)
                return status, answer
            return self._route(method, path, query, data, shop_id)

    def _authenticate(self, header: str) -> str:
        scheme, _, token = header.partition(" ")
        try:
            shop_id, _, secret = base64.b64decode(token).decode().partition(":")
        except ValueError:
            shop_id, secret = "", ""
        if scheme != "Basic" or not shop_id or self.shops.get(shop_id) != secret:
            raise ApiFailure(
                401,
                "invalid_credentials",
                "Authentication by given credentials failed",
                "Authorization",
            )
        return shop_id

    def _route(self, method, path, query, data, shop_id) -> tuple[int, dict[str, Any]]:
        parts = [p for p in path.split("/") if p]
        if parts[:1] != ["v3"]:
            raise ApiFailure(404, "not_found", "Incorrect URL")
        parts = parts[1:]
        if parts == ["payments"] and method == "POST":
            return 200, self._create_payment(data, shop_id)
        if len(parts) == 2 and parts[0] == "payments" and method == "GET":
            return 200, self._payment(parts[1], shop_id)
        if len(parts) == 3 and parts[0] == "payments" and method == "POST":
            if parts[2] == "cancel":
                return 200, self._api_cancel(parts[1], shop_id)
            if parts[2] == "capture":
                return 200, self._api_capture(parts[1], shop_id, data)
        if parts == ["refunds"] and method == "POST":
            return 200, self._create_refund(data, shop_id)
        if parts == ["refunds"] and method == "GET":
            return 200, self._list_refunds(query, shop_id)
        if len(parts) == 2 and parts[0] == "refunds" and method == "GET":
            refund = self.refunds.get(parts[1])
            if refund is None or refund["_shop"] != shop_id:
                raise ApiFailure(404, "not_found", "Refund doesn't exist")
            return 200, self._public(refund)
        if method not in ("GET", "POST"):
            raise ApiFailure(405, "invalid_request", "Method not allowed")
        raise ApiFailure(404, "not_found", "Incorrect URL")

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return json.loads(json.dumps({k: v for k, v in obj.items() if not k.startswith("_")}))

    def _parse_amount(self, raw: Any, parameter: str = "amount") -> tuple[Decimal, str]:
        if not isinstance(raw, dict):
            raise _bad("Amount is missing", parameter)
        try:
            value = Decimal(str(raw.get("value")))
        except InvalidOperation:
            raise _bad("Invalid amount value", f"{parameter}.value") from None
        if not value.is_finite() or value <= 0 or value != value.quantize(TWO_PLACES):
            raise _bad("Invalid amount value", f"{parameter}.value")
        currency = raw.get("currency")
        if currency not in self.currencies:
            raise _bad("Currency is not supported by the shop", f"{parameter}.currency")
        return value, currency

    def _create_payment(self, data: dict[str, Any], shop_id: str) -> dict[str, Any]:
        value, currency = self._parse_amount(data.get("amount"))
        description = data.get("description") or ""
        if len(description) > 128:
            raise _bad("Description is longer than 128 characters", "description")
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, dict) or len(metadata) > 16:
            raise _bad("Metadata must be an object of at most 16 keys", "metadata")
        confirmation = data.get("confirmation") or {}
        if confirmation.get("type") != "redirect":
            raise _bad("Only the redirect confirmation is supported here", "confirmation.type")
        if not confirmation.get("return_url"):
            raise _bad("Return URL is missing", "confirmation.return_url")
        payment_id = str(uuid.uuid4())
        payment = {
            "id": payment_id,
            "status": "pending",
            "paid": False,
            "amount": _amount(value, currency),
            "confirmation": {
                "type": "redirect",
                "confirmation_url": f"{self.base_url}/checkout/{payment_id}",
            },
            "created_at": _now(),
            "description": description,
            "metadata": metadata,
            "recipient": {"account_id": shop_id, "gateway_id": f"{shop_id}0"},
            "refundable": False,
            "test": True,
            "_capture": bool(data.get("capture", False)),
            "_shop": shop_id,
        }
        if not description:
            del payment["description"]
        self.payments[payment_id] = payment
        self.return_urls[payment_id] = confirmation["return_url"]
        return self._public(payment)

    def _get(self, payment_id: str, shop_id: str | None = None) -> dict[str, Any]:
        payment = self.payments.get(payment_id)
        if payment is None or (shop_id is not None and payment["_shop"] != shop_id):
            raise ApiFailure(404, "not_found", "Payment doesn't exist or access denied")
        return payment

    def _payment(self, payment_id: str, shop_id: str) -> dict[str, Any]:
        return self._public(self._get(payment_id, shop_id))

    def _capture(self, payment: dict[str, Any], amount: Decimal | None = None) -> None:
        total = Decimal(payment["amount"]["value"])
        captured = amount if amount is not None else total
        currency = payment["amount"]["currency"]
        payment.update(
            status="succeeded",
            paid=True,
            amount=_amount(captured, currency),
            income_amount=_amount(
                (captured * (1 - self.fee_rate)).quantize(TWO_PLACES, ROUND_HALF_UP), currency
            ),
            captured_at=_now(),
            refundable=True,
            payment_method={"type": "bank_card", "id": payment["id"], "saved": False},
        )
        payment.pop("confirmation", None)
        payment.pop("expires_at", None)

    def _api_capture(self, payment_id, shop_id, data) -> dict[str, Any]:
        payment = self._get(payment_id, shop_id)
        if payment["status"] != "waiting_for_capture":
            raise _bad(f"Payment in status {payment['status']} can't be captured")
        amount = None
        if data.get("amount"):
            amount, _ = self._parse_amount(data["amount"])
        self._capture(payment, amount)
        self._queue("payment.succeeded", payment)
        return self._public(payment)

    def _api_cancel(self, payment_id: str, shop_id: str) -> dict[str, Any]:
        payment = self._get(payment_id, shop_id)
        if payment["status"] == "canceled":
            return self._public(payment)
        if payment["status"] != "waiting_for_capture":
            raise _bad(f"Payment in status {payment['status']} can't be canceled")
        self._set_canceled(payment, party="merchant", reason="canceled_by_merchant")
        self._queue("payment.canceled", payment)
        return self._public(payment)

    @staticmethod
    def _set_canceled(payment: dict[str, Any], *, party: str, reason: str) -> None:
        payment.update(
            status="canceled", paid=False, cancellation_details={"party": party, "reason": reason}
        )
        payment.pop("confirmation", None)

    def _add_refund(
        self,
        payment: dict[str, Any],
        value: Decimal,
        *,
        description: str = "",
        metadata: dict | None = None,
    ) -> dict[str, Any]:
        refunded = Decimal(payment.get("refunded_amount", {}).get("value", "0"))
        if refunded + value > Decimal(payment["amount"]["value"]):
            raise _bad("Refund amount exceeds the amount available for refund", "amount.value")
        currency = payment["amount"]["currency"]
        refund = {
            "id": str(uuid.uuid4()),
            "payment_id": payment["id"],
            "status": "succeeded",
            "created_at": _now(),
            "amount": _amount(value, currency),
            "_shop": payment["_shop"],
        }
        if description:
            refund["description"] = description
        if metadata:
            refund["metadata"] = metadata
        self.refunds[refund["id"]] = refund
        payment["refunded_amount"] = _amount(refunded + value, currency)
        payment["refundable"] = refunded + value < Decimal(payment["amount"]["value"])
        return refund

    def _create_refund(self, data: dict[str, Any], shop_id: str) -> dict[str, Any]:
        payment_id = data.get("payment_id")
        if not payment_id:
            raise _bad("Payment id is missing", "payment_id")
        payment = self._get(str(payment_id), shop_id)
        if payment["status"] != "succeeded":
            raise _bad(f"Payment in status {payment['status']} can't be refunded", "payment_id")
        value, currency = self._parse_amount(data.get("amount"))
        if currency != payment["amount"]["currency"]:
            raise _bad("Refund currency differs from the payment's", "amount.currency")
        refund = self._add_refund(
            payment, value, description=data.get("description", ""), metadata=data.get("metadata")
        )
        self._queue("refund.succeeded", refund)
        return self._public(refund)

    def _list_refunds(self, query: dict[str, list[str]], shop_id: str) -> dict[str, Any]:
        payment_id = (query.get("payment_id") or [""])[0]
        try:
            limit = int((query.get("limit") or ["10"])[0])
            start = int((query.get("cursor") or ["0"])[0])
        except ValueError:
            raise _bad("Invalid limit or cursor", "limit") from None
        if not 1 <= limit <= 100:
            raise _bad("Limit must be from 1 to 100", "limit")
        items = [
            r
            for r in reversed(self.refunds.values())  # newest first, like YooKassa
            if r["_shop"] == shop_id and (not payment_id or r["payment_id"] == payment_id)
        ]
        page = items[start : start + limit]
        answer: dict[str, Any] = {"type": "list", "items": [self._public(r) for r in page]}
        if start + limit < len(items):
            answer["next_cursor"] = str(start + limit)
        return answer

    # --- notifications ------------------------------------------------------------------------
    def notification(self, event: str, obj: dict[str, Any]) -> bytes:
        return json.dumps(
            {"type": "notification", "event": event, "object": self._public(obj)}
        ).encode()

    def _queue(self, event: str, obj: dict[str, Any]) -> None:
        body = self.notification(event, obj)
        if self.auto_deliver:
            threading.Thread(target=self.sender, args=(body,), daemon=True).start()
        else:
            self.outbox.append(body)

    def deliver_outbox(self) -> list[int]:
        with self._lock:
            bodies, self.outbox = self.outbox, []
        return [self.sender(body) for body in bodies]

    def _post_notification(self, body: bytes) -> int:
        if not self.notification_url:
            return 0
        try:
            response = httpx.post(
                self.notification_url,
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
        except httpx.HTTPError:
            return 0
        return response.status_code

    def _send(self, event: str, obj: dict[str, Any], notify: bool) -> int | None:
        if not notify:
            return None
        return self.sender(self.notification(event, obj))

    # --- control API (the payer and the merchant dashboard) -----------------------------------
    def succeed(self, payment_id: str, *, notify: bool = True) -> dict[str, Any]:
        """The payer pays (captured at once when the payment was created with capture: true,
        else it waits for capture)."""
        with self._lock:
            payment = self._get(payment_id)
            if payment["status"] == "pending":
                if payment["_capture"]:
                    self._capture(payment)
                else:
                    payment.update(status="waiting_for_capture", paid=True)
            event = f"payment.{payment['status']}"
            snapshot = self._public(payment)
        self._send(event, snapshot, notify)
        return snapshot

    def cancel(
        self,
        payment_id: str,
        *,
        party: str = "yoo_money",
        reason: str = "expired_on_confirmation",
        notify: bool = True,
    ) -> dict[str, Any]:
        """The payment fails or expires (e.g. party "payment_network", reason
        "insufficient_funds")."""
        with self._lock:
            payment = self._get(payment_id)
            if payment["status"] in ("pending", "waiting_for_capture"):
                self._set_canceled(payment, party=party, reason=reason)
            snapshot = self._public(payment)
        self._send("payment.canceled", snapshot, notify)
        return snapshot

    def refund(
        self, payment_id: str, amount: str | Decimal | None = None, *, notify: bool = True
    ) -> dict[str, Any]:
        """A refund made in the merchant dashboard (all that is left when no amount is given)."""
        with self._lock:
            payment = self._get(payment_id)
            if payment["status"] != "succeeded":
                raise _bad(f"Payment in status {payment['status']} can't be refunded")
            left = Decimal(payment["amount"]["value"]) - Decimal(
                payment.get("refunded_amount", {}).get("value", "0")
            )
            refund = self._public(
                self._add_refund(payment, Decimal(str(amount)) if amount is not None else left)
            )
        self._send("refund.succeeded", refund, notify)
        return refund

    def send(self, event: str, payment_id: str) -> int:
        """(Re)send the notification `event` about a payment as it is now."""
        with self._lock:
            snapshot = self._public(self._get(payment_id))
        return self.sender(self.notification(event, snapshot))


class _Handler(BaseHTTPRequestHandler):
    fake: YooKassaFake
    server_version = "YooKassaFake/1.0"

    def log_message(self, format, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path.startswith("/checkout/"):
            return self._checkout(method, url.path.rsplit("/", 1)[-1], body)
        try:
            status, payload = self.fake.handle(
                method, url.path, parse_qs(url.query), self.headers, body
            )
        except ApiFailure as failure:
            status, payload = failure.status, failure.body()
        self._answer(status, payload)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _checkout(self, method: str, payment_id: str, body: bytes) -> None:
        fake = self.fake
        if payment_id not in fake.payments:
            self.send_error(404)
            return
        if method == "POST":
            action = parse_qs(body.decode()).get("action", [""])[0]
            if action == "pay":
                fake.succeed(payment_id)
            elif action == "cancel":
                fake.cancel(payment_id)  # the payer gave up: expired_on_confirmation
            self.send_response(303)
            self.send_header("Location", fake.return_urls.get(payment_id, "/"))
            self.end_headers()
            return
        payment = fake.payments[payment_id]
        amount = html.escape(f"{payment['amount']['value']} {payment['amount']['currency']}")
        page = (
            "<!doctype html><meta charset=utf-8><title>YooKassa (local fake)</title>"
            f"<h1>{html.escape(payment.get('description', ''))}</h1><p>{amount}</p>"
            f"<p>Status: {html.escape(payment['status'])}</p>"
            '<form method=post><button name=action value=pay id="pay">Pay</button> '
            '<button name=action value=cancel id="cancel">Cancel</button></form>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local YooKassa API v3 for tests and the demo.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12112)
    parser.add_argument(
        "--shop",
        action="append",
        default=[],
        help="shop_id:secret_key (repeatable; default 100500:test_secret)",
    )
    parser.add_argument("--currency", action="append", default=[], help="default RUB")
    parser.add_argument("--notify-url", default="", help="where notifications are POSTed")
    args = parser.parse_args(argv)
    shops = dict(s.split(":", 1) for s in args.shop) if args.shop else None
    fake = YooKassaFake(
        shops=shops,
        currencies=tuple(args.currency) or ("RUB",),
        host=args.host,
        port=args.port,
        notification_url=args.notify_url,
        auto_deliver=True,
    ).start()
    print(f"YooKassa fake: api_url {fake.api_url}, shops {sorted(fake.shops)}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
