"""Forms of the staff pages. They parse and present; the services decide what is valid."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from slotwise.org.models import OrgUnit, Region, Skill

from .models import WEEKDAYS, AppointmentType, SchedulingPolicy
from .services import MAX_RANGES_PER_DAY, WEEKDAY_KEYS


def add_service_errors(form: forms.Form, exc: ValidationError, aliases: dict | None = None) -> None:
    """Put a service's field errors next to the form's fields (others on the form itself)."""
    aliases = aliases or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, messages in exc.message_dict.items():
        field = aliases.get(field, field)
        form.add_error(field if field in form.fields else None, messages)


# --- working hours ------------------------------------------------------------------------------

_TIME = re.compile(r"^(\d{1,2})(?:[:.h](\d{2}))?$")
_SPLIT_DAY = re.compile(r"[,;]+")
_SPLIT_RANGE = re.compile(r"\s*(?:-|–|—|to)\s*")


def _parse_time(text: str) -> datetime.time:
    match = _TIME.match(text.strip())
    if not match:
        raise ValueError(text)
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour == 24 and minute == 0:
        return datetime.time(23, 59)
    return datetime.time(hour, minute)  # raises ValueError when out of range


def parse_ranges(text: str) -> list[tuple[datetime.time, datetime.time]]:
    """ "08:30-12:00, 13:00-17:00" → [(08:30, 12:00), (13:00, 17:00)]. Also "8-12", "8.30–12"."""
    ranges = []
    for part in _SPLIT_DAY.split(text or ""):
        part = part.strip()
        if not part:
            continue
        pieces = _SPLIT_RANGE.split(part)
        if len(pieces) != 2:
            raise ValueError(part)
        ranges.append((_parse_time(pieces[0]), _parse_time(pieces[1])))
    return ranges


def format_ranges(ranges) -> str:
    return ", ".join(f"{s:%H:%M}-{e:%H:%M}" for s, e in ranges)


class WeekHoursForm(forms.Form):
    """One text field per weekday: quick to type on a phone, easy to read back."""

    def __init__(self, *args, initial_hours=None, **kwargs):
        super().__init__(*args, **kwargs)
        by_day: dict[int, list] = {}
        for h in initial_hours or ():
            by_day.setdefault(h.weekday, []).append((h.start, h.end))
        for weekday, label in WEEKDAYS:
            key = WEEKDAY_KEYS[weekday]
            self.fields[key] = forms.CharField(
                label=label,
                required=False,
                max_length=200,
                initial=format_ranges(sorted(by_day.get(weekday, []))),
                widget=forms.TextInput(
                    attrs={
                        "placeholder": _("not working"),
                        "autocomplete": "off",
                        "data-weekday": key,
                    }
                ),
            )

    def clean(self):
        data = super().clean()
        parsed = {}
        for weekday, _label in WEEKDAYS:
            key = WEEKDAY_KEYS[weekday]
            try:
                ranges = parse_ranges(data.get(key, ""))
            except ValueError:
                self.add_error(
                    key,
                    _("Write the hours like 08:30-12:00, 13:00-17:00 (at most %(count)s ranges).")
                    % {"count": MAX_RANGES_PER_DAY},
                )
                continue
            parsed[weekday] = ranges
        data["weekday_ranges"] = parsed
        return data


class ExceptionForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    start = forms.TimeField(
        label=_("From"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    end = forms.TimeField(
        label=_("Until"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=200)

    prefix = "exc"


class TimeOffForm(forms.Form):
    start_date = forms.DateField(
        label=_("From date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    start_time = forms.TimeField(
        label=_("From time"),
        required=False,
        help_text=_("Empty: from the start of the day."),
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    end_date = forms.DateField(
        label=_("Until date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end_time = forms.TimeField(
        label=_("Until time"),
        required=False,
        help_text=_("Empty: until the end of the day."),
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=200)

    prefix = "off"

    def local_range(self) -> tuple[datetime.datetime, datetime.datetime]:
        """Naive local datetimes (the service puts them in the organisation's zone)."""
        d = self.cleaned_data
        start = datetime.datetime.combine(d["start_date"], d.get("start_time") or datetime.time())
        if d.get("end_time"):
            end = datetime.datetime.combine(d["end_date"], d["end_time"])
        else:
            end = datetime.datetime.combine(
                d["end_date"] + datetime.timedelta(days=1), datetime.time()
            )
        return start, end


# --- booker -------------------------------------------------------------------------------------


class BookerSearchForm(forms.Form):
    type = forms.ModelChoiceField(
        label=_("Appointment type"), queryset=AppointmentType.objects.none(), empty_label=None
    )
    extras = forms.ModelMultipleChoiceField(
        label=_("Extra services in the same visit"),
        queryset=AppointmentType.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    postcode = forms.CharField(
        label=_("Postcode"),
        required=False,
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "postal-code"}),
    )
    address = forms.CharField(label=_("Address"), required=False, max_length=300)
    contact = forms.UUIDField(required=False, widget=forms.HiddenInput)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        types = AppointmentType.objects.filter(organisation=organisation, active=True)
        self.fields["type"].queryset = types
        self.fields["extras"].queryset = types.filter(combinable=True)

    def clean(self):
        data = super().clean()
        main = data.get("type")
        if main is not None:
            data["extras"] = [t for t in data.get("extras") or () if t.pk != main.pk]
        return data


