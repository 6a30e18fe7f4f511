"""Stripe, through the official SDK (`stripe`, a `StripeClient` per organisation, so
organisations never share the SDK's global state).

Flow: a hosted **Checkout Session** (mode=payment, one line item with the amount in minor units)
created with the payment's idempotency key, so asking again — a retry, or
`payment_reconcile` after a worker died before saving — returns the same session and can't
charge twice. The payer is redirected to the session's url; `success_url`/`cancel_url` are the
payment's return url.

**Reference** = the Checkout Session id (``cs_…``): it is the only id that exists when the
payment is created (Stripe creates the PaymentIntent when the payer confirms). `retrieve` reads
the session with its PaymentIntent, latest charge, balance transaction and refunds expanded, so
it knows what was captured, refunded and the fee. `retrieve`, `refund` and `cancel` also take a
PaymentIntent id (``pi_…``), in case one was ever stored.

Our payment id travels as `client_reference_id` and `metadata[slotwise_payment]` on the
session and, through `payment_intent_data[metadata]`, on the PaymentIntent (Stripe copies it to
the charge); our refunds carry `metadata[slotwise_payment]` and `[slotwise_refund]` (the refund's
idempotency key). So every webhook names its payment without a lookup, except a refund made in the
Dashboard, whose `refund.*` events are resolved through the PaymentIntent.

Webhooks (`Stripe-Signature`, verified by `stripe.Webhook.construct_event` with a 300-second
tolerance; secret from the env var named in settings `webhook_secret_env`) become cumulative facts:

============================================  ==============================================
checkout.session.completed / async_payment_   paid = amount_total when payment_status=paid,
succeeded                                     else pending
checkout.session.async_payment_failed         failed
checkout.session.expired                      cancelled
payment_intent.succeeded                      paid = amount_received
payment_intent.payment_failed                 pending (a declined attempt; the payer may retry
                                              until the session expires)
charge.refunded                               paid = amount_captured, refunded =
                                              amount_refunded (cumulative), refunds if listed
refund.created / updated / failed             that refund with its status
============================================  ==============================================

Other event types are acknowledged and ignored. Stripe's event id is the event id, so a
redelivery is a replay. The fee comes from the charge's balance transaction when it is expanded
and in the payment's currency.

Settings (`ProviderConfig.settings`): `secret_key_env`, `webhook_secret_env` (names of environment
variables), optional `api_base` (a local fake in tests and the demo), `return_url` (fallback),
`max_network_retries` (default 2; the SDK retries with the same idempotency key), `timeout`.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from typing import Any

import stripe
from django.conf import settings as django_settings
from django.utils.translation import gettext_lazy as _

from slotwise.core.money import Money, MoneyError

from ..base import (
    CallbackRejected,
    NextAction,
    PaymentProvider,
    PaymentRequest,
    ProviderError,
    ProviderEvent,
    ProviderNotConfigured,
    ProviderState,
    RefundRequest,
    RefundResult,
)

TOLERANCE_SECONDS = 300
META_PAYMENT = "slotwise_payment"
META_REFUND = "slotwise_refund"
# Checkout locales for the languages Slotwise speaks (anything else: Stripe picks).
LOCALES = {"en": "en", "sv": "sv", "ru": "ru", "nl": "nl"}
EXPAND_SESSION = [
    "payment_intent.latest_charge.balance_transaction",
    "payment_intent.latest_charge.refunds",
]
EXPAND_INTENT = ["latest_charge.balance_transaction", "latest_charge.refunds"]
REFUND_STATUS = {
    "pending": "pending",
    "requires_action": "pending",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}
SESSION_EVENTS = {
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
}
INTENT_EVENTS = {"payment_intent.succeeded", "payment_intent.payment_failed"}
REFUND_EVENTS = {"refund.created", "refund.updated", "refund.failed"}

_http_lock = threading.Lock()
_http_clients: dict[float, stripe.HTTPXClient] = {}


def _shared_http_client(timeout: float) -> stripe.HTTPXClient:
    """One connection pool per time-out for every organisation's client (it holds no
    credentials; the key and base address live in each organisation's StripeClient)."""
    with _http_lock:
        if timeout not in _http_clients:
            _http_clients[timeout] = stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True)
        return _http_clients[timeout]


