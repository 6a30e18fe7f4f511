"""Forms of the public booking page (S4.6). Validation of what a form can see alone; the rules
that need the database (postcode geocoding, availability, duplicates) are the selectors' and
services' and come back as field errors."""

from __future__ import annotations

import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from slotwise.customers.phones import to_e164

MAX_RANGE_DAYS = 62


class SearchForm(forms.Form):
    """Where (when the type needs travel) and which days."""

    postcode = forms.CharField(label=_("Postcode"), max_length=16, required=False)
    address = forms.CharField(label=_("Street and number"), max_length=300, required=False)
    start = forms.DateField(
        label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    end = forms.DateField(
        label=_("Until"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args, needs_travel: bool, today: datetime.date, **kwargs):
        super().__init__(*args, **kwargs)
        self.needs_travel = needs_travel
        self.today = today
        if needs_travel:
            self.fields["postcode"].required = True
            self.fields["postcode"].widget.attrs["autocomplete"] = "postal-code"
            self.fields["address"].widget.attrs["autocomplete"] = "street-address"
        else:
            del self.fields["postcode"]
            del self.fields["address"]

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and start < self.today:
            self.add_error("start", _("Choose today or a later day."))
        if start and end:
            if end < start:
                self.add_error("end", _("The last day must not be before the first day."))
            elif (end - start).days >= MAX_RANGE_DAYS:
                self.add_error(
                    "end",
                    _("Choose at most %(days)s days at once.") % {"days": MAX_RANGE_DAYS},
                )
        return data


class ContactDetailsForm(forms.Form):
    """Who books (anonymous visitors). `website` is a honeypot: people never see it, bots fill
    it in."""

    first_name = forms.CharField(label=_("First name"), max_length=120)
    last_name = forms.CharField(label=_("Last name"), max_length=120, required=False)
    phone = forms.CharField(label=_("Mobile phone"), max_length=40)
    email = forms.EmailField(
        label=_("E-mail"), max_length=254, error_messages={"invalid": _("Enter a valid e-mail.")}
    )
    website = forms.CharField(label=_("Leave this field empty"), required=False)

    def __init__(self, *args, country: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.country = country
        self.fields["first_name"].widget.attrs["autocomplete"] = "given-name"
        self.fields["last_name"].widget.attrs["autocomplete"] = "family-name"
        self.fields["phone"].widget.attrs.update({"autocomplete": "tel", "inputmode": "tel"})
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        self.fields["website"].widget.attrs.update({"autocomplete": "off", "tabindex": "-1"})

    def clean_phone(self):
        try:
            return to_e164(self.cleaned_data["phone"], self.country)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get("website"))