class BookForm(forms.Form):
    """The chosen option plus the customer. Everything is checked again when booking."""

    type = forms.IntegerField(widget=forms.HiddenInput)
    extras = forms.CharField(required=False, widget=forms.HiddenInput)
    staff = forms.IntegerField(widget=forms.HiddenInput)
    start = forms.DateTimeField(widget=forms.HiddenInput)
    postcode = forms.CharField(required=False, max_length=16, widget=forms.HiddenInput)
    address = forms.CharField(required=False, max_length=300, widget=forms.HiddenInput)
    date_from = forms.DateField(required=False, widget=forms.HiddenInput)
    date_to = forms.DateField(required=False, widget=forms.HiddenInput)
    contact = forms.UUIDField(label=_("Customer"), required=False)
    first_name = forms.CharField(label=_("First name"), required=False, max_length=120)
    last_name = forms.CharField(label=_("Last name"), required=False, max_length=120)
    phone = forms.CharField(
        label=_("Phone"),
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )

    def extra_ids(self) -> list[int]:
        raw = self.cleaned_data.get("extras") or ""
        return [int(x) for x in raw.split(",") if x.strip().isdigit()]


# --- settings -----------------------------------------------------------------------------------

LEVEL_CHOICES = [("", _("not needed"))] + [(str(n), str(n)) for n in range(1, 6)]


class AppointmentTypeForm(forms.ModelForm):
    allowed_units = forms.ModelMultipleChoiceField(
        label=_("Allowed units"),
        queryset=OrgUnit.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every unit."),
    )
    allowed_regions = forms.ModelMultipleChoiceField(
        label=_("Allowed regions"),
        queryset=Region.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: everywhere."),
    )

    class Meta:
        model = AppointmentType
        fields = [
            "name",
            "slug",
            "active",
            "mode",
            "duration_minutes",
            "buffer_before",
            "buffer_after",
            "capacity",
            "combinable",
            "min_notice_minutes",
            "horizon_days",
            "cancel_window_hours",
            "reschedule_window_hours",
            "price",
            "prepayment",
            "deposit_amount",
            "late_cancel_keeps_deposit",
            "no_show_fee",
            "sold_in_webshop",
            "slot_step_minutes",
            "weight_earliest",
            "weight_travel",
            "weight_compact",
            "weight_continuity",
            "weight_skill",
            "weight_fairness",
        ]

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        self.fields["no_show_fee"].required = False  # empty: no fee
        self.fields["allowed_units"].queryset = OrgUnit.objects.filter(organisation=organisation)
        self.fields["allowed_regions"].queryset = Region.objects.filter(organisation=organisation)
        self.skills = list(Skill.objects.filter(organisation=organisation).order_by("name"))
        current = {}
        if self.instance.pk:
            current = {r.skill_id: r.min_level for r in self.instance.skill_requirements.all()}
            self.fields["allowed_units"].initial = list(self.instance.allowed_units.all())
            self.fields["allowed_regions"].initial = list(self.instance.allowed_regions.all())
        for skill in self.skills:
            self.fields[f"skill_{skill.pk}"] = forms.TypedChoiceField(
                label=skill.name,
                choices=LEVEL_CHOICES,
                required=False,
                coerce=int,
                empty_value=None,
                initial=current.get(skill.pk, ""),
            )

    def clean_no_show_fee(self):
        value = self.cleaned_data.get("no_show_fee")
        return Decimal(0) if value is None else value

    def _post_clean(self):
        # The service validates (with the organisation); don't run the model's checks twice.
        pass

    def skill_fields(self):
        return [self[f"skill_{skill.pk}"] for skill in self.skills]

    def weight_fields(self):
        return [self[name] for name in self.Meta.fields if name.startswith("weight_")]

    def main_fields(self):
        return [self[name] for name in self.Meta.fields if not name.startswith("weight_")]

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        skills = {s: data.pop(f"skill_{s.pk}") for s in self.skills}
        return {
            **{k: v for k, v in data.items() if k in self.Meta.fields},
            "skills": {s: level for s, level in skills.items() if level},
            "allowed_units": data.get("allowed_units") or [],
            "allowed_regions": data.get("allowed_regions") or [],
        }


class SchedulingPolicyForm(forms.ModelForm):
    class Meta:
        model = SchedulingPolicy
        fields = [
            "weight_earliest",
            "weight_travel",
            "weight_compact",
            "weight_continuity",
            "weight_skill",
            "weight_fairness",
            "slot_step_minutes",
            "travel_source",
            "observe_public_holidays",
            "hold_minutes",
        ]

    def _post_clean(self):
        pass


class DayViewForm(forms.Form):
    date = forms.DateField(
        label=_("Date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    unit = forms.IntegerField(label=_("Unit"), required=False)


__all__ = [
    "AppointmentTypeForm",
    "BookForm",
    "BookerSearchForm",
    "DayViewForm",
    "ExceptionForm",
    "SchedulingPolicyForm",
    "TimeOffForm",
    "WeekHoursForm",
    "add_service_errors",
    "parse_ranges",
]
