"""Swish (S0.7): the merchant Commerce API, v2 payment requests.

Flows
- **e-commerce**: we send the payer's Swish number (``payerAlias``); Swish asks them to approve in
  the app on their phone. Next action: ``wait``.
- **m-commerce**: no ``payerAlias``; Swish answers a ``PaymentRequestToken``. On a phone the link
  ``swish://paymentrequest?token=<token>&callbackurl=<return>`` opens the Swish app; on a desktop
  the page shows a QR code of ``D<token>`` (generated here as SVG). Next action: ``app``.

The chosen flow is `PaymentRequest.flow` ("ecommerce" / "mcommerce"); empty means e-commerce when
a phone number is known, else m-commerce.

Identity and idempotency: the ``instructionUUID`` (32 upper-case hex characters) is the payment's
idempotency key, so asking again is the same PUT of the same payment request. A 409 (it exists,
e.g. created by an attempt whose answer was lost) is answered by fetching it. Refunds use the
refund's idempotency key the same way.

Security: every call is mutual TLS with the certificate the bank issued for the merchant's Swish
number (paths from the environment variables named by ``cert_env``, ``key_env`` and optionally
``ca_env``). Swish callbacks are not signed, so a callback is trusted only when (1) it carries the
``callbackIdentifier`` we generated for that payment request or refund (an HMAC of the
organisation and the instruction id under SECRET_KEY; sent in the request, echoed by Swish; read
from the ``callbackIdentifier`` header or the object), and (2) fetching the object from Swish
confirms the status it claims — a mismatch is rejected (stored as rejected under its own id, so a
forged "PAID" can't take the event id of the real one). Payment events also carry
``confirm_by_retrieve`` so the service applies what Swish says, not what the body says.

Settings (`ProviderConfig.settings`): ``payee_alias`` (the merchant's Swish number), ``base_url``
(``https://cpc.getswish.net/swish-cpcapi/api`` in production, the MSS simulator or the local fake
in tests), ``cert_env``, ``key_env``, ``ca_env`` (names of environment variables holding file
paths), ``callback_identifier`` (default true; false for an API version without it).
"""

from __future__ import annotations

import hmac
import json
import os
import re
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from slotwise.core.money import Money

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
from .client import SwishClient, SwishError

CURRENCY = "SEK"
_ID = re.compile(r"^[0-9A-F]{32}$")
_ALIAS = re.compile(r"^\d{8,15}$")
_PAYEE = re.compile(r"^\d{10}$")
# What Swish accepts in `message` (max 50): letters, digits and a few punctuation marks.
_MESSAGE_DROP = re.compile(r"[^A-Za-z0-9åäöÅÄÖéÉüÜ :;.,?!()\-\"']")

REFUND_STATUS = {"PAID": "succeeded", "ERROR": "failed", "DECLINED": "failed"}


def instruction_id(key: str) -> str:
    """The Swish instruction id for one of our idempotency keys (UUIDs map to their own hex)."""
    try:
        return uuid.UUID(str(key)).hex.upper()
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"slotwise:swish:{key}").hex.upper()


def payer_alias(phone: str) -> str:
    """A phone number as Swish wants it: country code and number, digits only (46701234567)."""
    if not phone:
        return ""
    import phonenumbers

    try:
        number = phonenumbers.parse(phone, "SE")
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def message_for(text: str) -> str:
    cleaned = _MESSAGE_DROP.sub(" ", text or "")
    return re.sub(r"\s+", " ", cleaned).strip()[:50]


def app_url(token: str, return_url: str = "") -> str:
    url = f"swish://paymentrequest?token={quote(token, safe='')}"
    if return_url:
        url += f"&callbackurl={quote(return_url, safe='')}"
    return url


