from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import (
    Invoice,
    InvoiceLine,
    Payment,
    PaymentEvent,
    ProviderConfig,
    Refund,
    ShopOrder,
    ShopOrderLine,
    StatusChange,
)


@admin.register(ProviderConfig)
class ProviderConfigAdmin(SimpleHistoryAdmin):
    list_display = ["organisation", "provider", "name", "enabled", "position"]
    list_filter = ["provider", "enabled"]


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    fields = ["amount", "reason", "status", "provider_reference", "completed_at"]
    readonly_fields = fields
    can_delete = False


class StatusChangeInline(admin.TabularInline):
    model = StatusChange
    extra = 0
    fields = ["at", "old_status", "new_status", "event"]
    readonly_fields = fields
    can_delete = False


@admin.register(Payment)
class PaymentAdmin(SimpleHistoryAdmin):
    list_display = [
        "created_at",
        "organisation",
        "provider",
        "method",
        "amount",
        "currency",
        "status",
        "purpose",
    ]
    list_filter = ["provider", "status", "purpose", "holder"]
    search_fields = ["provider_reference", "public_id"]
    readonly_fields = [
        "public_id",
        "idempotency_key",
        "status",
        "paid_amount",
        "refunded_amount",
        "fee_amount",
        "reported_pending",
        "reported_failed",
        "reported_cancelled",
        "provider_reference",
        "next_action",
        "paid_at",
    ]
    raw_id_fields = ["contact", "booking", "invoice", "order", "received_by"]
    inlines = [StatusChangeInline, RefundInline]


@admin.register(PaymentEvent)
class PaymentEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "provider", "event_id", "outcome", "payment"]
    list_filter = ["provider", "outcome"]
    search_fields = ["event_id"]
    readonly_fields = [
        "organisation",
        "provider",
        "event_id",
        "payment",
        "body",
        "headers",
        "outcome",
        "detail",
        "parsed",
    ]


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    fk_name = "invoice"
    extra = 1


@admin.register(Invoice)
class InvoiceAdmin(SimpleHistoryAdmin):
    list_display = [
        "number",
        "organisation",
        "contact",
        "kind",
        "status",
        "total",
        "paid_total",
        "currency",
    ]
    list_filter = ["status", "kind"]
    readonly_fields = ["number", "net_total", "tax_total", "total", "paid_total", "issued_at"]
    raw_id_fields = ["contact", "booking"]
    inlines = [InvoiceLineInline]


class ShopOrderLineInline(admin.TabularInline):
    model = ShopOrderLine
    extra = 0


@admin.register(ShopOrder)
class ShopOrderAdmin(SimpleHistoryAdmin):
    list_display = ["created_at", "organisation", "contact", "status", "total", "currency"]
    list_filter = ["status"]
    raw_id_fields = ["contact", "booking"]
    inlines = [ShopOrderLineInline]
