"""Forms of the office pages (orders list filters, preparation, lines, decisions, comments,
catalogue). They only parse input: the services check it, and their field errors are put back
next to the fields by `add_errors` — so a page and the API refuse the same things with the same
words. Amounts and quantities are read as text for that reason (the services accept "12,50")."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from slotwise.org.models import Staff
from slotwise.org.roles import AGENDA_ROLES
from slotwise.org.selectors import unit_filter, units_for
from slotwise.scheduling.models import AppointmentType

from .models import CatalogueItem, LineKind, Source, Status

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
DECIMAL = {"inputmode": "decimal", "autocomplete": "off"}


def add_errors(form: forms.Form, exc: ValidationError, *, aliases=None, rows=None) -> None:
    """A service's errors next to the fields: ``lines.<i>.<field>`` on the i-th row in `rows`,
    other keys on the form's field of that name (or its alias), anything else on the form."""
    aliases = aliases or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, messages in exc.message_dict.items():
        if key.startswith("lines.") and rows:
            _prefix, index, name = key.split(".", 2)
            try:
                target = rows[int(index)]
            except (ValueError, IndexError):
                form.add_error(None, messages)
                continue
            target.add_error(name if name in target.fields else None, messages)
            continue
        name = aliases.get(key, key)
        if name in form.fields:
            form.add_error(name, messages)
        else:
            form.add_error(None, messages)


