"""Invoices: lines with tax, totals frozen at issue, numbers per organisation without gaps,
paid by one or more payments (S3.5: advance, stage and final invoices)."""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from slotwise.core.errors import ValidationError
from slotwise.core.money import MINOR_UNITS, Money
from slotwise.customers.services import timeline_add

from . import services
from .checkout import payment_start_for_payer
from .models import (
    OPEN_STATUSES,
    SETTLED_STATUSES,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSequence,
    InvoiceStatus,
    Payment,
    Purpose,
)
from .services import _user


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS[currency])


def line_amounts(*, quantity: Decimal, unit_price: Decimal, tax_rate: Decimal, currency: str):
    """(net, tax) of one line, each rounded to the currency's minor unit (half-even)."""
    q = _quantum(currency)
    net = (quantity * unit_price).quantize(q, rounding=ROUND_HALF_EVEN)
    tax = (net * tax_rate / Decimal(100)).quantize(q, rounding=ROUND_HALF_EVEN)
    return net, tax


def totals_of(lines, currency: str) -> tuple[Money, Money, Money]:
    """(net, tax, total) of lines (anything with quantity, unit_price, tax_rate): each line
    rounded to the minor unit, then added. Pure; `invoice_totals` and the property tests use it."""
    net = tax = Decimal(0)
    for line in lines:
        n, t = line_amounts(
            quantity=line.quantity,
            unit_price=line.unit_price,
            tax_rate=line.tax_rate,
            currency=currency,
        )
        net += n
        tax += t
    return Money(net, currency), Money(tax, currency), Money(net + tax, currency)


def invoice_totals(invoice: Invoice) -> tuple[Money, Money, Money]:
    """(net, tax, total) from the lines: each line rounded, then added (what the PDF shows)."""
    return totals_of(invoice.lines.all(), invoice.currency)


def invoice_issue(*, invoice: Invoice, actor=None) -> Invoice:
    """Freeze the totals and give the invoice the organisation's next number, under a row lock
    on the sequence: consecutive, no gaps (a rolled-back issue gives its number back)."""
    with transaction.atomic():
        current = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if current.status != InvoiceStatus.DRAFT:
            raise ValidationError({"status": _("Only a draft invoice can be issued.")})
        if not current.lines.exists():
            raise ValidationError({"lines": _("An invoice needs at least one line.")})
        if current.kind == InvoiceKind.FINAL:
            _refresh_deductions(current)  # what the advances were paid by now
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


# --- creating and changing invoices -----------------------------------------------------------

#: How long an online payment started for an invoice keeps its amount reserved (two tabs, or a
#: customer and a manager at once, can't pay the same outstanding amount twice meanwhile).
PAY_WINDOW = datetime.timedelta(minutes=30)
MAX_QUANTITY = Decimal("9999999")
MAX_PRICE = Decimal("999999999999")


def supported_currencies(organisation) -> list[str]:
    """Currencies an organisation invoices in: its own currency (one per organisation today)."""
    return [organisation.currency]


def _decimal(value, *, places: int) -> Decimal | None:
    """`value` as a Decimal with at most `places` decimals, or None when it is not one."""
    if isinstance(value, float) or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number != number.quantize(Decimal(1).scaleb(-places)):
        return None
    return number


def _get(line, name: str, default=None):
    if isinstance(line, dict):
        return line.get(name, default)
    return getattr(line, name, default)


def _clean_lines(lines, currency: str) -> tuple[list[dict], dict[str, str]]:
    """Validate invoice lines given as dicts (or objects) with description, quantity, unit_price
    and tax_rate. Errors are keyed ``lines.<index>.<field>``; nothing is written here."""
    errors: dict[str, str] = {}
    cleaned: list[dict] = []
    if not lines:
        return [], {"lines": _("An invoice needs at least one line.")}
    minor = MINOR_UNITS.get(currency, 2)
    for i, line in enumerate(lines):
        key = f"lines.{i}."
        description = str(_get(line, "description", "") or "").strip()
        if not description:
            errors[key + "description"] = _("Describe what is invoiced.")
        elif len(description) > 255:
            errors[key + "description"] = _("At most 255 characters.")
        quantity = _decimal(_get(line, "quantity", 1), places=3)
        if quantity is None:
            errors[key + "quantity"] = _("Enter a number with at most 3 decimals.")
        elif quantity <= 0:
            errors[key + "quantity"] = _("The quantity must be more than zero.")
        elif quantity > MAX_QUANTITY:
            errors[key + "quantity"] = _("The quantity is too large.")
        unit_price = _decimal(_get(line, "unit_price"), places=minor)
        if unit_price is None:
            errors[key + "unit_price"] = _("Enter an amount with at most %(places)s decimals.") % {
                "places": minor
            }
        elif unit_price < 0:
            errors[key + "unit_price"] = _("The unit price can't be negative.")
        elif unit_price > MAX_PRICE:
            errors[key + "unit_price"] = _("The unit price is too large.")
        tax_rate = _decimal(_get(line, "tax_rate", 0), places=2)
        if tax_rate is None:
            errors[key + "tax_rate"] = _("Enter a percentage with at most 2 decimals.")
        elif not (0 <= tax_rate <= 100):
            errors[key + "tax_rate"] = _("The tax rate must be between 0 and 100 %.")
        cleaned.append(
            {
                "description": description,
                "quantity": quantity,
                "unit_price": unit_price,
                "tax_rate": tax_rate,
            }
        )
    return cleaned, errors


