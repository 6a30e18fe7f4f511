"""Bot flows are edited here, without IT (S1): a flow with its steps inline, in order, one box
per language for each text. Applications and runs are read-only (the bot and the manager's
pages write them)."""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from slotwise.core.admin_scoping import (
    OrgScopedAdmin,
    OrgScopedInlineMixin,
    ReadOnlyOrgScopedAdmin,
)

from .models import (
    ASK_KINDS,
    Application,
    ApplicationDocument,
    ApplicationStatusChange,
    Flow,
    FlowRun,
    FlowStep,
    StepKind,
)

LANGUAGE_NAMES = dict(settings.LANGUAGES)
MULTI = ("text", "label", "error_text")


def _language_fields() -> dict:
    fields: dict = {}
    for code, _name in settings.LANGUAGES:
        fields[f"text_{code}"] = forms.CharField(
            label=_("Text"),
            required=False,
            widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
            help_text=_("Placeholders: {first_name}, {phone}, {company}, {offer_link} …"),
        )
        fields[f"label_{code}"] = forms.CharField(label=_("Label"), required=False)
        fields[f"choices_{code}"] = forms.CharField(
            label=_("Choices (one per line)"),
            required=False,
            widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        )
        fields[f"error_text_{code}"] = forms.CharField(
            label=_("Text when the answer is not valid"),
            required=False,
            widget=forms.Textarea(attrs={"rows": 2, "cols": 70}),
        )
    fields["choice_values"] = forms.CharField(
        label=_("Choice values"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        help_text=_(
            "One per line, in the order of the choices: the value stored, optionally "
            "“> step name” to go on there (e.g. “own > vehicle_registration”)."
        ),
    )
    return fields


class _StepFormBase(forms.ModelForm):
    class Meta:
        model = FlowStep
        fields = [
            "position",
            "key",
            "kind",
            "field",
            "validation",
            "pattern",
            "status",
            "next_step",
            "skip_if_known",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        step = self.instance
        for code, _name in settings.LANGUAGES:
            for name in MULTI:
                self.initial.setdefault(f"{name}_{code}", (getattr(step, name) or {}).get(code, ""))
            self.initial.setdefault(
                f"choices_{code}",
                "\n".join(str((c.get("labels") or {}).get(code, "")) for c in step.choices or []),
            )
        self.initial.setdefault(
            "choice_values",
            "\n".join(
                f"{c.get('value', '')}" + (f" > {c['next']}" if c.get("next") else "")
                for c in step.choices or []
            ),
        )

    def clean(self):
        data = super().clean()
        errors: dict[str, list[str]] = {}
        for name in MULTI:
            data[name] = {
                code: data.get(f"{name}_{code}", "").strip()
                for code, _n in settings.LANGUAGES
                if data.get(f"{name}_{code}", "").strip()
            }
        values = [v.strip() for v in (data.get("choice_values") or "").splitlines() if v.strip()]
        choices = []
        for index, line in enumerate(values):
            value, _sep, nxt = line.partition(">")
            labels = {}
            for code, _n in settings.LANGUAGES:
                lines = (data.get(f"choices_{code}") or "").splitlines()
                if index < len(lines) and lines[index].strip():
                    labels[code] = lines[index].strip()
            choices.append({"value": value.strip(), "next": nxt.strip(), "labels": labels})
        data["choices"] = choices
        kind = data.get("kind")
        if kind == StepKind.ASK_CHOICE and not choices:
            errors["choice_values"] = [gettext("A choice step needs its choices.")]
        if kind in ASK_KINDS and not data.get("field"):
            errors["field"] = [gettext("Say under which name the answer is stored.")]
        if kind == StepKind.SET_STATUS and not data.get("status"):
            errors["status"] = [gettext("Choose the status to set.")]
        if kind in (StepKind.SEND_MESSAGE, StepKind.FINAL_MESSAGE) and not data["text"]:
            errors[f"text_{settings.LANGUAGE_CODE}"] = [gettext("Write the message.")]
        if errors:
            raise ValidationError(errors)
        return data

    def save(self, commit=True):
        step = super().save(commit=False)
        for name in MULTI:
            setattr(step, name, self.cleaned_data.get(name) or {})
        step.choices = self.cleaned_data.get("choices") or []
        if commit:
            step.save()
        return step


StepForm = type("StepForm", (_StepFormBase,), _language_fields())


class StepFormSet(forms.BaseInlineFormSet):
    """Step names are unique and every "next step" names a step of this flow."""

    def clean(self):
        super().clean()
        keys, nexts = set(), []
        for form in self.forms:
            if not getattr(form, "cleaned_data", None) or form.cleaned_data.get("DELETE"):
                continue
            key = form.cleaned_data.get("key")
            if key in keys:
                raise ValidationError(gettext("Two steps are named “%(key)s”.") % {"key": key})
            keys.add(key)
            if form.cleaned_data.get("next_step"):
                nexts.append(form.cleaned_data["next_step"])
            nexts += [c["next"] for c in form.cleaned_data.get("choices", []) if c.get("next")]
        unknown = sorted(set(nexts) - keys)
        if unknown:
            raise ValidationError(
                gettext("No step is named %(names)s.") % {"names": ", ".join(unknown)}
            )


class FlowStepInline(OrgScopedInlineMixin, admin.StackedInline):
    model = FlowStep
    form = StepForm
    formset = StepFormSet
    extra = 0
    ordering = ["position", "id"]

    def get_fieldsets(self, request, obj=None):
        sets = [
            (
                None,
                {
                    "fields": [
                        ("position", "key", "kind"),
                        ("field", "validation", "pattern"),
                        ("status", "next_step", "skip_if_known"),
                        "choice_values",
                    ]
                },
            )
        ]
        for code, name in settings.LANGUAGES:
            sets.append(
                (
                    name,
                    {
                        "fields": [
                            f"text_{code}",
                            (f"label_{code}", f"choices_{code}"),
                            f"error_text_{code}",
                        ]
                    },
                )
            )
        return sets


@admin.register(Flow)
class FlowAdmin(OrgScopedAdmin):
    list_display = ["name", "trigger", "channel", "active", "offer_version"]
    list_filter = ["active", "trigger"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [FlowStepInline]


class StatusChangeInline(admin.TabularInline):
    model = ApplicationStatusChange
    extra = 0
    can_delete = False
    fields = ["at", "from_status", "to_status", "actor", "by_bot", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class DocumentInline(admin.TabularInline):
    model = ApplicationDocument
    extra = 0
    can_delete = False
    fields = ["kind", "attachment", "replaced", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Application)
class ApplicationAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ["contact", "status", "source", "manager", "created_at", "manager_actions"]
    list_filter = ["status", "source"]
    search_fields = ["contact__first_name", "contact__last_name", "contact__phone"]
    inlines = [StatusChangeInline, DocumentInline]

    def has_view_permission(self, request, obj=None):
        return self._may_use(request)


@admin.register(FlowRun)
class FlowRunAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ["flow", "conversation", "application", "step", "state", "updated_at"]
    list_filter = ["state"]
    readonly_fields = ["answers_pretty"]

    @admin.display(description=_("answers"))
    def answers_pretty(self, obj):
        return json.dumps(obj.answers, ensure_ascii=False, indent=2)
