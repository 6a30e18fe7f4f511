"""Forms of the back office (invoices, refunds, manual payments, filters) and of the customer's
invoice page. They only parse input; the services check it and their field errors are put back
next to the fields (`add_errors`)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from slotwise.customers.selectors import contacts_for
from slotwise.org.models import Staff

from .checkout import ProviderChoiceForm
from .invoices import supported_currencies
from .models import InvoiceKind, InvoiceStatus, PaymentStatus
from .providers import providers
from .services import MANUAL_METHODS

METHOD_LABELS = {
    "cash": _("Cash"),
    "check": _("Check"),
    "zelle": _("Zelle"),
    "cash_app": _("Cash App"),
    "venmo": _("Venmo"),
    "paypal": _("PayPal"),
    "card_terminal": _("Card terminal"),
    "online_terminal": _("Online terminal"),
}

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def add_errors(form: forms.Form, exc: ValidationError, formset=None, rows=None) -> None:
    """A service's field errors next to the fields: ``lines.<i>.<field>`` on the i-th filled
    row of the formset (`rows` maps i → form), anything else on the form (or the form itself)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, messages in exc.message_dict.items():
        if key.startswith("lines.") and formset is not None and rows:
            _, index, field = key.split(".", 2)
            target = rows[int(index)]
            target.add_error(field if field in target.fields else None, messages)
        elif key in form.fields:
            form.add_error(key, messages)
        else:
            form.add_error(None, messages)


class InvoiceForm(forms.Form):
    contact = forms.ModelChoiceField(label=_("Customer"), queryset=None)
    kind = forms.ChoiceField(label=_("Kind"), choices=InvoiceKind.choices)
    currency = forms.ChoiceField(label=_("Currency"))
    due_date = forms.DateField(label=_("Due"), required=False, widget=DATE)
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, organisation, user, instance=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["contact"].queryset = contacts_for(user).filter(organisation=organisation)
        self.fields["currency"].choices = [(c, c) for c in supported_currencies(organisation)]
        if instance is not None:
            # Customer, kind and currency are fixed once the draft exists.
            for name in ("contact", "kind", "currency"):
                del self.fields[name]
            self.initial.setdefault("due_date", instance.due_date)
            self.initial.setdefault("notes", instance.notes)


class InvoiceLineForm(forms.Form):
    description = forms.CharField(label=_("Description"), max_length=255, required=False)
    quantity = forms.DecimalField(label=_("Quantity"), required=False, initial=1)
    unit_price = forms.DecimalField(label=_("Unit price"), required=False)
    tax_rate = forms.DecimalField(label=_("Tax rate (%)"), required=False, initial=0)

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {}) or {}
        return not data.get("description") and data.get("unit_price") in (None, "")


InvoiceLineFormSet = forms.formset_factory(InvoiceLineForm, extra=3, can_delete=True)


def filled_rows(formset) -> list[forms.Form]:
    """The formset's rows that say something (not deleted, not left empty)."""
    rows = []
    for form in formset.forms:
        if not hasattr(form, "cleaned_data"):
            continue
        if form.cleaned_data.get("DELETE") or form.is_blank():
            continue
        rows.append(form)
    return rows


def line_dicts(rows) -> list[dict]:
    return [
        {
            "description": r.cleaned_data.get("description", ""),
            "quantity": r.cleaned_data.get("quantity")
            if r.cleaned_data.get("quantity") is not None
            else "",
            "unit_price": r.cleaned_data.get("unit_price")
            if r.cleaned_data.get("unit_price") is not None
            else "",
            "tax_rate": r.cleaned_data.get("tax_rate")
            if r.cleaned_data.get("tax_rate") is not None
            else 0,
        }
        for r in rows
    ]


class RefundForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount to refund"), min_value=0, decimal_places=2)
    reason = forms.CharField(label=_("Reason"), max_length=255)


class ManualPaymentForm(forms.Form):
    method = forms.ChoiceField(label=_("Paid by"))
    amount = forms.DecimalField(label=_("Amount"), decimal_places=2)
    received_by = forms.ModelChoiceField(
        label=_("Received by (cash and checks)"), queryset=None, required=False
    )

    def __init__(self, *args, organisation, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["method"].choices = [(m, METHOD_LABELS[m]) for m in MANUAL_METHODS]
        self.fields["received_by"].queryset = Staff.objects.filter(
            organisation=organisation
        ).select_related("user")


class PayInvoiceForm(ProviderChoiceForm):
    amount = forms.DecimalField(label=_("Amount to pay"), decimal_places=2)

    field_order = ["amount", "provider", "phone"]


class PaymentFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any"))] + PaymentStatus.choices
    )
    provider = forms.ChoiceField(label=_("Provider"), required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=DATE)
    date_to = forms.DateField(label=_("To"), required=False, widget=DATE)
    q = forms.CharField(label=_("Reference"), required=False, max_length=120)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [("", _("Any"))] + [(k, k) for k in providers.kinds()]


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any"))] + InvoiceStatus.choices
    )
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("Any"))] + InvoiceKind.choices
    )
    q = forms.CharField(label=_("Number or customer"), required=False, max_length=120)