def _write_lines(invoice: Invoice, cleaned: list[dict]) -> None:
    InvoiceLine.objects.filter(invoice=invoice).delete()
    InvoiceLine.objects.bulk_create(
        InvoiceLine(invoice=invoice, position=i, **line) for i, line in enumerate(cleaned)
    )
    if invoice.kind == InvoiceKind.FINAL:
        _refresh_deductions(invoice)


def _advances_for(invoice: Invoice):
    """Paid (or partly paid) advance invoices of the same customer and booking, in the same
    currency, not deducted by another invoice that still counts."""
    taken = InvoiceLine.objects.filter(deducts__isnull=False).exclude(invoice=invoice)
    taken = taken.exclude(invoice__status=InvoiceStatus.VOID).values("deducts_id")
    return (
        Invoice.objects.filter(
            organisation_id=invoice.organisation_id,
            contact_id=invoice.contact_id,
            booking_id=invoice.booking_id,
            kind=InvoiceKind.ADVANCE,
            currency=invoice.currency,
            status__in=(InvoiceStatus.ISSUED, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID),
            paid_total__gt=0,
        )
        .exclude(pk__in=taken)
        .order_by("number")
    )


def _refresh_deductions(invoice: Invoice) -> None:
    """A final invoice deducts what its advance invoices were paid: one negative line per advance
    invoice, "Advance paid (invoice N)", for the gross amount paid at tax rate 0 (the tax on it
    was on the advance invoice). Rewritten while the final invoice is a draft and when it is
    issued, so it deducts what was really paid by then."""
    InvoiceLine.objects.filter(invoice=invoice, deducts__isnull=False).delete()
    position = (invoice.lines.aggregate(m=Max("position"))["m"] or 0) + 1
    rows = []
    for advance in _advances_for(invoice).select_for_update():
        with translation.override(invoice.contact.language or None):
            description = _("Advance paid (invoice %(number)s)") % {"number": advance.number}
        rows.append(
            InvoiceLine(
                invoice=invoice,
                position=position,
                description=description,
                quantity=Decimal(1),
                unit_price=-advance.paid_total,
                tax_rate=Decimal(0),
                deducts=advance,
            )
        )
        position += 1
    InvoiceLine.objects.bulk_create(rows)


