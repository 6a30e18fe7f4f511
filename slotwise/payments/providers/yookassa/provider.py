"""YooKassa (Russian bank acquiring: cards, SBP, YooMoney; S3.5) through the official `yookassa`
SDK, API v3.

Settings (`ProviderConfig.settings`): ``shop_id``, ``secret_key_env`` (the NAME of the environment
variable holding the secret key), optionally ``api_url`` (default https://api.yookassa.ru/v3; tests
and the demo point it at the local fake) and ``currencies`` (default ``["RUB"]``; list the others
the shop is enabled for).

**One SDK, many shops.** The SDK keeps its credentials and API URL in class attributes of
`yookassa.Configuration`, one set per process, but each organisation has its own shop. The SDK's
`ApiClient` copies them when it is constructed and never reads them again, and every SDK call
builds its resource (and so its client) with ``cls()``. So each call here builds a client under a
lock — credentials set, client constructed, the previous values put back (the secret does not
linger in the global) — and `_Payment` / `_Refund` (SDK resources whose ``__init__`` takes that
client from a context variable) run the request outside the lock. Shops never mix and calls run in
parallel; holding a lock across the whole HTTP call would serialise every YooKassa call of a
process, and a hung one (the SDK sets no time-out) would block them all. `_ShopClient` adds the
missing time-out. If a future SDK stops copying the configuration in ``ApiClient.__init__`` the
tests against the fake (two shops, interleaved) fail; the fallback is the documented REST API
with httpx through `slotwise.core.http.client`.

**Payments** are created with ``capture: true`` and a redirect confirmation, with our idempotency
key as ``Idempotence-Key``: asking again with the same key returns the same payment, so a worker
that died after the call is reconciled without a second payment. Our payment's public id travels
in ``metadata.payment_id``; our refund's id in the refund's ``metadata.refund_id``.

**Notifications** carry no signature. They are accepted only from YooKassa's documented networks
(`YOOKASSA_NETWORKS`, plus `settings.PAYMENTS_YOOKASSA_EXTRA_NETWORKS` set by the operator — never
per organisation) and are only a hint: every event asks the service to fetch the payment
(`confirm_by_retrieve`) and the fetched state is what is applied. The source address is the
`remote_addr` the view passes (``REMOTE_ADDR``): behind a proxy the operator must make it the real
client's address (uvicorn ``--proxy-headers --forwarded-allow-ips=<proxy>``). The payment is found
by YooKassa's payment id (the reference we stored), never by the ``metadata`` a notification
carries, so a notification can't point one payment's money at another payment.

Facts: ``pending`` and ``waiting_for_capture`` are pending (we capture at once, so the second
should not occur); ``succeeded`` is paid (``amount``), with the fee ``amount − income_amount`` and
``refunded_amount`` (YooKassa keeps a refunded payment ``succeeded``); ``canceled`` is cancelled
when the merchant cancelled or the payment expired, failed otherwise (declined, no funds …).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import requests
import yookassa
from django.conf import settings as django_settings
from django.utils.translation import gettext_lazy as _
from yookassa import Configuration
from yookassa.client import ApiClient
from yookassa.domain.exceptions import ApiError

from slotwise.core.money import Money, MoneyError

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

DEFAULT_API_URL = "https://api.yookassa.ru/v3"
#: (connect, read) seconds; the SDK itself waits forever.
HTTP_TIMEOUT = (5.0, 30.0)

#: The networks YooKassa sends notifications from (yookassa.ru/developers/using-api/webhooks#ip).
YOOKASSA_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "185.71.76.0/27",
        "185.71.77.0/27",
        "77.75.153.0/25",
        "77.75.156.11/32",
        "77.75.156.35/32",
        "77.75.154.128/25",
        "2a02:5180::/32",
    )
)

#: Cancellation reasons that mean "given up on", not "declined" (YooKassa's cancellation_details).
_CANCELLED_REASONS = {
    "canceled_by_merchant",
    "expired_on_confirmation",
    "expired_on_capture",
    "deal_expired",
}
_PERMANENT_HTTP = {400, 401, 403, 404, 405, 410, 415}

# --- the SDK, one shop per call ---------------------------------------------------------------

_configuration_lock = threading.Lock()
_current_client: ContextVar[ApiClient | None] = ContextVar("yookassa_client", default=None)
_CONFIG_FIELDS = ("account_id", "secret_key", "auth_token", "api_url")


class _ShopClient(ApiClient):
    """The SDK's client with a time-out on every request."""

    def get_session(self):
        session = super().get_session()
        session.request = functools.partial(session.request, timeout=HTTP_TIMEOUT)
        return session


