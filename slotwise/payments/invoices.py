"""Invoices: lines with tax, totals frozen at issue, numbers per organisation without gaps,
paid by one or more payments (S3.5: advance, stage and final invoices)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from slotwise.core.errors import ValidationError
from slotwise.core.money import MINOR_UNITS, Money

from .models import (
    SETTLED_STATUSES,
    Invoice,
    InvoiceSequence,
    InvoiceStatus,
    Payment,
)


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS[currency])


def line_amounts(*, quantity: Decimal, unit_price: Decimal, tax_rate: Decimal, currency: str):
    """(net, tax) of one line, each rounded to the currency's minor unit (half-even)."""
    q = _quantum(currency)
    net = (quantity * unit_price).quantize(q, rounding=ROUND_HALF_EVEN)
    tax = (net * tax_rate / Decimal(100)).quantize(q, rounding=ROUND_HALF_EVEN)
    return net, tax


def invoice_totals(invoice: Invoice) -> tuple[Money, Money, Money]:
    """(net, tax, total) from the lines: each line rounded, then added (what the PDF shows)."""
    net = tax = Decimal(0)
    for line in invoice.lines.all():
        n, t = line_amounts(
            quantity=line.quantity,
            unit_price=line.unit_price,
            tax_rate=line.tax_rate,
            currency=invoice.currency,
        )
        net += n
        tax += t
    c = invoice.currency
    return Money(net, c), Money(tax, c), Money(net + tax, c)


def invoice_issue(*, invoice: Invoice, actor=None) -> Invoice:
    """Freeze the totals and give the invoice the organisation's next number, under a row lock
    on the sequence: consecutive, no gaps (a rolled-back issue gives its number back)."""
    with transaction.atomic():
        current = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if current.status != InvoiceStatus.DRAFT:
            raise ValidationError({"status": _("Only a draft invoice can be issued.")})
        if not current.lines.exists():
            raise ValidationError({"lines": _("An invoice needs at least one line.")})
        net, tax, total = invoice_totals(current)
        if total.amount <= 0:
            raise ValidationError({"lines": _("The invoice total must be more than zero.")})
        InvoiceSequence.objects.get_or_create(organisation_id=current.organisation_id)
        sequence = InvoiceSequence.objects.select_for_update().get(
            organisation_id=current.organisation_id
        )
        current.number = sequence.next_number
        sequence.next_number += 1
        sequence.save(update_fields=["next_number"])
        current.net_total, current.tax_total, current.total = net.amount, tax.amount, total.amount
        current.status = InvoiceStatus.ISSUED
        current.issued_at = timezone.now()
        current.save(
            update_fields=[
                "number",
                "net_total",
                "tax_total",
                "total",
                "status",
                "issued_at",
                "updated_at",
            ]
        )
    invoice.refresh_from_db()
    return invoice


def invoice_recompute_paid(*, invoice: Invoice) -> Invoice:
    """Paid total = what settled payments captured minus what was refunded; the status follows."""
    with transaction.atomic():
        current = Invoice.objects.select_for_update().get(pk=invoice.pk)
        paid = Decimal(0)
        for p in Payment.objects.filter(invoice=current, status__in=SETTLED_STATUSES):
            paid += p.paid_amount - p.refunded_amount - p.tip_amount
        current.paid_total = max(paid, Decimal(0))
        if current.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
            pass
        elif current.paid_total >= current.total:
            current.status = InvoiceStatus.PAID
        elif current.paid_total > 0:
            current.status = InvoiceStatus.PARTIALLY_PAID
        else:
            current.status = InvoiceStatus.ISSUED
        current.save(update_fields=["paid_total", "status", "updated_at"])
    return current


def invoice_outstanding(invoice: Invoice) -> Money:
    return Money(max(invoice.total - invoice.paid_total, Decimal(0)), invoice.currency)
