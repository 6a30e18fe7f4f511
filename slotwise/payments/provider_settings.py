"""Payment methods of an organisation (org admins): enable a provider, name it for customers,
fill its settings. Secrets are not typed here: the form takes the *names* of the environment
variables that hold them (`…_env`), and says when such a variable is not set on this server."""

from __future__ import annotations

import json

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from slotwise.core.errors import ValidationError
from slotwise.org.selectors import staff_of

from .models import ProviderConfig
from .providers import providers


def _provider_class(kind: str):
    if kind not in providers:
        raise Http404
    return providers.get_class(kind)


class ProviderConfigForm(forms.Form):
    enabled = forms.BooleanField(label=gettext_lazy("Enabled"), required=False)
    name = forms.CharField(
        label=gettext_lazy("Name shown to customers"), max_length=80, required=False
    )
    position = forms.IntegerField(label=gettext_lazy("Position"), min_value=0, initial=0)
    extra = forms.CharField(
        label=gettext_lazy("More settings (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy('For example {"api_base": "https://…"}. Never put secrets here.'),
    )

    def __init__(self, *args, kind: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.required_keys = tuple(_provider_class(kind).required_settings)
        for key in self.required_keys:
            label = (
                _("Environment variable holding %(name)s") % {"name": key.removesuffix("_env")}
                if key.endswith("_env")
                else key.replace("_", " ").capitalize()
            )
            self.fields[f"s_{key}"] = forms.CharField(label=label, max_length=200, required=False)

    def clean_extra(self) -> dict:
        raw = (self.cleaned_data.get("extra") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            raise forms.ValidationError(_('Enter valid JSON, e.g. {"key": "value"}.')) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(_('Enter a JSON object, e.g. {"key": "value"}.'))
        return value

    def settings_value(self) -> dict:
        data = dict(self.cleaned_data["extra"])
        for key in self.required_keys:
            value = (self.cleaned_data.get(f"s_{key}") or "").strip()
            if value:
                data[key] = value
        return data


def provider_config_save(
    *, organisation, kind: str, enabled: bool, name: str, position: int, settings: dict, actor=None
) -> ProviderConfig:
    """Create or update one provider's configuration. An enabled provider must have every
    required setting, and the environment variables it names must be set on this server."""
    cls = _provider_class(kind)
    if enabled:
        errors = cls(settings, organisation_id=organisation.pk).check_settings()
        if errors:
            raise ValidationError({f"s_{key}": message for key, message in errors.items()})
    with transaction.atomic():
        config, _created = ProviderConfig.objects.select_for_update().get_or_create(
            organisation=organisation, provider=kind
        )
        config.enabled = enabled
        config.name = name.strip()[:80]
        config.position = position
        config.settings = settings
        config._change_reason = f"settings by {getattr(actor, 'pk', None)}"
        config.save()
    return config


def _admin_staff(request):
    if not request.user.has_perm("payments.manage_providers"):
        raise PermissionDenied
    staff = staff_of(request.user)
    if staff is None:
        raise PermissionDenied
    return staff


@login_required
def provider_list(request):
    staff = _admin_staff(request)
    configs = {
        c.provider: c for c in ProviderConfig.objects.filter(organisation=staff.organisation)
    }
    rows = [
        {
            "kind": kind,
            "label": providers.get_class(kind).verbose_name,
            "config": configs.get(kind),
        }
        for kind in providers.kinds()
        if not providers.get_class(kind).manual
    ]
    return render(
        request,
        "payments/provider_settings.html",
        {"rows": rows, "organisation": staff.organisation},
    )


@login_required
@require_http_methods(["GET", "POST"])
def provider_edit(request, kind: str):
    staff = _admin_staff(request)
    cls = _provider_class(kind)
    if cls.manual:
        raise Http404
    config = ProviderConfig.objects.filter(organisation=staff.organisation, provider=kind).first()
    initial = {"enabled": True, "position": 0}
    if config is not None:
        extra = {k: v for k, v in config.settings.items() if k not in cls.required_settings}
        initial = {
            "enabled": config.enabled,
            "name": config.name,
            "position": config.position,
            "extra": json.dumps(extra) if extra else "",
            **{f"s_{k}": config.settings.get(k, "") for k in cls.required_settings},
        }
    form = ProviderConfigForm(request.POST or None, kind=kind, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            provider_config_save(
                organisation=staff.organisation,
                kind=kind,
                enabled=form.cleaned_data["enabled"],
                name=form.cleaned_data["name"],
                position=form.cleaned_data["position"],
                settings=form.settings_value(),
                actor=request.user,
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, messages)
        else:
            return redirect("payments:providers")
    return render(
        request,
        "payments/provider_edit.html",
        {"form": form, "kind": kind, "label": cls.verbose_name, "organisation": staff.organisation},
    )
