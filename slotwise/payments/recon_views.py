"""Thin views of reconciliation and on-site payments.

- `/payments/reconciliation/` (+ `.csv`): the report per day and provider and the cash and checks
  held by staff, with "mark handed over" — managers and org admins, their organisation only
  (`payments.view_reconciliation`, `payments.hand_over_cash`).
- `/payments/onsite/<booking>/`: record an on-site payment (manual method with a tip) or create a
  payment link against a booking — the staff who see the booking (`payments.take_onsite_payment`).
  A stand-in for the work order's completion screen until work orders exist.
- `/payments/link/<payment>/`: the page a payment link opens (no login; the payment's unguessable
  id): pick a provider, then the shared pay page.
"""

from __future__ import annotations

import csv
import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from slotwise.core.errors import ValidationError
from slotwise.core.money import Money
from slotwise.org.models import Staff
from slotwise.org.selectors import staff_of

from . import onsite, reconciliation, services
from .checkout import ProviderChoiceForm
from .models import Payment, Purpose

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DEFAULT_DAYS = 7


# --- forms ------------------------------------------------------------------------------------


class ReportForm(forms.Form):
    date_from = forms.DateField(label=gettext_lazy("From"), required=False, widget=DATE)
    date_to = forms.DateField(label=gettext_lazy("To"), required=False, widget=DATE)

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end:
            if end < start:
                self.add_error("date_to", _("The end is before the start."))
            elif (end - start).days >= reconciliation.MAX_DAYS:
                self.add_error(
                    "date_to",
                    _("At most %(days)s days at a time.") % {"days": reconciliation.MAX_DAYS},
                )
        return data


