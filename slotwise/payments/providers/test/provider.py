"""The test provider: a complete payment provider whose "remote side" is a checkout page served
by Slotwise itself (`/payments/test-provider/<reference>/`). The demo uses it, so paying works
with no account anywhere; the callbacks it sends are signed and checked exactly like a real
provider's, which also makes it the provider of the `payment_callbacks` benchmark.

Remote state lives in the cache (Redis in production and CI) under the payment's reference.

Callback signature (modelled on Stripe's): header ``Slotwise-Signature: t=<unix>,v1=<hex>`` where
``v1 = HMAC-SHA256(secret, f"{t}.{body}")``; older than 300 seconds is stale. The secret comes from
the environment variable named in `settings["secret_env"]`, else it is derived from SECRET_KEY.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from decimal import Decimal

from django.conf import settings as django_settings
from django.core.cache import cache
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from slotwise.core.money import Money

from ..base import (
    CallbackRejected,
    NextAction,
    PaymentProvider,
    PaymentRequest,
    ProviderError,
    ProviderEvent,
    ProviderState,
    RefundRequest,
    RefundResult,
)

HEADER = "Slotwise-Signature"
TOLERANCE_SECONDS = 300
REMOTE_TTL = 60 * 60 * 24 * 30


def _key(reference: str) -> str:
    return f"payments:test:{reference}"


class TestProvider(PaymentProvider):
    identifier = "test"
    verbose_name = _("Test payments (demo)")

    # --- the signing secret -------------------------------------------------------------------
    def signing_secret(self) -> bytes:
        if self.settings.get("secret_env"):
            return self.secret("secret").encode()
        return (
            hmac.new(django_settings.SECRET_KEY.encode(), b"slotwise-test-provider", hashlib.sha256)
            .hexdigest()
            .encode()
        )

    def sign(self, body: bytes, *, timestamp: int | None = None) -> str:
        t = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(self.signing_secret(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        return f"t={t},v1={mac}"

    # --- remote side (what a real provider keeps on its servers) --------------------------------
    @staticmethod
    def remote(reference: str) -> dict | None:
        return cache.get(_key(reference))

    @staticmethod
    def _store(reference: str, data: dict) -> None:
        cache.set(_key(reference), data, REMOTE_TTL)

    def remote_pay(self, reference: str, *, succeed: bool = True) -> dict:
        data = self.remote(reference)
        if data is None:
            raise ProviderError("unknown payment", permanent=True)
        if data["status"] == "pending":
            data["status"] = "paid" if succeed else "failed"
            self._store(reference, data)
        return data

    def event_body(self, data: dict, *, event_type: str, event_id: str = "") -> bytes:
        return json.dumps(
            {
                "id": event_id or f"evt_{uuid.uuid4().hex}",
                "type": event_type,
                "created": int(time.time()),
                "payment": data,
            }
        ).encode()

    # --- lifecycle ----------------------------------------------------------------------------
    def prepare(self, request: PaymentRequest) -> ProviderState:
        # Same idempotency key → same reference → the same remote payment.
        reference = "tp_" + uuid.uuid5(uuid.NAMESPACE_URL, request.idempotency_key).hex
        data = self.remote(reference)
        if data is None:
            data = {
                "reference": reference,
                "payment_id": request.payment_id,
                "amount": str(request.amount.amount),
                "currency": request.amount.currency,
                "refunded": "0",
                "refunds": [],
                "status": "pending",
                "description": request.description,
                "return_url": request.return_url,
                "callback_url": request.callback_url,
            }
            self._store(reference, data)
        url = reverse("payments:test_checkout", kwargs={"reference": reference})
        return self._state(data, next_action=NextAction(kind="redirect", url=url))

    def _state(self, data: dict, *, next_action: NextAction | None = None) -> ProviderState:
        currency = data["currency"]
        paid = (
            Money(Decimal(data["amount"]), currency)
            if data["status"]
            in (
                "paid",
                "refunded",
            )
            else None
        )
        refunded = Money(Decimal(data.get("refunded", "0")), currency)
        return ProviderState(
            reference=data["reference"],
            pending=data["status"] == "pending",
            paid=paid,
            refunded=refunded if refunded.amount else None,
            failed=data["status"] == "failed",
            cancelled=data["status"] == "cancelled",
            refunds=tuple(
                (r["id"], Money(Decimal(r["amount"]), currency), "succeeded")
                for r in data.get("refunds", [])
            ),
            next_action=next_action,
            raw=data,
        )

    def parse_callback(self, *, body: bytes, headers: dict[str, str], remote_addr: str):
        header = {k.lower(): v for k, v in headers.items()}.get(HEADER.lower(), "")
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        try:
            timestamp = int(parts.get("t", ""))
        except ValueError:
            raise CallbackRejected("missing or malformed signature header") from None
        expected = hmac.new(
            self.signing_secret(), f"{timestamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, parts.get("v1", "")):
            raise CallbackRejected("bad signature")
        if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
            raise CallbackRejected("stale timestamp")
        try:
            event = json.loads(body)
            data = event["payment"]
            state = self._state(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackRejected(f"malformed event: {exc}") from None
        return [
            ProviderEvent(
                event_id=str(event["id"]), state=state, payment_id=str(data.get("payment_id", ""))
            )
        ]

    def retrieve(self, reference: str) -> ProviderState:
        data = self.remote(reference)
        if data is None:
            raise ProviderError("unknown payment", permanent=True)
        return self._state(data)

    def refund(self, request: RefundRequest) -> RefundResult:
        data = self.remote(request.payment_reference)
        if data is None or data["status"] not in ("paid", "refunded"):
            return RefundResult(reference="", status="failed", failure_reason="not paid")
        for existing in data["refunds"]:
            if existing["id"] == request.refund_id:  # same idempotency key: the same refund
                return RefundResult(reference=existing["id"], status="succeeded")
        refunded = Decimal(data["refunded"]) + request.amount.amount
        if refunded > Decimal(data["amount"]):
            return RefundResult(reference="", status="failed", failure_reason="exceeds payment")
        data["refunds"].append({"id": request.refund_id, "amount": str(request.amount.amount)})
        data["refunded"] = str(refunded)
        if refunded == Decimal(data["amount"]):
            data["status"] = "refunded"
        self._store(request.payment_reference, data)
        return RefundResult(reference=request.refund_id, status="succeeded")

    def cancel(self, reference: str) -> ProviderState | None:
        data = self.remote(reference)
        if data is None:
            return None
        if data["status"] == "pending":
            data["status"] = "cancelled"
            self._store(reference, data)
        return self._state(data)