class LocalDateTimeField(forms.DateTimeField):
    """A `datetime-local` input read as wall-clock time in the organisation's zone (not the
    server's): the form sets `zone` before cleaning."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT)
    input_formats = [DATETIME_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
    zone: ZoneInfo | None = None

    def to_python(self, value):
        if self.zone is None:
            return super().to_python(value)
        with timezone.override(self.zone):
            return super().to_python(value)


def local_input(value: datetime.datetime | None, zone: ZoneInfo) -> str:
    """An aware datetime as the `datetime-local` input shows it in `zone`."""
    if value is None:
        return ""
    return timezone.localtime(value, zone).strftime(DATETIME_FORMAT)


# --- orders list ------------------------------------------------------------------------------


class OrderFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=120,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Number, customer, …")}),
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any"))] + Status.choices
    )
    unit = forms.ModelChoiceField(
        label=_("Unit"), required=False, queryset=None, empty_label=_("Any")
    )
    technician = forms.ModelChoiceField(
        label=_("Technician"), required=False, queryset=None, empty_label=_("Any")
    )
    source = forms.ChoiceField(
        label=_("Source"), required=False, choices=[("", _("Any"))] + Source.choices
    )
    duplicates = forms.BooleanField(label=_("Possible duplicates"), required=False)
    waiting = forms.BooleanField(
        label=_("Waiting for me"),
        required=False,
        help_text=_("Extras to approve and completions to confirm."),
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = units_for(user).order_by("path")
        self.fields["technician"].queryset = technicians_for(user)
        self.fields["technician"].label_from_instance = staff_label


def technicians_for(user):
    """The staff doing visits in the units the user sees."""
    return (
        Staff.objects.filter(unit_filter(user), roles__role__in=AGENDA_ROLES)
        .select_related("user")
        .distinct()
        .order_by("user__first_name", "user__last_name", "pk")
    )


def staff_label(staff: Staff) -> str:
    return staff.user.get_full_name() or staff.user.get_username()


# --- the order page ---------------------------------------------------------------------------


class PrepareForm(forms.Form):
    """What a manager prepares (S2.2); the address is geocoded from the postcode."""

    title = forms.CharField(label=_("Short description"), max_length=200, required=False)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    type = forms.ModelChoiceField(
        label=_("Work"),
        required=False,
        queryset=None,
        empty_label=_("Not chosen yet"),
        help_text=_("The kind of visit: its duration and the skills it needs."),
    )
    address = forms.CharField(label=_("Street address"), max_length=300, required=False)
    postcode = forms.CharField(label=_("Postcode"), max_length=16, required=False)
    city = forms.CharField(label=_("City"), max_length=120, required=False)
    window_start = LocalDateTimeField(label=_("Visit window from"), required=False)
    window_end = LocalDateTimeField(label=_("Visit window until"), required=False)
    manager_comment = forms.CharField(
        label=_("Comment for the technician"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, organisation, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        zone = ZoneInfo(organisation.time_zone)
        for name in ("window_start", "window_end"):
            self.fields[name].zone = zone
        self.fields["type"].queryset = AppointmentType.objects.filter(
            organisation=organisation, active=True
        ).order_by("name")

    @classmethod
    def initial_for(cls, order) -> dict:
        zone = ZoneInfo(order.organisation.time_zone)
        location = order.location
        return {
            "title": order.title,
            "description": order.description,
            "type": order.type_id,
            "address": location.address if location else "",
            "postcode": location.postcode if location else "",
            "city": location.city if location else "",
            "window_start": local_input(order.window_start, zone),
            "window_end": local_input(order.window_end, zone),
            "manager_comment": order.manager_comment,
        }


class LineForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=LineKind.choices, initial=LineKind.SERVICE)
    item = forms.ChoiceField(label=_("From the catalogue"), required=False)
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    quantity = forms.CharField(
        label=_("Quantity"), required=False, initial="1", widget=forms.TextInput(attrs=DECIMAL)
    )
    unit_price = forms.CharField(
        label=_("Unit price"), required=False, widget=forms.TextInput(attrs=DECIMAL)
    )
    tax_rate = forms.CharField(
        label=_("Tax rate (%)"), required=False, widget=forms.TextInput(attrs=DECIMAL)
    )

    def __init__(self, *args, items=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The catalogue is read once for the whole formset (a list, not a queryset per row).
        self.items = {str(item.pk): item for item in items}
        self.fields["item"].choices = [("", _("Free text"))] + [
            (key, item.name) for key, item in self.items.items()
        ]

    def clean_item(self) -> CatalogueItem | None:
        return self.items.get(self.cleaned_data.get("item") or "")

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {}) or {}
        return (
            not data.get("item")
            and not (data.get("name") or "").strip()
            and not (data.get("unit_price") or "").strip()
        )


class BaseLineFormSet(forms.BaseFormSet):
    def __init__(self, *args, items=(), **kwargs) -> None:
        self.items = list(items)
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "items": self.items}

    @property
    def empty_form(self):
        form = self.form(
            auto_id=self.auto_id,
            prefix=self.add_prefix("__prefix__"),
            empty_permitted=True,
            use_required_attribute=False,
            items=self.items,
            renderer=self.renderer,
        )
        self.add_fields(form, None)
        return form


LineFormSet = forms.formset_factory(
    LineForm, formset=BaseLineFormSet, extra=2, can_delete=True, max_num=100, absolute_max=100
)


def filled_rows(formset) -> list[LineForm]:
    """The rows that say something (not deleted, not left empty), in their order."""
    rows = []
    for form in formset.forms:
        if not hasattr(form, "cleaned_data"):
            continue
        if form.cleaned_data.get("DELETE") or form.is_blank():
            continue
        rows.append(form)
    return rows


class ExtrasDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", _("Approve")), ("reject", _("Reject"))], widget=forms.HiddenInput
    )
    note = forms.CharField(
        label=_("Reason (required to reject)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class CommentForm(forms.Form):
    body = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


# --- catalogue --------------------------------------------------------------------------------


class CatalogueItemForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=CatalogueItem.Kind.choices)
    name = forms.CharField(label=_("Name"), required=False, max_length=200)
    code = forms.CharField(label=_("Code"), required=False, max_length=40)
    unit_label = forms.CharField(
        label=_("Unit"), required=False, max_length=20, help_text=_("e.g. pcs, h, m")
    )
    unit_price = forms.CharField(
        label=_("Unit price"), required=False, widget=forms.TextInput(attrs=DECIMAL)
    )
    tax_rate = forms.CharField(
        label=_("Tax rate (%)"), required=False, initial="0", widget=forms.TextInput(attrs=DECIMAL)
    )

    @classmethod
    def initial_for(cls, item: CatalogueItem) -> dict:
        return {
            "kind": item.kind,
            "name": item.name,
            "code": item.code,
            "unit_label": item.unit_label,
            "unit_price": item.unit_price,
            "tax_rate": format(item.tax_rate.normalize(), "f"),
        }