class OnsitePaymentForm(forms.Form):
    method = forms.ChoiceField(label=gettext_lazy("Paid by"))
    amount = forms.DecimalField(label=gettext_lazy("Amount"), decimal_places=2, min_value=0)
    tip = forms.DecimalField(
        label=gettext_lazy("Tip"), decimal_places=2, min_value=0, required=False
    )
    received_by = forms.ModelChoiceField(
        label=gettext_lazy("Received by (cash and checks)"), queryset=None, required=False
    )

    def __init__(self, *args, organisation, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["method"].choices = onsite.method_choices()
        self.fields["received_by"].queryset = Staff.objects.filter(
            organisation=organisation
        ).select_related("user")


class PaymentLinkForm(forms.Form):
    link_amount = forms.DecimalField(label=gettext_lazy("Amount"), decimal_places=2, min_value=0)
    sms_to = forms.CharField(label=gettext_lazy("Send by SMS to"), required=False, max_length=30)
    email_to = forms.CharField(
        label=gettext_lazy("Send by e-mail to"), required=False, max_length=254
    )


def _add_errors(form: forms.Form, exc: ValidationError, aliases: dict[str, str] | None = None):
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, errors in exc.message_dict.items():
        key = (aliases or {}).get(key, key)
        form.add_error(key if key in form.fields else None, errors)


# --- reconciliation ---------------------------------------------------------------------------


def _manager(request) -> Staff:
    staff = staff_of(request.user)
    if staff is None or not request.user.has_perm("payments.view_reconciliation"):
        raise PermissionDenied
    return staff


def _period(request, organisation) -> tuple[ReportForm, datetime.date, datetime.date]:
    today = timezone.now().astimezone(ZoneInfo(organisation.time_zone)).date()
    default_from = today - datetime.timedelta(days=DEFAULT_DAYS - 1)
    form = ReportForm(request.GET or None)
    start, end = default_from, today
    if form.is_bound and form.is_valid():
        start = form.cleaned_data["date_from"] or default_from
        end = form.cleaned_data["date_to"] or max(today, start)
    elif not form.is_bound:
        form = ReportForm(initial={"date_from": start, "date_to": end})
    return form, start, end


@login_required
@require_http_methods(["GET"])
def report(request):
    staff = _manager(request)
    organisation = staff.organisation
    form, start, end = _period(request, organisation)
    rows = reconciliation.day_rows(organisation=organisation, date_from=start, date_to=end)
    held = reconciliation.held_rows(organisation=organisation)
    by_holder: dict[tuple[int, str], list[Payment]] = {}
    for p in reconciliation.held_payments(organisation=organisation):
        by_holder.setdefault((p.received_by_id, p.currency), []).append(p)
    return render(
        request,
        "payments/recon/report.html",
        {
            "form": form,
            "date_from": start,
            "date_to": end,
            "rows": rows,
            "totals": reconciliation.totals(rows),
            "held": [(h, by_holder.get((h.staff_id, h.currency), [])) for h in held],
            "query": request.GET.urlencode(),
        },
    )


CSV_COLUMNS = [
    "kind",
    "day",
    "provider",
    "method",
    "currency",
    "expected_count",
    "expected",
    "received_count",
    "received",
    "refunded",
    "fees",
    "fees_reported",
    "net",
    "open",
    "failed",
    "cancelled",
    "staff",
    "held_count",
    "held_amount",
    "held_since",
]


@login_required
@require_http_methods(["GET"])
def report_csv(request):
    """The report as CSV: a "day" row per day × provider (× manual method × currency) and a
    "held" row per staff member (× currency) holding cash or checks."""
    staff = _manager(request)
    organisation = staff.organisation
    _form, start, end = _period(request, organisation)
    zone = ZoneInfo(organisation.time_zone)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="reconciliation-{organisation.slug}-{start}-{end}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for r in reconciliation.day_rows(organisation=organisation, date_from=start, date_to=end):
        writer.writerow(
            [
                "day",
                r.day.isoformat(),
                r.provider,
                r.method,
                r.currency,
                r.expected_count,
                r.expected,
                r.received_count,
                r.received,
                r.refunded,
                r.fees,
                r.fees_reported,
                r.net,
                r.open_count,
                r.failed_count,
                r.cancelled_count,
                "",
                "",
                "",
                "",
            ]
        )
    for h in reconciliation.held_rows(organisation=organisation):
        writer.writerow(
            ["held", "", "manual", "", h.currency]
            + [""] * 11
            + [h.staff_name, h.count, h.amount, h.oldest.astimezone(zone).isoformat()]
        )
    return response


@login_required
@require_POST
def hand_over(request, staff_id: int):
    """Mark the chosen cash and check payments of one staff member as handed over."""
    staff = _manager(request)
    ids = [int(v) for v in request.POST.getlist("payment") if v.isdigit()]
    payments = [
        p
        for p in reconciliation.held_payments(
            organisation=staff.organisation, staff_id=staff_id
        ).filter(pk__in=ids)
        if request.user.has_perm("payments.hand_over_cash", p)
    ]
    if not payments:
        messages.error(request, _("Choose the payments that were handed over."))
    else:
        count = services.manual_payment_hand_over(payments=payments, actor=request.user)
        messages.success(
            request, _("%(count)s payment(s) marked as handed over.") % {"count": count}
        )
    back = request.POST.get("query", "")
    return redirect(reverse("payments:reconciliation") + (f"?{back}" if back else ""))


# --- on-site payments against a booking -------------------------------------------------------


def _booking_for(request, public_id):
    from slotwise.bookings.models import Booking

    staff = staff_of(request.user)
    if staff is None:
        raise PermissionDenied
    booking = get_object_or_404(
        Booking.objects.select_related("contact", "type", "staff__user", "organisation"),
        public_id=public_id,
        organisation_id=staff.organisation_id,
    )
    if not request.user.has_perm("payments.take_onsite_payment", booking):
        raise Http404
    return staff, booking


def _money(value, currency: str) -> Money | None:
    if value in (None, ""):
        return None
    try:
        return Money(Decimal(value), currency)
    except (InvalidOperation, ValueError):
        return None


@login_required
@require_http_methods(["GET", "POST"])
def onsite_booking(request, public_id):
    staff, booking = _booking_for(request, public_id)
    organisation = booking.organisation
    currency = booking.type.currency or organisation.currency
    contact = booking.contact
    pay_form = OnsitePaymentForm(
        organisation=organisation,
        initial={"method": "cash", "amount": booking.type.price or None, "received_by": staff},
    )
    link_form = PaymentLinkForm(
        initial={
            "link_amount": booking.type.price or None,
            "sms_to": contact.phone if contact else "",
            "email_to": contact.email if contact else "",
        }
    )
    created_link = None
    action = request.POST.get("action")
    if request.method == "POST" and action == "record":
        pay_form = OnsitePaymentForm(request.POST, organisation=organisation)
        if pay_form.is_valid():
            data = pay_form.cleaned_data
            try:
                onsite.onsite_payment_record(
                    organisation=organisation,
                    method=data["method"],
                    amount=Money(data["amount"], currency),
                    tip=_money(data.get("tip"), currency),
                    received_by=data["received_by"],
                    booking=booking,
                    actor=request.user,
                )
            except ValidationError as exc:
                _add_errors(pay_form, exc)
            else:
                messages.success(request, _("The payment was recorded."))
                return redirect("payments:onsite_booking", public_id=booking.public_id)
    elif request.method == "POST" and action == "link":
        link_form = PaymentLinkForm(request.POST)
        if link_form.is_valid():
            data = link_form.cleaned_data
            try:
                created_link = onsite.payment_link_create(
                    organisation=organisation,
                    amount=Money(data["link_amount"], currency),
                    booking=booking,
                    sms_to=data["sms_to"],
                    email_to=data["email_to"],
                    actor=request.user,
                )
            except ValidationError as exc:
                _add_errors(link_form, exc, {"amount": "link_amount"})
    payments = Payment.objects.filter(booking=booking, purpose=Purpose.ON_SITE).select_related(
        "received_by__user"
    )
    return render(
        request,
        "payments/onsite/booking.html",
        {
            "booking": booking,
            "currency": currency,
            "pay_form": pay_form,
            "link_form": link_form,
            "created_link": created_link,
            "payments": [
                (p, onsite.link_url(p) if p.provider != "manual" else "") for p in payments
            ],
        },
    )


# --- the payment link's page (public) ---------------------------------------------------------


@require_http_methods(["GET", "POST"])
def link(request, public_id):
    payment = get_object_or_404(
        Payment.objects.select_related("organisation", "booking__type"),
        public_id=public_id,
        purpose=Purpose.ON_SITE,
    )
    if payment.provider == "manual":
        raise Http404
    state = onsite.link_state(payment)
    if state == "started":
        return redirect("payments:pay", public_id=payment.public_id)
    form = None
    if state == "choose":
        form = ProviderChoiceForm(
            request.POST or None,
            organisation=payment.organisation,
            currency=payment.currency,
            initial={"provider": payment.provider},
        )
        if request.method == "POST" and form.is_valid():
            try:
                payment = onsite.payment_link_pay(
                    payment=payment,
                    provider=form.cleaned_data["provider"],
                    payer_phone=form.cleaned_data.get("phone", ""),
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                return redirect("payments:pay", public_id=payment.public_id)
    return render(
        request,
        "payments/link.html",
        {"payment": payment, "state": state, "form": form},
        status=200 if state in ("choose", "paid") else 410,
    )
