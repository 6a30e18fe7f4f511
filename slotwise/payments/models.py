"""Payments, refunds, the raw callbacks that moved them, invoices and the providers each
organisation has enabled.

Money is a `Decimal` with a currency (`slotwise.core.money.Money` at every boundary), never a
float. A payment's status is *derived* from the facts providers reported (see `state.py`), so the
same callback delivered twice, or callbacks arriving out of order, can't move it twice or wrongly.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from slotwise.core.models import OrgScoped, PublicId, TimeStamped

AMOUNT = {"max_digits": 14, "decimal_places": 2}


class PaymentStatus(models.TextChoices):
    CREATED = "created", _("Created")
    PENDING = "pending", _("Pending")
    PAID = "paid", _("Paid")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
    REFUNDED = "refunded", _("Refunded")


OPEN_STATUSES = (PaymentStatus.CREATED, PaymentStatus.PENDING)
SETTLED_STATUSES = (
    PaymentStatus.PAID,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
)


class Purpose(models.TextChoices):
    FULL = "full", _("Full prepayment")
    DEPOSIT = "deposit", _("Deposit")
    NO_SHOW_FEE = "no_show_fee", _("No-show fee")
    INVOICE = "invoice", _("Invoice")
    ORDER = "order", _("Webshop order")
    ON_SITE = "on_site", _("Paid on site")
    OTHER = "other", _("Other")


class Holder(models.TextChoices):
    """Who holds the money of a manual payment until it reaches the company's account (S2.8)."""

    COMPANY = "company", _("The company")
    STAFF = "staff", _("The staff member who took it")


class ProviderConfig(OrgScoped):
    """A payment provider enabled for one organisation.

    `settings` holds what is not secret (merchant number, payee alias, shop id, API base URL for a
    local fake). Secrets are never stored here: `settings` names the environment variables that
    hold them (keys ending in `_env`, e.g. ``{"secret_key_env": "STRIPE_SECRET_KEY_ACME"}``), and
    the provider reads them from the environment (ARCHITECTURE: secrets only from the environment).
    """

    provider = models.CharField(_("provider"), max_length=30)
    enabled = models.BooleanField(_("enabled"), default=True)
    name = models.CharField(_("name shown to customers"), max_length=80, blank=True)
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("payment provider")
        verbose_name_plural = _("payment providers")
        ordering = ["organisation", "position", "provider"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "provider"], name="payments_provider_once_per_org"
            )
        ]

    def __str__(self) -> str:
        return self.name or self.provider


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ISSUED = "issued", _("Issued")
    PARTIALLY_PAID = "partially_paid", _("Partially paid")
    PAID = "paid", _("Paid")
    VOID = "void", _("Void")


class InvoiceKind(models.TextChoices):
    STANDARD = "standard", _("Invoice")
    ADVANCE = "advance", _("Advance invoice")
    STAGE = "stage", _("Stage invoice")
    FINAL = "final", _("Final invoice")


class InvoiceSequence(models.Model):
    """The next invoice number of one organisation. Numbers are taken under a row lock inside
    the transaction that issues the invoice, so they are consecutive with no gaps: a rolled back
    issue gives its number back."""

    organisation = models.OneToOneField(
        "org.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    next_number = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("invoice sequence")
        verbose_name_plural = _("invoice sequences")

    def __str__(self) -> str:
        return f"{self.organisation_id}: {self.next_number}"


class Invoice(OrgScoped, PublicId):
    number = models.PositiveIntegerField(_("number"), null=True, blank=True)
    kind = models.CharField(
        _("kind"), max_length=10, choices=InvoiceKind.choices, default=InvoiceKind.STANDARD
    )
    contact = models.ForeignKey(
        "customers.Contact",
        on_delete=models.PROTECT,
        related_name="invoices",
        verbose_name=_("customer"),
    )
    booking = models.ForeignKey(
        "bookings.Booking",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invoices",
        verbose_name=_("booking"),
    )
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(
        _("status"), max_length=20, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    issued_at = models.DateTimeField(_("issued"), null=True, blank=True)
    due_date = models.DateField(_("due"), null=True, blank=True)
    # Totals are computed by the service from the lines when the invoice is issued and frozen then.
    net_total = models.DecimalField(_("net"), default=0, **AMOUNT)
    tax_total = models.DecimalField(_("tax"), default=0, **AMOUNT)
    total = models.DecimalField(_("total"), default=0, **AMOUNT)
    paid_total = models.DecimalField(_("paid"), default=0, **AMOUNT)
    notes = models.TextField(_("notes"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "number"], name="invoice_number_unique_per_org"
            ),
            models.CheckConstraint(
                condition=models.Q(status="draft") | models.Q(number__isnull=False),
                name="invoice_issued_has_number",
            ),
        ]

    def __str__(self) -> str:
        return _("Invoice %(number)s") % {"number": self.number or _("(draft)")}


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    description = models.CharField(_("description"), max_length=255)
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=3, default=1)
    unit_price = models.DecimalField(_("unit price"), **AMOUNT)
    tax_rate = models.DecimalField(_("tax rate (%)"), max_digits=5, decimal_places=2, default=0)
    # A final invoice's "advance paid" line (negative) names the advance invoice it deducts, so
    # one advance is never deducted twice (S3.5; written only by `invoices`).
    deducts = models.ForeignKey(
        Invoice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deducted_by",
        verbose_name=_("deducts advance invoice"),
    )

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["invoice", "position", "pk"]

    def __str__(self) -> str:
        return self.description