def to_minor(money: Money) -> int:
    """Stripe's integer amount: the ISO 4217 minor unit (öre, cents, kopecks; yen as is)."""
    return money.minor


def from_minor(amount: Any, currency: str) -> Money:
    return Money.from_minor(int(amount), str(currency).upper())


@contextmanager
def _calls(action: str):
    """Stripe's errors as ProviderError: permanent when retrying the same request can't help."""
    try:
        yield
    except stripe.IdempotencyError as exc:
        raise ProviderError(
            f"stripe {action}: {exc.user_message or exc}", permanent=True, code="idempotency_error"
        ) from exc
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        raise ProviderNotConfigured(
            f"stripe {action}: {exc.user_message or exc}", permanent=True
        ) from exc
    except stripe.RateLimitError as exc:
        raise ProviderError(f"stripe {action}: rate limited", code="rate_limit") from exc
    except (stripe.InvalidRequestError, stripe.CardError) as exc:
        raise ProviderError(
            f"stripe {action}: {exc.user_message or exc}",
            permanent=True,
            code=str(exc.code or ""),
        ) from exc
    except stripe.StripeError as exc:  # connection errors, 5xx: try again later
        raise ProviderError(f"stripe {action}: {exc.user_message or exc}") from exc


def _id_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


class StripeProvider(PaymentProvider):
    identifier = "stripe"
    verbose_name = _("Stripe (cards and wallets)")
    required_settings = ("secret_key_env", "webhook_secret_env")

    def __init__(self, settings=None, *, organisation_id=None) -> None:
        super().__init__(settings, organisation_id=organisation_id)
        self._client: stripe.StripeClient | None = None

    # --- the SDK ------------------------------------------------------------------------------
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            options: dict[str, Any] = {
                "max_network_retries": int(self.setting("max_network_retries", 2)),
                "http_client": _shared_http_client(float(self.setting("timeout", 30))),
            }
            if self.setting("api_base"):
                options["base_addresses"] = {"api": str(self.setting("api_base")).rstrip("/")}
            self._client = stripe.StripeClient(self.secret("secret_key"), **options)
        return self._client

    # --- lifecycle ----------------------------------------------------------------------------
    def prepare(self, request: PaymentRequest) -> ProviderState:
        return_url = (
            request.return_url
            or self.setting("return_url")
            or django_settings.SITE_URL.rstrip("/") + "/"
        )
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.amount.currency.lower(),
                        "unit_amount": to_minor(request.amount),
                        "product_data": {"name": request.description[:250] or "Slotwise"},
                    },
                }
            ],
            "client_reference_id": request.payment_id,
            "metadata": {META_PAYMENT: request.payment_id},
            "payment_intent_data": {
                "metadata": {META_PAYMENT: request.payment_id},
                "description": request.description[:250],
            },
            "success_url": return_url,
            "cancel_url": return_url,
        }
        if request.payer_email:
            params["customer_email"] = request.payer_email
        if request.language in LOCALES:
            params["locale"] = LOCALES[request.language]
        with _calls("create checkout session"):
            session = self.client().v1.checkout.sessions.create(
                params, {"idempotency_key": request.idempotency_key}
            )
        headers = session.last_response.headers if session.last_response is not None else {}
        replayed = any(
            k.lower() == "idempotent-replayed" and str(v).lower() == "true"
            for k, v in headers.items()
        )
        if replayed:
            # Stripe answers a repeated key with the response it saved back then: fetch what
            # happened since (the payer may have paid while we were down).
            return self.retrieve(session.id)
        return self._session_state(session.to_dict())

    def retrieve(self, reference: str) -> ProviderState:
        with _calls("retrieve"):
            if reference.startswith("pi_"):
                intent = self.client().v1.payment_intents.retrieve(
                    reference, {"expand": EXPAND_INTENT}
                )
                return self._intent_state(intent.to_dict(), reference=reference)
            session = self.client().v1.checkout.sessions.retrieve(
                reference, {"expand": EXPAND_SESSION}
            )
        return self._session_state(session.to_dict())

    def refund(self, request: RefundRequest) -> RefundResult:
        intent_id = self._intent_id(request.payment_reference)
        if not intent_id:
            return RefundResult(reference="", status="failed", failure_reason="not paid")
        params = {
            "payment_intent": intent_id,
            "amount": to_minor(request.amount),
            "reason": "requested_by_customer",
            "metadata": {META_PAYMENT: request.payment_id, META_REFUND: request.refund_id},
        }
        with _calls("refund"):
            refund = self.client().v1.refunds.create(params, {"idempotency_key": request.refund_id})
        data = refund.to_dict()
        return RefundResult(
            reference=str(data["id"]),
            status=REFUND_STATUS.get(str(data.get("status")), "pending"),
            failure_reason=str(data.get("failure_reason") or ""),
            raw=data,
        )

    def cancel(self, reference: str) -> ProviderState | None:
        """Expire the Checkout Session so it can't be paid any more. A session already completed
        can't be expired: its state (paid) is returned instead and wins."""
        if not reference.startswith("cs_"):
            return self.retrieve(reference)
        try:
            with _calls("expire"):
                session = self.client().v1.checkout.sessions.expire(reference)
        except ProviderError as exc:
            if not exc.permanent or isinstance(exc, ProviderNotConfigured):
                raise
            return self.retrieve(reference)
        return self._session_state(session.to_dict())

    def _intent_id(self, reference: str) -> str:
        if reference.startswith("pi_"):
            return reference
        if not reference:
            return ""
        with _calls("retrieve"):
            session = self.client().v1.checkout.sessions.retrieve(reference)
        return _id_of(session.to_dict().get("payment_intent"))

    # --- webhooks -----------------------------------------------------------------------------
    def parse_callback(
        self, *, body: bytes, headers: dict[str, str], remote_addr: str
    ) -> list[ProviderEvent]:
        signature = {k.lower(): v for k, v in headers.items()}.get("stripe-signature", "")
        try:
            secret = self.secret("webhook_secret")
        except ProviderNotConfigured:
            raise CallbackRejected("webhook secret not configured", status=503) from None
        try:
            stripe.Webhook.construct_event(body, signature, secret, tolerance=TOLERANCE_SECONDS)
            event = json.loads(body)  # verified: read it as plain data
            kind = str(event["type"])
            obj = event["data"]["object"]
            event_id = str(event["id"])
        except stripe.SignatureVerificationError as exc:
            raise CallbackRejected(f"bad or stale signature: {exc.user_message or exc}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackRejected(f"malformed event: {exc}") from None
        try:
            result = self._event(kind, obj)
        except (MoneyError, KeyError, TypeError, ValueError) as exc:
            raise CallbackRejected(f"malformed {kind} event: {exc}") from None
        if result is None:
            return []
        state, payment_id = result
        return [ProviderEvent(event_id=event_id, state=state, payment_id=payment_id)]

    def _event(self, kind: str, obj: dict[str, Any]) -> tuple[ProviderState, str] | None:
        metadata = obj.get("metadata") or {}
        if kind in SESSION_EVENTS:
            state = self._session_state(obj)
            if kind == "checkout.session.async_payment_failed":
                state = ProviderState(reference=state.reference, failed=True, raw=obj)
            payment_id = str(obj.get("client_reference_id") or metadata.get(META_PAYMENT) or "")
            return state, payment_id
        if kind in INTENT_EVENTS:
            state = self._intent_state(obj, reference=str(obj["id"]))
            if kind == "payment_intent.payment_failed":
                # One attempt was declined; the payer may try again on the same Checkout page
                # until the session expires (then: cancelled). Not a terminal failure: showing
                # "failed" would invite a second payment while this one can still be paid.
                error = obj.get("last_payment_error") or {}
                state = ProviderState(
                    reference=state.reference,
                    paid=state.paid,
                    pending=state.paid is None,
                    failure_reason=str(error.get("message") or error.get("code") or ""),
                    raw=obj,
                )
            return state, str(metadata.get(META_PAYMENT) or "")
        if kind == "charge.refunded":
            reference = _id_of(obj.get("payment_intent")) or str(obj["id"])
            return self._charge_state(obj, reference=reference), str(
                metadata.get(META_PAYMENT) or ""
            )
        if kind in REFUND_EVENTS:
            intent_id = _id_of(obj.get("payment_intent"))
            payment_id = str(metadata.get(META_PAYMENT) or "")
            if not payment_id and intent_id:
                # A refund made in the Dashboard carries no metadata of ours: ask its intent.
                with _calls("retrieve"):
                    intent = self.client().v1.payment_intents.retrieve(intent_id)
                payment_id = str((intent.to_dict().get("metadata") or {}).get(META_PAYMENT) or "")
            state = ProviderState(
                reference=intent_id or str(obj["id"]),
                refunds=(self._refund_entry(obj),),
                raw=obj,
            )
            return state, payment_id
        return None

    # --- Stripe objects → facts ---------------------------------------------------------------
    def _session_state(self, session: dict[str, Any]) -> ProviderState:
        reference = str(session["id"])
        intent = session.get("payment_intent")
        if isinstance(intent, dict):
            state = self._intent_state(intent, reference=reference)
        else:
            state = ProviderState(reference=reference)
        paid = state.paid
        if session.get("payment_status") == "paid" and session.get("amount_total") is not None:
            total = from_minor(session["amount_total"], session["currency"])
            paid = total if paid is None or paid.amount < total.amount else paid
        status = session.get("status")
        next_action = None
        if status == "open" and session.get("url"):
            next_action = NextAction(kind="redirect", url=str(session["url"]))
        return ProviderState(
            reference=reference,
            pending=status == "open" or (status == "complete" and paid is None),
            paid=paid,
            refunded=state.refunded,
            failed=state.failed,
            cancelled=status == "expired" and paid is None,
            failure_reason=state.failure_reason,
            fee=state.fee,
            refunds=state.refunds,
            next_action=next_action,
            raw=session,
        )

    def _intent_state(self, intent: dict[str, Any], *, reference: str) -> ProviderState:
        currency = str(intent["currency"])
        received = int(intent.get("amount_received") or 0)
        paid = from_minor(received, currency) if received else None
        charge = intent.get("latest_charge")
        if isinstance(charge, dict) and charge.get("amount_captured"):
            charge_state = self._charge_state(charge, reference=reference)
            if paid is None or (charge_state.paid and charge_state.paid.amount > paid.amount):
                paid = charge_state.paid
            refunded, fee, refunds = charge_state.refunded, charge_state.fee, charge_state.refunds
        else:
            refunded, fee, refunds = None, None, ()
        return ProviderState(
            reference=reference,
            pending=intent.get("status") in ("processing", "requires_action"),
            paid=paid,
            refunded=refunded,
            cancelled=intent.get("status") == "canceled" and paid is None,
            fee=fee,
            refunds=refunds,
            raw=intent,
        )

    def _charge_state(self, charge: dict[str, Any], *, reference: str) -> ProviderState:
        currency = str(charge["currency"])
        captured = int(charge.get("amount_captured") or 0)
        refunded_minor = int(charge.get("amount_refunded") or 0)
        refunds: tuple[tuple[str, Money, str], ...] = ()
        listed = charge.get("refunds")
        if isinstance(listed, dict) and isinstance(listed.get("data"), list):
            refunds = tuple(self._refund_entry(r) for r in listed["data"])
        fee = None
        txn = charge.get("balance_transaction")
        if isinstance(txn, dict) and str(txn.get("currency", "")).lower() == currency.lower():
            fee = from_minor(txn.get("fee") or 0, currency)
        return ProviderState(
            reference=reference,
            paid=from_minor(captured, currency) if captured else None,
            refunded=from_minor(refunded_minor, currency) if refunded_minor else None,
            fee=fee,
            refunds=refunds,
            raw=charge,
        )

    @staticmethod
    def _refund_entry(refund: dict[str, Any]) -> tuple[str, Money, str]:
        """(reference, amount, status) of one Stripe refund. Ours are named by our refund's
        idempotency key (from its metadata), so the service matches them to the Refund row even
        when the webhook beats the worker's own save; others by Stripe's ``re_`` id."""
        metadata = refund.get("metadata") or {}
        reference = str(metadata.get(META_REFUND) or refund["id"])
        status = REFUND_STATUS.get(str(refund.get("status")), "pending")
        return reference, from_minor(refund["amount"], refund["currency"]), status
