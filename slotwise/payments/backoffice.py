"""The back office of payments (managers and org admins): payments with their facts, status
changes, raw callbacks and refunds (a refund form with a reason; the worker executes it and the
page shows the outcome), invoices (draft with lines, issue, void, PDF, a manual payment).
Thin views: the services in `services` and `invoices` do every write; `selectors` scope lists
and `rules` (payments.manage_* / refund_payment) guard each object — another organisation's or
another unit's is a 404."""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from slotwise.core.errors import ValidationError
from slotwise.core.money import Money
from slotwise.org.selectors import staff_of

from . import invoices as inv
from . import services
from .forms import (
    InvoiceFilterForm,
    InvoiceForm,
    InvoiceLineFormSet,
    ManualPaymentForm,
    PaymentFilterForm,
    RefundForm,
    add_errors,
    filled_rows,
    line_dicts,
)
from .models import Invoice, InvoiceStatus, PaymentStatus, RefundStatus
from .selectors import invoices_for, payments_for

PAGE_SIZE = 50


def _office(request, permission: str):
    staff = staff_of(request.user)
    if staff is None or not request.user.has_perm(permission):
        raise PermissionDenied
    return staff


def _payment(request, public_id, permission: str = "payments.manage_payment"):
    _office(request, "payments.manage_payments")
    payment = get_object_or_404(payments_for(request.user), public_id=public_id)
    if not request.user.has_perm(permission, payment):
        raise Http404
    return payment


def _invoice(request, public_id, permission: str = "payments.manage_invoice") -> Invoice:
    _office(request, "payments.manage_invoices")
    invoice = get_object_or_404(invoices_for(request.user), public_id=public_id)
    if not request.user.has_perm(permission, invoice):
        raise Http404
    return invoice


def _day_start(day: datetime.date, zone: ZoneInfo) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)


# --- payments ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def payments_list(request):
    staff = _office(request, "payments.manage_payments")
    zone = ZoneInfo(staff.organisation.time_zone)
    form = PaymentFilterForm(request.GET or None)
    qs = payments_for(request.user).order_by("-created_at", "-pk")
    if form.is_valid():
        f = form.cleaned_data
        if f["status"]:
            qs = qs.filter(status=f["status"])
        if f["provider"]:
            qs = qs.filter(provider=f["provider"])
        if f["date_from"]:
            qs = qs.filter(created_at__gte=_day_start(f["date_from"], zone))
        if f["date_to"]:
            qs = qs.filter(
                created_at__lt=_day_start(f["date_to"] + datetime.timedelta(days=1), zone)
            )
        if f["q"]:
            term = f["q"].strip()
            q = Q(provider_reference__icontains=term)
            if term.isdigit():
                q |= Q(invoice__number=int(term))
            qs = qs.filter(q)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "payments/backoffice/payments.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )


def _refundable(payment) -> Money:
    """What may still be refunded: paid less refunds done or pending (as `refund_create`)."""
    committed = sum(
        (r.amount for r in payment.refunds.exclude(status=RefundStatus.FAILED)), Decimal(0)
    )
    left = payment.paid_amount - max(committed, payment.refunded_amount)
    return Money(max(left, Decimal(0)), payment.currency)


def _payment_context(payment, form=None) -> dict:
    refunds = list(payment.refunds.select_related("created_by"))
    can_refund = payment.status in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)
    refundable = _refundable(payment)
    return {
        "payment": payment,
        "refunds": refunds,
        "has_pending": any(r.status == RefundStatus.PENDING for r in refunds),
        "changes": payment.changes.all(),
        "events": payment.events.all()[:50],
        "refundable": refundable,
        "can_refund": can_refund and refundable.amount > 0,
        "form": form or RefundForm(initial={"amount": refundable.amount}),
    }


@login_required
@require_http_methods(["GET", "POST"])
def payment_detail(request, public_id):
    payment = _payment(request, public_id)
    form = None
    status = 200
    if request.method == "POST":
        if not request.user.has_perm("payments.refund_payment", payment):
            raise Http404
        form = RefundForm(request.POST)
        if form.is_valid():
            try:
                refund = services.refund_create(
                    payment=payment,
                    amount=Money(form.cleaned_data["amount"], payment.currency),
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Refund of %(amount)s requested; its outcome shows here once sent.")
                    % {"amount": Money(refund.amount, payment.currency)},
                )
                return redirect("payments:office_payment", public_id=payment.public_id)
        status = 400
    payment.refresh_from_db()
    return render(
        request,
        "payments/backoffice/payment_detail.html",
        _payment_context(payment, form),
        status=status,
    )


@login_required
@require_http_methods(["GET"])
def payment_live(request, public_id):
    """The status, facts and refunds of one payment; polled by htmx while a refund is pending."""
    payment = _payment(request, public_id)
    return render(request, "payments/backoffice/_payment_live.html", _payment_context(payment))