class Payment(OrgScoped, PublicId):
    """One attempt to collect one amount through one provider.

    The status is derived from what the provider reported (`paid_amount`, `refunded_amount`,
    `pending`, `failed`, `cancelled` facts) by `state.status_of`; callbacks only ever add facts.
    """

    provider = models.CharField(_("provider"), max_length=30)
    method = models.CharField(
        _("method"), max_length=30, blank=True, help_text=_("For manual payments: how it was paid.")
    )
    purpose = models.CharField(
        _("purpose"), max_length=20, choices=Purpose.choices, default=Purpose.OTHER
    )
    amount = models.DecimalField(_("amount"), **AMOUNT)
    currency = models.CharField(_("currency"), max_length=3)
    tip_amount = models.DecimalField(_("tip"), default=0, **AMOUNT)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=PaymentStatus.choices,
        default=PaymentStatus.CREATED,
        db_index=True,
    )
    # Facts reported by the provider (only ever grow; see state.py).
    paid_amount = models.DecimalField(_("paid"), default=0, **AMOUNT)
    refunded_amount = models.DecimalField(_("refunded"), default=0, **AMOUNT)
    fee_amount = models.DecimalField(_("provider fee"), null=True, blank=True, **AMOUNT)
    reported_pending = models.BooleanField(default=False)
    reported_failed = models.BooleanField(default=False)
    reported_cancelled = models.BooleanField(default=False)

    provider_reference = models.CharField(
        _("provider reference"), max_length=120, blank=True, db_index=True
    )
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    next_action = models.JSONField(
        _("next step for the payer"), default=dict, blank=True, help_text=_("Redirect, QR code …")
    )
    failure_reason = models.CharField(_("failure reason"), max_length=255, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    # What it pays for (work orders add their link in the work-orders issue).
    contact = models.ForeignKey(
        "customers.Contact",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("payer"),
    )
    booking = models.ForeignKey(
        "bookings.Booking",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("booking"),
    )
    invoice = models.ForeignKey(
        Invoice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("invoice"),
    )
    work_order = models.ForeignKey(
        "workorders.WorkOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("work order"),
    )
    order = models.ForeignKey(
        "payments.ShopOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("webshop order"),
    )
    # Manual methods: who holds the money, and which staff member took it.
    holder = models.CharField(
        _("money held by"), max_length=10, choices=Holder.choices, default=Holder.COMPANY
    )
    received_by = models.ForeignKey(
        "org.Staff",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("received by"),
    )
    handed_over_at = models.DateTimeField(_("handed over to the company"), null=True, blank=True)
    payer_phone = models.CharField(_("payer's phone"), max_length=20, blank=True)
    return_url = models.CharField(_("return address"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organisation", "created_at"], name="payment_org_created_idx"),
            models.Index(
                fields=["provider", "provider_reference"], name="payment_provider_ref_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_amount_gt_0"),
            models.CheckConstraint(condition=models.Q(tip_amount__gte=0), name="payment_tip_gte_0"),
            models.CheckConstraint(
                condition=models.Q(refunded_amount__gte=0)
                & models.Q(refunded_amount__lte=models.F("paid_amount"))
                | models.Q(paid_amount=0),
                name="payment_refund_within_paid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} ({self.get_status_display()})"

    @property
    def money(self):
        from slotwise.core.money import Money

        return Money(self.amount, self.currency)


class RefundStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Refunded")
    FAILED = "failed", _("Failed")


class Refund(OrgScoped):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(_("amount"), **AMOUNT)
    reason = models.CharField(_("reason"), max_length=255)
    status = models.CharField(
        _("status"), max_length=10, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    provider_reference = models.CharField(_("provider reference"), max_length=120, blank=True)
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    failure_reason = models.CharField(_("failure reason"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("refunded by"),
    )
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_amount_gt_0"),
            models.UniqueConstraint(
                fields=["payment", "provider_reference"],
                condition=~models.Q(provider_reference=""),
                name="refund_provider_ref_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} ({self.get_status_display()})"


class PaymentEvent(TimeStamped):
    """A callback as it arrived (raw body and the headers that matter), stored before it is
    applied. `(provider, event_id)` is unique: a replayed event is recognised and changes nothing.

    An authentic event is stored *pending* with what the provider reported (`parsed`, the
    `ProviderEvent` as JSON, see `services.event_to_json`) and answered at once; the payments pump
    (`services.payment_events_apply_pending`, run by the worker) applies it and sets the outcome.
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPLIED = "applied", _("Applied")
        NO_CHANGE = "no_change", _("No change")
        UNKNOWN_PAYMENT = "unknown_payment", _("Unknown payment")
        REJECTED = "rejected", _("Rejected")
        FAILED = "failed", _("Failed")

    organisation = models.ForeignKey(
        "org.Organisation", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    provider = models.CharField(_("provider"), max_length=30)
    event_id = models.CharField(_("event id"), max_length=200)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    body = models.TextField(_("raw body"), blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    detail = models.CharField(_("detail"), max_length=255, blank=True)
    parsed = models.JSONField(_("parsed event"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment callback")
        verbose_name_plural = _("payment callbacks")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="payment_event_unique")
        ]
        indexes = [
            # The pump's queue: only the pending rows, in arrival order.
            models.Index(
                fields=["id"],
                condition=models.Q(outcome="pending"),
                name="payment_event_pending_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id} ({self.outcome})"


class StatusChange(models.Model):
    """One change of a payment's status, written only when the derived status really changes
    (so a callback delivered ten times writes one row)."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="changes")
    old_status = models.CharField(max_length=20, choices=PaymentStatus.choices)
    new_status = models.CharField(max_length=20, choices=PaymentStatus.choices)
    event = models.ForeignKey(
        PaymentEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("payment status change")
        verbose_name_plural = _("payment status changes")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.old_status} → {self.new_status}"


class ShopOrderStatus(models.TextChoices):
    CART = "cart", _("In the cart")
    AWAITING_PAYMENT = "awaiting_payment", _("Awaiting payment")
    PAID = "paid", _("Paid")
    BOOKED = "booked", _("Booked")
    CANCELLED = "cancelled", _("Cancelled")


class ShopOrder(OrgScoped, PublicId):
    """A webshop order (S4.9): services bought before the visit is booked."""

    contact = models.ForeignKey(
        "customers.Contact",
        on_delete=models.PROTECT,
        related_name="shop_orders",
        verbose_name=_("customer"),
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=ShopOrderStatus.choices,
        default=ShopOrderStatus.AWAITING_PAYMENT,
    )
    currency = models.CharField(_("currency"), max_length=3)
    total = models.DecimalField(_("total"), default=0, **AMOUNT)
    booking = models.ForeignKey(
        "bookings.Booking",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="shop_orders",
        verbose_name=_("booking"),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("webshop order")
        verbose_name_plural = _("webshop orders")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.total} {self.currency} ({self.get_status_display()})"


class ShopOrderLine(models.Model):
    order = models.ForeignKey(ShopOrder, on_delete=models.CASCADE, related_name="lines")
    service = models.ForeignKey(
        "scheduling.AppointmentType",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("service"),
    )
    quantity = models.PositiveSmallIntegerField(_("quantity"), default=1)
    unit_price = models.DecimalField(_("unit price"), **AMOUNT)

    class Meta:
        verbose_name = _("webshop order line")
        verbose_name_plural = _("webshop order lines")

    def __str__(self) -> str:
        return f"{self.quantity} × {self.service}"