def qr_svg(token: str) -> str:
    """The m-commerce QR code (``D<token>``) as inline SVG, made locally."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(f"D{token}", image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = image.to_string(encoding="unicode")
    svg = re.sub(r'\s(width|height)="[^"]*"', "", svg, count=2)
    return svg.replace(
        "<svg ", '<svg width="240" height="240" role="img" aria-label="Swish QR" ', 1
    )


def _money(value: Any) -> Money:
    return Money.of(str(value), CURRENCY)


class SwishProvider(PaymentProvider):
    identifier = "swish"
    verbose_name = _("Swish")
    currencies = (CURRENCY,)
    required_settings = ("payee_alias", "base_url", "cert_env", "key_env")

    # --- configuration ------------------------------------------------------------------------
    def check_settings(self) -> dict[str, str]:
        errors = super().check_settings()
        alias = str(self.settings.get("payee_alias") or "")
        if alias and not _PAYEE.match(alias):
            errors["payee_alias"] = str(_("A Swish number has 10 digits, e.g. 1231181189."))
        base_url = str(self.settings.get("base_url") or "")
        if base_url and urlsplit(base_url).scheme != "https":
            errors["base_url"] = str(_("The Swish API address must start with https://."))
        for name in ("cert_env", "key_env", "ca_env"):
            var = self.settings.get(name)
            if name in errors or not var:
                continue
            path = os.environ.get(var, "")
            if not path:
                errors[name] = str(
                    _("The environment variable %(name)s is not set.") % {"name": var}
                )
            elif not os.path.isfile(path):
                errors[name] = str(
                    _("The file %(path)s named by %(name)s does not exist.")
                    % {"path": path, "name": var}
                )
        return errors

    def _client(self) -> SwishClient:
        for key in ("payee_alias", "base_url"):
            if not self.settings.get(key):
                raise ProviderNotConfigured(f"swish: setting {key!r} is missing", permanent=True)
        return SwishClient(
            base_url=self.settings["base_url"],
            cert=self.secret("cert"),
            key=self.secret("key"),
            ca=self.secret("ca") if self.settings.get("ca_env") else "",
        )

    @property
    def payee(self) -> str:
        return str(self.settings.get("payee_alias") or "")

    @property
    def uses_callback_identifier(self) -> bool:
        return self.settings.get("callback_identifier", True) not in (False, "false", "0", 0)

    def callback_identifier(self, ident: str) -> str:
        """The secret we give Swish for one payment request or refund; Swish echoes it back."""
        mac = salted_hmac(
            "slotwise.payments.swish.callbackIdentifier", f"{self.organisation_id}:{ident}"
        )
        return mac.hexdigest()[:32].upper()

    # --- state ----------------------------------------------------------------------------------
    @staticmethod
    def state_of(data: dict[str, Any], *, next_action: NextAction | None = None) -> ProviderState:
        status = str(data.get("status") or "").upper()
        reason = ""
        if status in ("DECLINED", "ERROR"):
            code, text = data.get("errorCode") or "", data.get("errorMessage") or ""
            reason = f"{code}: {text}" if code and text else (code or text or status)
        return ProviderState(
            reference=str(data.get("id") or ""),
            pending=status == "CREATED",
            paid=_money(data["amount"]) if status == "PAID" else None,
            failed=status in ("DECLINED", "ERROR"),
            cancelled=status == "CANCELLED",
            failure_reason=reason,
            next_action=next_action,
            raw=json.loads(json.dumps(data, default=str)),
        )

    # --- lifecycle ----------------------------------------------------------------------------
    def prepare(self, request: PaymentRequest) -> ProviderState:
        if request.amount.currency != CURRENCY:
            raise ProviderError("swish: only SEK can be paid with Swish", permanent=True)
        client = self._client()
        ident = instruction_id(request.idempotency_key)
        flow = request.flow or ("ecommerce" if request.payer_phone else "mcommerce")
        body: dict[str, Any] = {
            "payeePaymentReference": instruction_id(request.payment_id),
            "callbackUrl": request.callback_url,
            "payeeAlias": self.payee,
            "amount": f"{request.amount.amount:.2f}",
            "currency": CURRENCY,
            "message": message_for(request.description),
        }
        if flow == "ecommerce":
            alias = payer_alias(request.payer_phone)
            if not alias:
                raise ProviderError(
                    "swish: the payer's Swish number is missing or not a phone number",
                    permanent=True,
                    code="BE18",
                )
            body["payerAlias"] = alias
        if self.uses_callback_identifier:
            body["callbackIdentifier"] = self.callback_identifier(ident)
        token = ""
        try:
            token = client.create_payment_request(ident, body).token
        except SwishError as exc:
            if exc.status != 409:
                raise ProviderError(
                    f"swish: {exc.reason}", permanent=exc.permanent, code=exc.code
                ) from exc
            # Created by an earlier attempt with this key (its answer, and token, were lost).
        data = client.get_payment_request(ident)
        if data.get("payeeAlias") != self.payee or _money(data.get("amount")) != request.amount:
            raise ProviderError(
                "swish: the payment request under this id is not this payment", permanent=True
            )
        next_action = None
        if flow == "ecommerce":
            next_action = NextAction(kind="wait")
        elif token:
            next_action = NextAction(
                kind="app", url=app_url(token, request.return_url), qr=qr_svg(token), token=token
            )
        return self.state_of(data, next_action=next_action)

    def retrieve(self, reference: str) -> ProviderState:
        return self.state_of(self._client().get_payment_request(reference))

    def cancel(self, reference: str) -> ProviderState | None:
        client = self._client()
        try:
            data = client.cancel_payment_request(reference)
        except SwishError as exc:
            if exc.status == 404:
                return None
            if not exc.permanent:
                raise
            data = client.get_payment_request(reference)  # already final: its facts win
        return self.state_of(data)

    def refund(self, request: RefundRequest) -> RefundResult:
        if request.amount.currency != CURRENCY:
            return RefundResult(reference="", status="failed", failure_reason="not SEK")
        client = self._client()
        ident = instruction_id(request.refund_id)
        original = client.get_payment_request(request.payment_reference)
        if str(original.get("status")) != "PAID" or not original.get("paymentReference"):
            return RefundResult(
                reference=ident, status="failed", failure_reason="the payment is not paid at Swish"
            )
        body: dict[str, Any] = {
            "originalPaymentReference": original["paymentReference"],
            "payerPaymentReference": request.payment_reference,
            "callbackUrl": request.callback_url,
            "payerAlias": self.payee,
            "amount": f"{request.amount.amount:.2f}",
            "currency": CURRENCY,
            "message": message_for(request.reason) or "Refund",
        }
        if self.uses_callback_identifier:
            body["callbackIdentifier"] = self.callback_identifier(ident)
        try:
            client.create_refund(ident, body)
        except SwishError as exc:
            if exc.status != 409:
                if exc.permanent:
                    return RefundResult(reference=ident, status="failed", failure_reason=exc.reason)
                raise
        data = client.get_refund(ident)
        status = str(data.get("status") or "").upper()
        reason = ""
        if status in ("ERROR", "DECLINED"):
            reason = f"{data.get('errorCode') or ''}: {data.get('errorMessage') or ''}".strip(": ")
        return RefundResult(
            reference=ident,
            status=REFUND_STATUS.get(status, "pending"),
            failure_reason=reason,
            raw=json.loads(json.dumps(data, default=str)),
        )

    # --- callbacks ------------------------------------------------------------------------------
    def parse_callback(
        self, *, body: bytes, headers: dict[str, str], remote_addr: str
    ) -> list[ProviderEvent]:
        try:
            data = json.loads(body, parse_float=Decimal)
        except ValueError:
            raise CallbackRejected("swish: malformed JSON") from None
        ident = data.get("id") if isinstance(data, dict) else None
        status = str(data.get("status") or "").upper() if isinstance(data, dict) else ""
        if not isinstance(ident, str) or not _ID.match(ident) or not status:
            raise CallbackRejected("swish: not a payment request or refund")
        if self.uses_callback_identifier:
            lowered = {k.lower(): v for k, v in headers.items()}
            given = lowered.get("callbackidentifier") or data.get("callbackIdentifier") or ""
            if not hmac.compare_digest(str(given), self.callback_identifier(ident)):
                raise CallbackRejected("swish: callbackIdentifier missing or wrong", status=403)
        is_refund = "originalPaymentReference" in data
        client = self._client()
        try:
            current = client.get_refund(ident) if is_refund else client.get_payment_request(ident)
        except SwishError as exc:
            if exc.status == 404:
                raise CallbackRejected("swish: unknown to Swish", status=404) from None
            raise
        confirmed = str(current.get("status") or "").upper()
        if confirmed != status:
            raise CallbackRejected(
                f"swish: callback says {status}, Swish says {confirmed}", status=409
            )
        if is_refund:
            state = ProviderState(
                reference=str(current.get("payerPaymentReference") or ""),
                refunds=((ident, _money(current["amount"]), REFUND_STATUS.get(status, "pending")),),
                raw=json.loads(json.dumps(current, default=str)),
            )
            return [ProviderEvent(event_id=f"refund:{ident}:{status}", state=state)]
        return [
            ProviderEvent(
                event_id=f"{ident}:{status}",
                state=self.state_of(current),
                confirm_by_retrieve=True,
            )
        ]