def _client_for(shop_id: str, secret_key: str, api_url: str) -> ApiClient:
    with _configuration_lock:
        saved = {name: getattr(Configuration, name) for name in _CONFIG_FIELDS}
        try:
            Configuration.account_id = shop_id
            Configuration.secret_key = secret_key
            Configuration.auth_token = None
            Configuration.api_url = api_url
            return _ShopClient()
        finally:
            for name, value in saved.items():
                setattr(Configuration, name, value)


class _BoundResource:
    """An SDK resource whose client is the current call's (`YooKassaProvider._sdk`)."""

    def __init__(self) -> None:
        client = _current_client.get()
        if client is None:
            raise RuntimeError("YooKassa SDK used outside YooKassaProvider._sdk()")
        self.client = client


class _Payment(_BoundResource, yookassa.Payment):
    pass


class _Refund(_BoundResource, yookassa.Refund):
    pass


def _as_dict(sdk_object: Any) -> dict[str, Any]:
    """An SDK response as plain JSON data (nothing past the boundary sees SDK objects)."""
    return json.loads(sdk_object.json())


def _provider_error(exc: ApiError) -> ProviderError:
    content = exc.content or {}
    status = getattr(exc, "HTTP_CODE", 0)
    code = str(content.get("code", ""))
    description = content.get("description", "")
    parameter = content.get("parameter", "")
    message = f"YooKassa {status or 'error'} {code}: {description}"
    if parameter:
        message += f" ({parameter})"
    return ProviderError(message, permanent=status in _PERMANENT_HTTP, code=code)