def invoice_create(
    *,
    organisation,
    contact,
    lines,
    kind: str = InvoiceKind.STANDARD,
    currency: str | None = None,
    due_date: datetime.date | None = None,
    booking=None,
    notes: str = "",
    actor=None,
) -> Invoice:
    """A draft invoice with its lines. Every field is checked first (field-level errors; lines as
    ``lines.<i>.<field>``) and the invoice and its lines are written in one transaction. A final
    invoice gets an "advance paid" line for each paid advance invoice of the same customer and
    booking."""
    currency = currency or organisation.currency
    errors: dict[str, str] = {}
    if kind not in InvoiceKind.values:
        errors["kind"] = _("Choose a kind of invoice.")
    if currency not in supported_currencies(organisation) or currency not in MINOR_UNITS:
        errors["currency"] = _("The organisation does not invoice in %(currency)s.") % {
            "currency": currency
        }
    if contact is None or contact.organisation_id != organisation.pk:
        errors["contact"] = _("Choose a customer of this organisation.")
    if booking is not None and (
        booking.organisation_id != organisation.pk
        or (contact is not None and booking.contact_id != contact.pk)
    ):
        errors["booking"] = _("The booking must be this customer's, in this organisation.")
    if due_date is not None and not isinstance(due_date, datetime.date):
        errors["due_date"] = _("Enter a date.")
    cleaned, line_errors = _clean_lines(lines, currency if "currency" not in errors else "EUR")
    errors.update(line_errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        invoice = Invoice.objects.create(
            organisation=organisation,
            contact=contact,
            booking=booking,
            kind=kind,
            currency=currency,
            due_date=due_date,
            notes=(notes or "").strip(),
            created_by=_user(actor),
        )
        _write_lines(invoice, cleaned)
    return invoice


_UNSET = object()


def invoice_update_lines(
    *, invoice: Invoice, lines, due_date=_UNSET, notes: str | None = None, actor=None
) -> Invoice:
    """Replace a draft's lines (and, if given, its due date and notes). Issued invoices are
    frozen: correct them by voiding (if unpaid) and issuing a new one."""
    with transaction.atomic():
        current = Invoice.objects.select_for_update().get(pk=invoice.pk)
        errors: dict[str, str] = {}
        if current.status != InvoiceStatus.DRAFT:
            raise ValidationError({"status": _("Only a draft invoice can be changed.")})
        cleaned, line_errors = _clean_lines(lines, current.currency)
        errors.update(line_errors)
        if due_date is not _UNSET and due_date is not None:
            if not isinstance(due_date, datetime.date):
                errors["due_date"] = _("Enter a date.")
        if errors:
            raise ValidationError(errors)
        fields = ["updated_at"]
        if due_date is not _UNSET:
            current.due_date = due_date
            fields.append("due_date")
        if notes is not None:
            current.notes = notes.strip()
            fields.append("notes")
        current.save(update_fields=fields)
        _write_lines(current, cleaned)
    invoice.refresh_from_db()
    return invoice


def invoice_void(*, invoice: Invoice, reason: str = "", actor=None) -> Invoice:
    """Void an issued invoice nothing was paid on. It keeps its number (no gaps) and is shown
    as void; a paid or partly paid invoice must be refunded first."""
    with transaction.atomic():
        current = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if current.status != InvoiceStatus.ISSUED or current.paid_total > 0:
            raise ValidationError(
                {"status": _("Only an issued invoice with nothing paid on it can be voided.")}
            )
        if _reserved(current) > 0:
            raise ValidationError(
                {"status": _("A payment of this invoice is in progress; try again later.")}
            )
        current.status = InvoiceStatus.VOID
        if reason.strip():
            current.notes = (current.notes + "\n" if current.notes else "") + reason.strip()
        current._change_reason = (reason or "void")[:100]
        current.save(update_fields=["status", "notes", "updated_at"])
        timeline_add(
            contact=current.contact,
            kind="invoice.void",
            summary=_("Invoice %(number)s voided") % {"number": current.number},
            data={"invoice": str(current.public_id)},
            actor=actor,
        )
    invoice.refresh_from_db()
    return invoice


# --- paying an invoice ------------------------------------------------------------------------


def _reserved(invoice: Invoice) -> Decimal:
    """What online payments started in the last PAY_WINDOW and still open hold back."""
    open_payments = Payment.objects.filter(
        invoice=invoice, status__in=OPEN_STATUSES, expires_at__gt=timezone.now()
    )
    return sum((p.amount for p in open_payments), Decimal(0))


def payable(invoice: Invoice) -> Money:
    """What can be paid now: the outstanding amount less what open payments hold back."""
    left = invoice_outstanding(invoice).amount - _reserved(invoice)
    return Money(max(left, Decimal(0)), invoice.currency)


def _check_amount(invoice: Invoice, amount) -> Money:
    """`amount` (Money or a decimal) checked against what may be paid now: at least one unit of
    the currency (or the whole rest, when less is left) and at most what is left."""
    if invoice.status not in (InvoiceStatus.ISSUED, InvoiceStatus.PARTIALLY_PAID):
        raise ValidationError({"amount": _("This invoice can't be paid.")})
    if isinstance(amount, Money):
        if amount.currency != invoice.currency:
            raise ValidationError({"amount": _("Pay in the invoice's currency.")})
        value = amount.amount
    else:
        value = _decimal(amount, places=MINOR_UNITS[invoice.currency])
        if value is None:
            raise ValidationError(
                {
                    "amount": _("Enter an amount with at most %(places)s decimals.")
                    % {"places": MINOR_UNITS[invoice.currency]}
                }
            )
    left = payable(invoice)
    if left.amount <= 0:
        raise ValidationError({"amount": _("Nothing is left to pay on this invoice.")})
    minimum = min(Decimal(1), left.amount)
    if value < minimum:
        raise ValidationError(
            {"amount": _("Pay at least %(amount)s.") % {"amount": Money(minimum, invoice.currency)}}
        )
    if value > left.amount:
        raise ValidationError({"amount": _("Pay at most %(amount)s.") % {"amount": left}})
    return Money(value, invoice.currency)


def invoice_pay_start(
    *,
    invoice: Invoice,
    amount,
    provider: str,
    return_url: str,
    payer_phone: str = "",
    actor=None,
) -> Payment:
    """Start an online payment of all or part of what is outstanding (partial payments allowed:
    at least one unit, at most what is left). The customer's own earlier attempts that are still
    open are cancelled first (if one was captured meanwhile, it counts and the rest is checked
    against it). The payment is created under the invoice's row lock, which reserves its amount
    for PAY_WINDOW, and started at the provider after commit (as `checkout.checkout_start` does);
    the caller sends the payer to `payments:pay`."""
    for earlier in Payment.objects.filter(
        invoice=invoice, contact_id=invoice.contact_id, status__in=OPEN_STATUSES
    ):
        services.payment_cancel(payment=earlier, reason="superseded", actor=actor)
    with transaction.atomic():
        current = Invoice.objects.select_for_update().get(pk=invoice.pk)
        money = _check_amount(current, amount)
        payment = services.payment_create(
            organisation=current.organisation,
            provider=provider,
            amount=money,
            purpose=Purpose.INVOICE,
            contact=current.contact,
            invoice=current,
            payer_phone=payer_phone,
            return_url=return_url,
            expires_at=timezone.now() + PAY_WINDOW,
            actor=actor,
        )
    return payment_start_for_payer(payment)


def invoice_manual_payment(
    *,
    invoice: Invoice,
    method: str,
    amount,
    tip=None,
    received_by=None,
    actor=None,
) -> Payment:
    """Record money taken outside any system (cash, a bank transfer …) against an invoice, at
    most what is left to pay; the invoice becomes partly paid or paid."""
    with transaction.atomic():
        current = Invoice.objects.select_for_update().get(pk=invoice.pk)
        money = _check_amount(current, amount)
        payment = services.manual_payment_record(
            organisation=current.organisation,
            method=method,
            amount=money,
            tip=tip,
            purpose=Purpose.INVOICE,
            received_by=received_by,
            contact=current.contact,
            invoice=current,
            actor=actor,
        )
    invoice.refresh_from_db()
    return payment


# --- reading and rendering --------------------------------------------------------------------


def tax_breakdown(invoice: Invoice) -> list[dict]:
    """Per tax rate: net, tax and gross of the lines at that rate (each line rounded first, so
    the rows add up to the invoice's totals exactly)."""
    rows: dict[Decimal, dict] = {}
    for line in invoice.lines.all():
        net, tax = line_amounts(
            quantity=line.quantity,
            unit_price=line.unit_price,
            tax_rate=line.tax_rate,
            currency=invoice.currency,
        )
        row = rows.setdefault(
            line.tax_rate,
            {"rate": line.tax_rate, "net": Decimal(0), "tax": Decimal(0)},
        )
        row["net"] += net
        row["tax"] += tax
    result = []
    for rate in sorted(rows):
        row = rows[rate]
        row["gross"] = row["net"] + row["tax"]
        result.append(row)
    return result


def invoice_lines(invoice: Invoice) -> list[dict]:
    """The lines with their rounded net, tax and gross amounts, for pages and the PDF."""
    result = []
    for line in invoice.lines.all():
        net, tax = line_amounts(
            quantity=line.quantity,
            unit_price=line.unit_price,
            tax_rate=line.tax_rate,
            currency=invoice.currency,
        )
        result.append({"line": line, "net": net, "tax": tax, "gross": net + tax})
    return result


def invoice_context(invoice: Invoice) -> dict:
    """What an invoice page and its PDF show (totals from the lines while a draft, frozen after)."""
    if invoice.status == InvoiceStatus.DRAFT:
        net, tax, total = (m.amount for m in invoice_totals(invoice))
    else:
        net, tax, total = invoice.net_total, invoice.tax_total, invoice.total
    zone = ZoneInfo(invoice.organisation.time_zone)
    return {
        "invoice": invoice,
        "organisation": invoice.organisation,
        "contact": invoice.contact,
        "lines": invoice_lines(invoice),
        "breakdown": tax_breakdown(invoice),
        "net": net,
        "tax": tax,
        "total": total,
        "outstanding": invoice_outstanding(invoice).amount
        if invoice.status != InvoiceStatus.DRAFT
        else total,
        "issued_on": timezone.localtime(invoice.issued_at, zone).date()
        if invoice.issued_at
        else None,
    }


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice as a PDF (WeasyPrint, template ``payments/invoice_pdf.html``), in the
    customer's language. The template loads nothing from outside."""
    from weasyprint import HTML

    return HTML(string=invoice_html(invoice), url_fetcher=_no_fetch).write_pdf()


def invoice_html(invoice: Invoice) -> str:
    """The HTML the PDF is made from, in the customer's language (its number and date formats
    too)."""
    from django.template.loader import render_to_string

    language = invoice.contact.language or invoice.organisation.default_language or "en"
    with translation.override(language):
        return render_to_string(
            "payments/invoice_pdf.html", {**invoice_context(invoice), "language": language}
        )


def _no_fetch(url: str, *args, **kwargs):
    raise ValueError(f"invoice PDFs load nothing from outside: {url}")
