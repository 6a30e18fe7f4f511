"""The customer's invoices ("My invoices"): the list, one invoice with its lines and payments,
its PDF, and paying what is outstanding (or part of it) with one of the organisation's online
providers through the shared pay page, which returns here once paid.

A customer reaches only their own issued invoices, by the invoice's unguessable id; anything
else is a 404 (`rules.is_own_invoice`). The PDF view serves the back office too
(`payments.see_invoice`)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from slotwise.core.errors import ValidationError

from . import invoices as inv
from .forms import PayInvoiceForm, add_errors
from .models import Invoice
from .selectors import invoices_for


def _own(request, public_id) -> Invoice:
    invoice = get_object_or_404(
        Invoice.objects.select_related("organisation", "contact"), public_id=public_id
    )
    if not request.user.has_perm("payments.see_invoice", invoice) or invoice.contact.user_id != (
        request.user.pk
    ):
        raise Http404
    return invoice


@login_required
@require_http_methods(["GET"])
def my_invoices(request):
    if not request.user.has_perm("payments.view_own_invoices"):
        raise Http404
    invoices = (
        invoices_for(request.user).filter(contact__user=request.user).order_by("-issued_at", "-pk")
    )
    return render(request, "payments/portal/invoices.html", {"invoices": invoices})


@login_required
@require_http_methods(["GET", "POST"])
def my_invoice(request, public_id):
    invoice = _own(request, public_id)
    may_pay = request.user.has_perm("payments.pay_invoice", invoice)
    form = None
    status = 200
    if may_pay:
        left = inv.payable(invoice)
        form = PayInvoiceForm(
            request.POST if request.method == "POST" else None,
            organisation=invoice.organisation,
            currency=invoice.currency,
            initial={"amount": left.amount},
        )
        if request.method == "POST":
            if form.is_valid():
                try:
                    payment = inv.invoice_pay_start(
                        invoice=invoice,
                        amount=form.cleaned_data["amount"],
                        provider=form.cleaned_data["provider"],
                        payer_phone=form.cleaned_data.get("phone", ""),
                        return_url=reverse("payments:my_invoice", args=[invoice.public_id]),
                        actor=request.user,
                    )
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    return redirect("payments:pay", public_id=payment.public_id)
            status = 400
    elif request.method == "POST":
        raise Http404
    return render(
        request,
        "payments/portal/invoice.html",
        {
            **inv.invoice_context(invoice),
            "form": form,
            "payable_now": inv.payable(invoice) if may_pay else None,
            "payments": invoice.payments.filter(
                status__in=("paid", "partially_refunded", "refunded")
            ),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET"])
def invoice_pdf(request, public_id):
    """The invoice as a PDF: for its own customer (issued only) and the back office."""
    invoice = get_object_or_404(
        Invoice.objects.select_related("organisation", "contact"), public_id=public_id
    )
    if not request.user.has_perm("payments.see_invoice", invoice):
        raise Http404
    response = HttpResponse(inv.invoice_pdf(invoice), content_type="application/pdf")
    name = f"invoice-{invoice.number}" if invoice.number else "invoice-draft"
    response["Content-Disposition"] = f'inline; filename="{name}.pdf"'
    return response
