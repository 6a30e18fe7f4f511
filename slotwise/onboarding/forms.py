from django import forms
from django.utils.translation import gettext_lazy as _

from .models import ApplicationStatus


class ApplicationForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=120)
    last_name = forms.CharField(label=_("Last name"), max_length=120, required=False)
    phone = forms.CharField(
        label=_("Phone (WhatsApp)"),
        max_length=40,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    unit = forms.ModelChoiceField(label=_("Unit"), queryset=None, required=False)

    def __init__(self, *args, units=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = units
        self.fields["unit"].empty_label = _("Whole organisation")


class FixNumberForm(forms.Form):
    phone = forms.CharField(
        label=_("WhatsApp number"),
        max_length=40,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason (the person sees it)"), widget=forms.Textarea(attrs={"rows": 2})
    )


class AskForm(forms.Form):
    text = forms.CharField(
        label=_("What is missing (sent to the person's messenger)"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class FilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All open")), ("all", _("All"))] + list(ApplicationStatus.choices),
    )
    q = forms.CharField(label=_("Name or phone"), required=False, max_length=100)


def add_errors(form, exc) -> None:
    """A service's ValidationError onto the form, field by field."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