class YooKassaProvider(PaymentProvider):
    identifier = "yookassa"
    verbose_name = _("YooKassa (bank cards, SBP, YooMoney)")
    currencies = ("RUB",)
    required_settings = ("shop_id", "secret_key_env")

    def accepts(self, currency: str) -> bool:
        return currency in tuple(self.setting("currencies") or self.currencies)

    # --- calls --------------------------------------------------------------------------------
    @contextmanager
    def _sdk(self) -> Iterator[None]:
        client = _client_for(
            str(self.setting("shop_id")),
            self.secret("secret_key"),
            str(self.setting("api_url") or DEFAULT_API_URL).rstrip("/"),
        )
        token = _current_client.set(client)
        try:
            yield
        except ApiError as exc:
            raise _provider_error(exc) from exc
        except requests.RequestException as exc:
            raise ProviderError(f"YooKassa could not be reached: {exc}") from exc
        except AttributeError as exc:
            # The SDK turns a connection error or time-out into an AttributeError (it reads the
            # missing response's status); the original is the context.
            if isinstance(exc.__context__, requests.RequestException):
                raise ProviderError(
                    f"YooKassa could not be reached: {exc.__context__}"
                ) from exc.__context__
            raise
        finally:
            _current_client.reset(token)

    # --- state --------------------------------------------------------------------------------
    def _state(
        self, data: dict[str, Any], *, refunds: list[dict[str, Any]] | None = None
    ) -> ProviderState:
        try:
            status = data["status"]
            currency = data["amount"]["currency"]
            amount = Money.of(data["amount"]["value"], currency)

            def money(key: str) -> Money | None:
                value = (data.get(key) or {}).get("value")
                return Money.of(value, currency) if value is not None else None

            refunded = money("refunded_amount")
            income = money("income_amount")
            reported_refunds = tuple(
                (
                    str((r.get("metadata") or {}).get("refund_id") or r["id"]),
                    Money.of(r["amount"]["value"], r["amount"]["currency"]),
                    {"succeeded": "succeeded", "canceled": "failed"}.get(r["status"], "pending"),
                )
                for r in refunds or ()
            )
        except (KeyError, TypeError, MoneyError) as exc:
            raise ProviderError(
                f"YooKassa sent a payment we can't read: {exc!r}", permanent=True
            ) from None
        details = data.get("cancellation_details") or {}
        canceled = status == "canceled"
        given_up = details.get("party") == "merchant" or details.get("reason") in (
            _CANCELLED_REASONS
        )
        confirmation_url = (data.get("confirmation") or {}).get("confirmation_url", "")
        return ProviderState(
            reference=str(data["id"]),
            pending=status in ("pending", "waiting_for_capture"),
            paid=amount if status == "succeeded" else None,
            refunded=refunded if refunded is not None and refunded.amount > 0 else None,
            cancelled=canceled and given_up,
            failed=canceled and not given_up,
            failure_reason=(
                f"{details.get('party', '')}: {details.get('reason', '')}" if canceled else ""
            ),
            fee=(amount - income) if status == "succeeded" and income is not None else None,
            refunds=reported_refunds,
            next_action=(
                NextAction(kind="redirect", url=confirmation_url)
                if status == "pending" and confirmation_url
                else None
            ),
            raw=data,
        )

    # --- lifecycle ----------------------------------------------------------------------------
    def prepare(self, request: PaymentRequest) -> ProviderState:
        confirmation = {
            "type": "redirect",
            "return_url": request.return_url or django_settings.SITE_URL,
            "locale": "ru_RU" if request.language == "ru" else "en_US",
        }
        params: dict[str, Any] = {
            "amount": {"value": str(request.amount.amount), "currency": request.amount.currency},
            "capture": True,
            "confirmation": confirmation,
            "metadata": {"payment_id": request.payment_id},
        }
        if request.description:
            params["description"] = request.description[:128]
        with self._sdk():
            data = _as_dict(_Payment.create(params, idempotency_key=request.idempotency_key))
        return self._state(data)

    def retrieve(self, reference: str) -> ProviderState:
        with self._sdk():
            data = _as_dict(_Payment.find_one(reference))
            refunds = self._refunds_of(reference) if data.get("refunded_amount") else []
        return self._state(data, refunds=refunds)

    def _refunds_of(self, reference: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"payment_id": reference, "limit": 100}
        for _page in range(50):
            page = _as_dict(_Refund.list(params))
            items += page.get("items") or []
            if not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
        return items

    def refund(self, request: RefundRequest) -> RefundResult:
        params: dict[str, Any] = {
            "payment_id": request.payment_reference,
            "amount": {"value": str(request.amount.amount), "currency": request.amount.currency},
            "metadata": {"refund_id": request.refund_id, "payment_id": request.payment_id},
        }
        if request.reason:
            params["description"] = request.reason[:250]
        with self._sdk():
            data = _as_dict(_Refund.create(params, idempotency_key=request.refund_id))
        status = {"succeeded": "succeeded", "canceled": "failed"}.get(data.get("status"), "pending")
        details = data.get("cancellation_details") or {}
        return RefundResult(
            reference=str(data["id"]),
            status=status,
            failure_reason=(
                f"{details.get('party', '')}: {details.get('reason', '')}"
                if status == "failed"
                else ""
            ),
            raw=data,
        )

    def cancel(self, reference: str) -> ProviderState | None:
        """Only a payment waiting for capture can be cancelled at YooKassa; a pending one expires
        by itself (and if it is paid meanwhile, the money facts win, see `services`)."""
        state = self.retrieve(reference)
        if state.raw.get("status") != "waiting_for_capture":
            return state
        with self._sdk():
            data = _as_dict(_Payment.cancel(reference, idempotency_key=f"cancel-{reference}"))
        return self._state(data)

    # --- notifications ------------------------------------------------------------------------
    @staticmethod
    def trusted_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        extra = getattr(django_settings, "PAYMENTS_YOOKASSA_EXTRA_NETWORKS", ()) or ()
        return YOOKASSA_NETWORKS + tuple(ipaddress.ip_network(n, strict=False) for n in extra)

    @classmethod
    def is_trusted(cls, remote_addr: str) -> bool:
        try:
            address = ipaddress.ip_address((remote_addr or "").strip())
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in cls.trusted_networks())

    def parse_callback(
        self, *, body: bytes, headers: dict[str, str], remote_addr: str
    ) -> list[ProviderEvent]:
        if not self.is_trusted(remote_addr):
            raise CallbackRejected(f"{remote_addr or 'no address'} is not YooKassa's", status=403)
        try:
            data = json.loads(body)
            if data.get("type") != "notification":
                raise ValueError("not a notification")
            event = str(data["event"])
            obj = data["object"]
            object_id = str(obj["id"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CallbackRejected(f"malformed notification: {exc}") from None
        if event.startswith("payment."):
            try:
                claimed = self._state(obj)
            except ProviderError as exc:
                raise CallbackRejected(str(exc)) from None
            if event != f"payment.{obj.get('status')}":
                raise CallbackRejected("the event does not match the payment's status")
        elif event == "refund.succeeded":
            # A refund of at least this much exists: the fetched payment must show it.
            try:
                claimed = ProviderState(
                    reference=str(obj["payment_id"]),
                    refunded=Money.of(obj["amount"]["value"], obj["amount"]["currency"]),
                )
            except (KeyError, TypeError, MoneyError) as exc:
                raise CallbackRejected(f"malformed refund: {exc!r}") from None
        else:
            return []  # payouts, deals, saved cards: nothing of ours
        return [
            ProviderEvent(event_id=f"{event}:{object_id}", state=claimed, confirm_by_retrieve=True)
        ]