# --- invoices ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def invoices_list(request):
    _office(request, "payments.manage_invoices")
    form = InvoiceFilterForm(request.GET or None)
    qs = invoices_for(request.user).order_by("-created_at", "-pk")
    if form.is_valid():
        f = form.cleaned_data
        if f["status"]:
            qs = qs.filter(status=f["status"])
        if f["kind"]:
            qs = qs.filter(kind=f["kind"])
        if f["q"]:
            term = f["q"].strip()
            q = (
                Q(contact__first_name__icontains=term)
                | Q(contact__last_name__icontains=term)
                | Q(contact__email__icontains=term)
            )
            if term.isdigit():
                q |= Q(number=int(term))
            qs = qs.filter(q)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "payments/backoffice/invoices.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )


def _lines_initial(invoice: Invoice | None) -> list[dict]:
    if invoice is None:
        return []
    return [
        {
            "description": line.description,
            "quantity": line.quantity.normalize(),
            "unit_price": line.unit_price,
            "tax_rate": line.tax_rate.normalize(),
        }
        for line in invoice.lines.filter(deducts__isnull=True)
    ]


@login_required
@require_http_methods(["GET", "POST"])
def invoice_edit(request, public_id=None):
    """Create a draft (customer, kind, currency, due date, lines) or change a draft's lines."""
    staff = _office(request, "payments.manage_invoices")
    organisation = staff.organisation
    invoice = None
    if public_id is not None:
        invoice = _invoice(request, public_id)
        if invoice.status != InvoiceStatus.DRAFT:
            messages.error(request, _("Only a draft invoice can be changed."))
            return redirect("payments:office_invoice", public_id=invoice.public_id)
    data = request.POST if request.method == "POST" else None
    form = InvoiceForm(data, organisation=organisation, user=request.user, instance=invoice)
    # Bound: every filled row counts as typed (no initial to compare with, so an unchanged
    # row of the draft is not mistaken for an empty one).
    initial = _lines_initial(invoice) if data is None else None
    formset = InvoiceLineFormSet(data, initial=initial, prefix="lines")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        rows = filled_rows(formset)
        try:
            if invoice is None:
                f = form.cleaned_data
                invoice = inv.invoice_create(
                    organisation=organisation,
                    contact=f["contact"],
                    kind=f["kind"],
                    currency=f["currency"],
                    due_date=f["due_date"],
                    notes=f["notes"],
                    lines=line_dicts(rows),
                    actor=request.user,
                )
                messages.success(request, _("Draft invoice saved."))
            else:
                inv.invoice_update_lines(
                    invoice=invoice,
                    lines=line_dicts(rows),
                    due_date=form.cleaned_data["due_date"],
                    notes=form.cleaned_data["notes"],
                    actor=request.user,
                )
                messages.success(request, _("Draft invoice changed."))
        except ValidationError as exc:
            add_errors(form, exc, formset, rows)
        else:
            return redirect("payments:office_invoice", public_id=invoice.public_id)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "payments/backoffice/invoice_form.html",
        {"form": form, "formset": formset, "invoice": invoice},
        status=status,
    )


@login_required
@require_http_methods(["GET"])
def invoice_detail(request, public_id):
    invoice = _invoice(request, public_id)
    return render(request, "payments/backoffice/invoice_detail.html", _invoice_ctx(invoice))


def _invoice_ctx(invoice: Invoice, manual_form=None) -> dict:
    payable = invoice.status in (InvoiceStatus.ISSUED, InvoiceStatus.PARTIALLY_PAID)
    return {
        **inv.invoice_context(invoice),
        "payments": invoice.payments.order_by("created_at"),
        "payable": payable,
        "can_void": invoice.status == InvoiceStatus.ISSUED and invoice.paid_total == 0,
        "manual_form": manual_form
        or ManualPaymentForm(
            organisation=invoice.organisation,
            initial={"amount": inv.payable(invoice).amount} if payable else None,
        ),
    }


@login_required
@require_POST
def invoice_issue(request, public_id):
    invoice = _invoice(request, public_id)
    try:
        inv.invoice_issue(invoice=invoice, actor=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Invoice %(number)s issued.") % {"number": invoice.number})
    return redirect("payments:office_invoice", public_id=invoice.public_id)


@login_required
@require_POST
def invoice_void(request, public_id):
    invoice = _invoice(request, public_id)
    try:
        inv.invoice_void(
            invoice=invoice, reason=request.POST.get("reason", "")[:255], actor=request.user
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Invoice %(number)s voided.") % {"number": invoice.number})
    return redirect("payments:office_invoice", public_id=invoice.public_id)


@login_required
@require_POST
def invoice_manual_payment(request, public_id):
    invoice = _invoice(request, public_id)
    form = ManualPaymentForm(request.POST, organisation=invoice.organisation)
    if form.is_valid():
        f = form.cleaned_data
        try:
            inv.invoice_manual_payment(
                invoice=invoice,
                method=f["method"],
                amount=f["amount"],
                received_by=f["received_by"],
                actor=request.user,
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Payment recorded."))
            return redirect("payments:office_invoice", public_id=invoice.public_id)
    invoice.refresh_from_db()
    return render(
        request,
        "payments/backoffice/invoice_detail.html",
        _invoice_ctx(invoice, manual_form=form),
        status=400,
    )
