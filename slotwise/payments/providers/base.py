"""The provider boundary: a provider class per payment service, and frozen dataclasses in and
out, so nothing past this line sees a provider's SDK objects or a Django model.

Lifecycle (after pretix's payment providers; the dataclasses after saleor's):

1. `prepare(request)`  — create the payment at the provider with the request's idempotency key
   and return what the payer must do next (`NextAction`: a redirect, the Swish app and a QR code,
   nothing for a manual method). Called again with the same key it must not create a second
   payment: every real provider here takes an idempotency key or an id we choose.
2. `execute(reference, payer)` — a second step for flows that need one (default: nothing).
3. `parse_callback(body, headers, remote_addr)` — authenticate an inbound callback (signature,
   timestamp, source network) and turn it into `ProviderEvent`s; raise `CallbackRejected` if it
   is not authentic. Providers whose callbacks are only a hint (YooKassa) confirm by `retrieve`.
4. `retrieve(reference)` — the provider's current state of one payment (the backup for lost
   callbacks, and how a payment interrupted by a crashed worker is reconciled).
5. `refund(request)` — refund all or part of a captured payment, idempotently.
6. `cancel(reference)` — give up on a payment not yet paid.

A provider is built per organisation from its `ProviderConfig.settings`; secrets come from the
environment variables those settings name (`secret("secret_key")` reads `settings["secret_key_env"]`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _

from slotwise.core.money import Money


class ProviderError(Exception):
    """The provider refused or could not be reached. `permanent` means retrying won't help."""

    def __init__(self, message: str, *, permanent: bool = False, code: str = "") -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


class CallbackRejected(Exception):
    """An inbound callback that is not authentic (signature, stale timestamp, foreign network)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ProviderNotConfigured(ProviderError):
    pass


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    payment_id: str  # our public id (UUID string)
    amount: Money
    description: str
    idempotency_key: str
    return_url: str = ""
    callback_url: str = ""
    payer_phone: str = ""  # E.164
    payer_email: str = ""
    language: str = "en"
    flow: str = ""  # provider-specific choice, e.g. Swish "ecommerce" (phone number) or "mcommerce"


@dataclass(frozen=True, slots=True)
class NextAction:
    """What the payer does next. kind: "none", "redirect" (url), "app" (url opens the provider's
    app on a phone; `qr` is an SVG for a desktop), "wait" (approve in the app on your phone)."""

    kind: str = "none"
    url: str = ""
    qr: str = ""
    token: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "url": self.url, "qr": self.qr, "token": self.token}


@dataclass(frozen=True, slots=True)
class ProviderState:
    """The provider's view of one payment, as facts (see `state.Facts`). Amounts are cumulative.
    `refunds` lists refunds the provider knows: (provider refund reference, amount, status)."""

    reference: str
    pending: bool = False
    paid: Money | None = None
    refunded: Money | None = None
    failed: bool = False
    cancelled: bool = False
    failure_reason: str = ""
    fee: Money | None = None
    refunds: tuple[tuple[str, Money, str], ...] = ()
    next_action: NextAction | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One authenticated callback event. `event_id` is unique per provider (replays share it).
    `state` carries the facts the event reports; `confirm_by_retrieve` asks the service to fetch
    the payment before trusting it (YooKassa). `payment_id` is our public id when the provider
    echoes it back, else the service finds the payment by `state.reference`."""

    event_id: str
    state: ProviderState
    payment_id: str = ""
    confirm_by_retrieve: bool = False


@dataclass(frozen=True, slots=True)
class RefundRequest:
    payment_reference: str
    payment_id: str
    refund_id: str  # our refund's idempotency key (UUID string)
    amount: Money
    reason: str = ""
    callback_url: str = ""


@dataclass(frozen=True, slots=True)
class RefundResult:
    reference: str
    status: str  # "pending" | "succeeded" | "failed"
    failure_reason: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


class PaymentProvider:
    """Base class. Subclasses set `identifier`, `verbose_name` and override what they support."""

    identifier: ClassVar[str] = ""
    verbose_name: ClassVar[Any] = ""
    #: Manual methods record money taken outside any system; no callbacks, no remote state.
    manual: ClassVar[bool] = False
    #: Currencies the provider accepts (empty: any).
    currencies: ClassVar[tuple[str, ...]] = ()
    #: Keys of ProviderConfig.settings the admin must fill (secrets as `<name>_env`).
    required_settings: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: dict[str, Any] | None = None, *, organisation_id=None) -> None:
        self.settings: dict[str, Any] = dict(settings or {})
        self.organisation_id = organisation_id

    # --- configuration ------------------------------------------------------------------------
    def setting(self, name: str, default: Any = "") -> Any:
        return self.settings.get(name, default)

    def secret(self, name: str) -> str:
        """The secret `name`, read from the environment variable `settings[name + "_env"]`."""
        var = self.settings.get(f"{name}_env", "")
        value = os.environ.get(var, "") if var else ""
        if not value:
            raise ProviderNotConfigured(
                f"{self.identifier}: environment variable for {name!r} "
                f"({var or 'not named in settings'}) is not set",
                permanent=True,
            )
        return value

    def check_settings(self) -> dict[str, str]:
        """Field → translated error for a ProviderConfig that can't work; empty when fine."""
        errors: dict[str, str] = {}
        for key in self.required_settings:
            if not self.settings.get(key):
                errors[key] = str(_("This setting is required."))
            elif key.endswith("_env") and not os.environ.get(self.settings[key]):
                errors[key] = str(
                    _("The environment variable %(name)s is not set.")
                    % {"name": self.settings[key]}
                )
        return errors

    def accepts(self, currency: str) -> bool:
        return not self.currencies or currency in self.currencies

    # --- lifecycle ----------------------------------------------------------------------------
    def prepare(self, request: PaymentRequest) -> ProviderState:
        raise NotImplementedError

    def execute(self, reference: str, payer: dict[str, Any]) -> ProviderState | None:
        return None

    def parse_callback(
        self, *, body: bytes, headers: dict[str, str], remote_addr: str
    ) -> list[ProviderEvent]:
        raise CallbackRejected("this provider takes no callbacks", status=404)

    def callback_response(self, events: list[ProviderEvent]) -> tuple[int, str, str]:
        """(status, content type, body) answered to an accepted callback."""
        return 200, "application/json", '{"ok": true}'

    def retrieve(self, reference: str) -> ProviderState:
        raise NotImplementedError

    def refund(self, request: RefundRequest) -> RefundResult:
        raise ProviderError("refunds are not supported by this provider", permanent=True)

    def cancel(self, reference: str) -> ProviderState | None:
        return None


def decimal_or_zero(money: Money | None) -> Decimal:
    return money.amount if money is not None else Decimal("0")
