"""Logging a phone call by hand on the contact card (calls made from a desk phone or a mobile
that no telephony webhook sees).

`CallLogForm(numbers=[...], default_region="SE")`: pick one of the contact's numbers or type
another; direction, outcome, duration in minutes, notes. `cleaned_data` gives what the logging
service needs: `number` (E.164), `direction` ("inbound"/"outbound"), `status` (the same
outcome names as the webhook's: completed, busy, no-answer, failed, canceled), `duration_s`,
`notes`, and `summary()` the timeline line a webhook call would have.
"""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from slotwise.customers.phones import to_e164

from .channel import call_summary

OTHER = "other"
MAX_MINUTES = 24 * 60


class CallLogForm(forms.Form):
    number = forms.ChoiceField(label=_("Number"), required=False)
    other_number = forms.CharField(
        label=_("Other number"),
        required=False,
        max_length=40,
        help_text=_("International format, e.g. +46 70 123 45 67."),
    )
    direction = forms.ChoiceField(
        label=_("Direction"),
        choices=(("inbound", _("They called us")), ("outbound", _("We called them"))),
        initial="outbound",
        error_messages={"required": _("Say who called whom.")},
    )
    status = forms.ChoiceField(
        label=_("Outcome"),
        choices=(
            ("completed", _("Answered")),
            ("no-answer", _("No answer")),
            ("busy", _("Busy")),
            ("failed", _("Could not connect")),
            ("canceled", _("Hung up before answer")),
        ),
        initial="completed",
        error_messages={"required": _("Choose how the call went.")},
    )
    duration_minutes = forms.DecimalField(
        label=_("Duration (minutes)"),
        required=False,
        min_value=0,
        max_value=MAX_MINUTES,
        decimal_places=1,
        error_messages={
            "invalid": _("Enter the duration as a number of minutes."),
            "min_value": _("The duration cannot be negative."),
            "max_value": _("A call cannot last more than 24 hours."),
            "max_decimal_places": _("Use at most one decimal, e.g. 2.5 minutes."),
        },
    )
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"max_length": _("Keep the notes under %(limit_value)d characters.")},
    )

    prefix = "call"

    def __init__(
        self, *args, numbers: Sequence[str] = (), default_region: str | None = None, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.default_region = default_region
        self.numbers = [n for n in numbers if n]
        self.fields["number"].choices = [
            *[(n, n) for n in self.numbers],
            (OTHER, _("Another number…")),
        ]
        self.fields["number"].error_messages["invalid_choice"] = _(
            "Choose one of the contact's numbers or “Another number…”."
        )
        if self.numbers and not self.is_bound:
            self.fields["number"].initial = self.numbers[0]
        elif not self.numbers:
            self.fields["number"].initial = OTHER

    def clean(self):
        data = super().clean()
        choice = data.get("number") or (OTHER if not self.numbers else "")
        if choice == OTHER:
            typed = data.get("other_number", "")
            if not typed:
                self.add_error("other_number", _("Enter the number that was called."))
            else:
                try:
                    data["number"] = to_e164(typed, self.default_region)
                except ValidationError as exc:
                    self.add_error("other_number", exc)
        elif not choice:
            self.add_error("number", _("Choose the number that was called."))
        minutes = data.get("duration_minutes")
        data["duration_s"] = int(round(minutes * 60)) if minutes is not None else 0
        if data.get("status") not in (None, "completed") and data["duration_s"]:
            self.add_error(
                "duration_minutes", _("Only an answered call has a duration; leave it empty.")
            )
        return data

    def summary(self) -> str:
        d = self.cleaned_data
        return call_summary(
            direction=d["direction"], status=d["status"], duration_s=d.get("duration_s") or None
        )
