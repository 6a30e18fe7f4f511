"""The organisation's channels (org admins): connect WhatsApp, Telegram, SMS … — one form per
kind, built from the channel class's `settings_fields`.

Secrets are never typed here: a secret field takes the *name* of an environment variable (stored
as `<name>_env`), and the page says whether that variable is set on this server — never its
value. Each channel shows its health (settings missing, variables not set, disabled by the
outbox after a permanent error — with "Enable again"), its inbound webhook address with a hint
of what to paste where at the provider, and, for kinds that register their webhook through the
provider's API (Telegram setWebhook, Viber set_webhook, WhatsApp with a WABA id), a "Register
webhook" button that runs `channel_configure_webhook` in the worker and shows the result
(`settings["webhook_registration"]`).
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

import httpx
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from slotwise.core.errors import ValidationError
from slotwise.core.tasks import enqueue_with_transaction
from slotwise.org.selectors import staff_of

from .channels import channels
from .channels.base import Channel, ChannelError
from .inbound import channel_for, inbound_url
from .models import ChannelConfig
from .outbox import channel_enable

logger = logging.getLogger("slotwise.messaging.channel_settings")

#: Created on demand by the feature that uses them (the in-app chat page), never by hand.
ON_DEMAND_KINDS = {"chat"}
#: Kinds that work without any setting (hand-logged phone calls); their settings only add the
#: provider's webhook (Twilio Voice). With every setting empty nothing is "missing".
WORKS_WITHOUT_SETTINGS = {"phone"}
#: Where the channel's settings live, besides the fields: the webhook registration's outcome.
REGISTRATION_KEY = "webhook_registration"
#: Kinds whose `configure_webhook` only does something when this setting is filled.
WEBHOOK_NEEDS = {"whatsapp": "waba_id"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: What to do at the provider with the inbound address, per kind.
HINTS = {
    "console": gettext_lazy(
        "The offline demo channel: nothing to set up anywhere. Signed test messages posted to "
        "this address (manage.py messaging_simulate) arrive as if a customer wrote them."
    ),
    "telegram": gettext_lazy(
        "Press “Register webhook”: Slotwise calls Telegram's setWebhook with this address and "
        "your webhook secret. Nothing needs to be pasted at Telegram."
    ),
    "viber": gettext_lazy(
        "Press “Register webhook”: Slotwise calls Viber's set_webhook with this address. Viber "
        "checks the address at once, so this server must be reachable from the internet over "
        "HTTPS."
    ),
    "whatsapp": gettext_lazy(
        "In the Meta App Dashboard, WhatsApp → Configuration: paste this address as the Callback "
        "URL and the value of your verify-token variable as the Verify token, then subscribe to "
        "the “messages” field. With the WhatsApp Business Account id filled in, “Register "
        "webhook” does this for you."
    ),
    "instagram": gettext_lazy(
        "In the Meta App Dashboard, Webhooks → Instagram: paste this address as the Callback URL "
        "and the value of your verify-token variable as the Verify token, then subscribe to the "
        "“messages” field (and “messaging_seen” for read receipts)."
    ),
    "twilio": gettext_lazy(
        "In the Twilio Console, Phone Numbers → your number → Messaging: set “A message comes in” "
        "to Webhook, HTTP POST, this address. Delivery statuses come back to the same address "
        "on their own."
    ),
    "phone": gettext_lazy(
        "In the Twilio Console, Phone Numbers → your number → Voice: set “Call status changes” "
        "to this address (HTTP POST). Finished calls then appear on the contact's timeline. "
        "Calls logged by hand need none of these settings."
    ),
    "email": gettext_lazy(
        "For e-mail from customers: in Mailgun, Receiving → Create route, forward the mailbox to "
        "this address (with “Store and notify”). Without it e-mail is only sent."
    ),
    "chat": gettext_lazy("The in-app chat needs no set-up: customers write from their portal."),
}


# --- the channel class and its health ---------------------------------------------------------


def channel_class(kind: str) -> type[Channel] | None:
    """The class registered for `kind`, or None where the kind is unknown or its package can't be
    imported on this server."""
    if kind not in channels:
        return None
    try:
        return channels.get_class(kind)
    except ImportError:
        logger.exception("channel kind %s can't be imported", kind)
        return None


def _class_or_404(kind: str) -> type[Channel]:
    cls = channel_class(kind)
    if cls is None:
        raise Http404
    return cls


def addable_kinds() -> list[tuple[str, Any]]:
    """(kind, label) an admin may add, in the registry's order; the console first."""
    rows = []
    for kind in channels.kinds():
        if kind in ON_DEMAND_KINDS:
            continue
        cls = channel_class(kind)
        if cls is not None:
            rows.append((kind, cls.verbose_name or kind))
    rows.sort(key=lambda row: (row[0] != "console", str(row[1]).lower()))
    return rows


def can_register_webhook(config: ChannelConfig, cls: type[Channel] | None = None) -> bool:
    """True where this channel tells its provider the webhook address itself."""
    cls = cls or channel_class(config.kind)
    if cls is None or cls.configure_webhook is Channel.configure_webhook:
        return False
    needs = WEBHOOK_NEEDS.get(config.kind)
    return not needs or bool(str((config.settings or {}).get(needs, "")).strip())


def _env_status(name: str) -> dict:
    return {"env": name, "is_set": bool(name and os.environ.get(name))}


def channel_health(config: ChannelConfig) -> dict:
    """What the page shows about one channel: its label, its secrets' variables (name and
    whether set), the settings still missing, why it was disabled, its webhook registration."""
    cls = channel_class(config.kind)
    settings = config.settings or {}
    health: dict[str, Any] = {
        "config": config,
        "label": (cls.verbose_name if cls else "") or config.kind,
        "available": cls is not None,
        "secrets": [],
        "missing": [],
        "disabled": config.disabled_at is not None,
        "can_register": False,
        "registration": _registration(settings),
        "inbound_url": inbound_url(config),
        "hint": HINTS.get(config.kind, ""),
    }
    if cls is None:
        return health
    fields = {f.name: f for f in cls.settings_fields}
    for f in cls.settings_fields:
        if f.secret:
            env = str(settings.get(f"{f.name}_env", "") or "")
            health["secrets"].append({"label": f.label, "required": f.required, **_env_status(env)})
    try:
        missing = channel_for(config).missing_settings()
    except Exception as exc:  # a setting the class can't even read: say so, don't fail the page
        logger.warning("channel %s: settings unreadable: %s", config.pk, exc)
        health["missing"] = [_("The settings can't be read: %(error)s") % {"error": exc}]
        return health
    if config.kind in WORKS_WITHOUT_SETTINGS and not any(
        str(settings.get(_field_key(f), "") or "").strip() for f in cls.settings_fields
    ):
        missing = []
    for name in missing:
        f = fields.get(name)
        label = f.label if f else name
        if f is not None and f.secret:
            env = settings.get(f"{name}_env", "")
            if env:
                text = _("%(label)s: the environment variable %(env)s is not set.") % {
                    "label": label,
                    "env": env,
                }
            else:
                text = _("%(label)s: no environment variable named.") % {"label": label}
        else:
            text = _("%(label)s is not filled in.") % {"label": label}
        health["missing"].append(text)
    health["can_register"] = can_register_webhook(config, cls)
    return health


def _registration(settings: dict) -> dict | None:
    value = settings.get(REGISTRATION_KEY)
    if not isinstance(value, dict):
        return None
    shown = dict(value)
    for key in ("requested_at", "finished_at"):
        if shown.get(key):
            shown[key] = parse_datetime(str(shown[key]))
    return shown


# --- the form ----------------------------------------------------------------------------------


def _field_key(setting) -> str:
    """The settings key (and form field name without `s_`) of one SettingField."""
    return f"{setting.name}_env" if setting.secret else setting.name


class ChannelConfigForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=80)
    enabled = forms.BooleanField(label=gettext_lazy("Enabled"), required=False)
    rate_per_second = forms.IntegerField(
        label=gettext_lazy("Messages per second"),
        min_value=0,
        max_value=10000,
        initial=0,
        help_text=gettext_lazy("The provider's sending limit; 0 for no limit."),
    )
    position = forms.IntegerField(
        label=gettext_lazy("Position"),
        min_value=0,
        max_value=32767,
        initial=0,
        help_text=gettext_lazy(
            "Where several channels reach the same messenger, the lowest number is used first."
        ),
    )
    extra = forms.CharField(
        label=gettext_lazy("More settings (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            'For example {"templates": {"booking_confirmed": "booking_ok"}}. Never put secrets '
            "here."
        ),
    )

    def __init__(self, *args, channel_class: type[Channel], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.channel_class = channel_class
        self.setting_fields = list(channel_class.settings_fields)
        self.secret_fields: list[dict] = []
        for setting in self.setting_fields:
            key = _field_key(setting)
            if setting.secret:
                label = _("Environment variable holding: %(label)s") % {"label": setting.label}
                help_text = setting.help_text
                field = forms.CharField(
                    label=label,
                    max_length=100,
                    required=False,
                    help_text=help_text,
                    widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
                )
            else:
                field = forms.CharField(
                    label=setting.label,
                    max_length=500,
                    required=False,
                    help_text=setting.help_text,
                )
            if not setting.required:
                field.label = format_lazy("{} ({})", field.label, gettext_lazy("optional"))
            self.fields[f"s_{key}"] = field
        self.order_fields(["name", "enabled", *(f"s_{_field_key(s)}" for s in self.setting_fields)])
        # The secret variables' state as the form was given (bound: as typed).
        for setting in self.setting_fields:
            if setting.secret:
                name = str(self[f"s_{_field_key(setting)}"].value() or "").strip()
                self.secret_fields.append(
                    {
                        "field": f"s_{_field_key(setting)}",
                        "label": setting.label,
                        **_env_status(name),
                    }
                )

    def field_rows(self) -> list[tuple[forms.BoundField, dict | None]]:
        """Every field with, for a secret's variable, whether it is set on this server."""
        secrets = {row["field"]: row for row in self.secret_fields}
        return [(self[name], secrets.get(name)) for name in self.fields]

    def clean(self):
        cleaned = super().clean()
        for setting in self.setting_fields:
            if not setting.secret:
                continue
            field = f"s_{_field_key(setting)}"
            value = (cleaned.get(field) or "").strip()
            if value and not ENV_NAME.match(value):
                self.add_error(
                    field,
                    _(
                        "Enter the NAME of an environment variable (letters, digits and _, "
                        "e.g. TELEGRAM_BOT_TOKEN), not the secret itself."
                    ),
                )
        return cleaned

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

    def values(self) -> dict[str, str]:
        return {
            _field_key(s): (self.cleaned_data.get(f"s_{_field_key(s)}") or "").strip()
            for s in self.setting_fields
        }


def form_initial(config: ChannelConfig, cls: type[Channel]) -> dict:
    settings = dict(config.settings or {})
    managed = {_field_key(s) for s in cls.settings_fields}
    extra = {k: v for k, v in settings.items() if k not in managed and k != REGISTRATION_KEY}
    initial = {
        "name": config.name,
        "enabled": config.enabled,
        "rate_per_second": config.rate_per_second,
        "position": config.position,
        "extra": json.dumps(extra, ensure_ascii=False) if extra else "",
    }
    for s in cls.settings_fields:
        value = settings.get(_field_key(s), "")
        initial[f"s_{_field_key(s)}"] = "" if value is None else str(value)
    return initial


# --- services ---------------------------------------------------------------------------------


def channel_config_save(
    *,
    organisation,
    kind: str,
    config: ChannelConfig | None = None,
    name: str,
    enabled: bool,
    rate_per_second: int,
    position: int,
    values: dict[str, str],
    extra: dict | None = None,
    actor=None,
) -> ChannelConfig:
    """Create (`config` None) or update one channel. `values`: the class's settings keyed as
    stored (`<name>_env` for secrets). An enabled channel needs every required setting, and every
    variable it names must be set on this server; errors are per form field (`s_<key>`, `name`,
    `extra`) and nothing is written. A change of the settings forgets an earlier webhook
    registration (it was made with the old ones)."""
    cls = channel_class(kind)
    if cls is None:
        raise ValidationError({"kind": _("This kind of channel is not available.")})
    name = (name or "").strip()
    extra = dict(extra or {})
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Enter a name.")]
    managed = {_field_key(s) for s in cls.settings_fields}
    clashes = sorted((set(extra) & managed) | ({REGISTRATION_KEY} & set(extra)))
    if clashes:
        errors["extra"] = [
            _("%(keys)s can't be set here: use the field for it above.")
            % {"keys": ", ".join(clashes)}
        ]
    unconfigured_ok = kind in WORKS_WITHOUT_SETTINGS and not any(
        (values.get(_field_key(s)) or "").strip() for s in cls.settings_fields
    )
    for setting in cls.settings_fields:
        key = _field_key(setting)
        value = (values.get(key) or "").strip()
        if setting.secret and value and not ENV_NAME.match(value):
            errors.setdefault(f"s_{key}", []).append(
                _("Enter the name of an environment variable.")
            )
            continue
        if not enabled or unconfigured_ok:
            continue
        if setting.required and not value:
            errors.setdefault(f"s_{key}", []).append(_("Required while the channel is enabled."))
        elif setting.secret and value and not os.environ.get(value):
            errors.setdefault(f"s_{key}", []).append(
                _("The environment variable %(env)s is not set on this server.") % {"env": value}
            )
    if errors:
        raise ValidationError(errors)
    fields = {key: (values.get(key) or "").strip() for key in managed}
    fields = {key: value for key, value in fields.items() if value}
    with transaction.atomic():
        if config is None:
            config = ChannelConfig(organisation=organisation, kind=kind)
            old: dict = {}
        else:
            config = ChannelConfig.objects.select_for_update().get(
                pk=config.pk, organisation=organisation
            )
            old = dict(config.settings or {})
        taken = ChannelConfig.objects.filter(organisation=organisation, kind=kind, name=name)
        if config.pk:
            taken = taken.exclude(pk=config.pk)
        if taken.exists():
            raise ValidationError(
                {"name": _("This organisation already has a channel of this kind with this name.")}
            )
        settings = {**extra, **fields}
        old_fields = {k: v for k, v in old.items() if k in managed and v}
        if REGISTRATION_KEY in old and old_fields == fields:
            settings[REGISTRATION_KEY] = old[REGISTRATION_KEY]
        config.name = name[:80]
        config.enabled = enabled
        config.rate_per_second = rate_per_second
        config.position = position
        config.settings = settings
        config.save()
    logger.info("channel %s (%s) saved by user %s", config.pk, kind, getattr(actor, "pk", None))
    return config


def channel_webhook_request(*, config: ChannelConfig) -> None:
    """Mark the registration as pending and queue `channel_configure_webhook` (the worker calls
    the provider; a request never does)."""
    from .tasks import channel_configure_webhook

    with transaction.atomic():
        _record_registration(
            config.pk,
            {
                "status": "pending",
                "url": inbound_url(config),
                "requested_at": timezone.now().isoformat(),
            },
        )
        enqueue_with_transaction(channel_configure_webhook, config.pk)


def channel_webhook_register(*, config_id: int) -> str:
    """Tell the provider this channel's webhook address (`configure_webhook`) and record the
    outcome on the channel. Returns "registered", "failed" or "missing"."""
    config = ChannelConfig.objects.filter(pk=config_id).first()
    if config is None:
        return "missing"
    url = inbound_url(config)
    previous = (config.settings or {}).get(REGISTRATION_KEY) or {}
    outcome: dict[str, Any] = {
        "url": url,
        "requested_at": previous.get("requested_at") or timezone.now().isoformat(),
    }
    try:
        channel_for(config).configure_webhook(url)
    except ChannelError as exc:
        outcome.update(status="failed", error=str(exc)[:1000])
    except (httpx.HTTPError, OSError) as exc:
        logger.warning("webhook of channel %s: provider unreachable: %s", config.pk, exc)
        outcome.update(status="failed", error=_("The provider could not be reached."))
    else:
        outcome.update(status="registered")
    outcome["finished_at"] = timezone.now().isoformat()
    with transaction.atomic():
        _record_registration(config.pk, outcome)
    return outcome["status"]


def _record_registration(config_id: int, value: dict) -> None:
    """Write the registration's state into the channel's settings without losing a concurrent
    change of the other settings (row lock)."""
    config = ChannelConfig.objects.select_for_update().filter(pk=config_id).first()
    if config is None:
        return
    config.settings = {**(config.settings or {}), REGISTRATION_KEY: value}
    config.save(update_fields=["settings", "updated_at"])


# --- views ------------------------------------------------------------------------------------


def _admin_staff(request):
    if not request.user.has_perm("messaging.manage_channels"):
        raise PermissionDenied
    staff = staff_of(request.user)
    if staff is None:
        raise PermissionDenied
    return staff


def _own_config(staff, pk: int) -> ChannelConfig:
    return get_object_or_404(ChannelConfig, pk=pk, organisation_id=staff.organisation_id)


@login_required
@require_GET
def channel_list(request):
    staff = _admin_staff(request)
    configs = ChannelConfig.objects.filter(organisation_id=staff.organisation_id).order_by(
        "position", "kind", "name", "id"
    )
    return render(
        request,
        "messaging/channels/list.html",
        {"rows": [channel_health(c) for c in configs], "organisation": staff.organisation},
    )


@login_required
@require_GET
def channel_new(request):
    staff = _admin_staff(request)
    kinds = [
        {"kind": kind, "label": label, "hint": HINTS.get(kind, "")}
        for kind, label in addable_kinds()
    ]
    return render(
        request,
        "messaging/channels/new.html",
        {"kinds": kinds, "organisation": staff.organisation},
    )


def _save_from_form(request, staff, form, kind: str, config: ChannelConfig | None):
    try:
        return channel_config_save(
            organisation=staff.organisation,
            kind=kind,
            config=config,
            name=form.cleaned_data["name"],
            enabled=form.cleaned_data["enabled"],
            rate_per_second=form.cleaned_data["rate_per_second"],
            position=form.cleaned_data["position"],
            values=form.values(),
            extra=form.cleaned_data["extra"],
            actor=request.user,
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None


@login_required
@require_http_methods(["GET", "POST"])
def channel_create(request, kind: str):
    staff = _admin_staff(request)
    if kind in ON_DEMAND_KINDS:
        raise Http404
    cls = _class_or_404(kind)
    initial = {"name": str(cls.verbose_name or kind), "enabled": True, "position": 0}
    form = ChannelConfigForm(request.POST or None, channel_class=cls, initial=initial)
    if request.method == "POST" and form.is_valid():
        config = _save_from_form(request, staff, form, kind, None)
        if config is not None:
            messages.success(
                request,
                _("Channel %(name)s added. Give the provider its webhook address below.")
                % {"name": config.name},
            )
            return redirect("channel_settings:edit", pk=config.pk)
    return render(
        request,
        "messaging/channels/edit.html",
        {
            "form": form,
            "kind": kind,
            "label": cls.verbose_name or kind,
            "health": None,
            "hint": HINTS.get(kind, ""),
            "organisation": staff.organisation,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def channel_edit(request, pk: int):
    staff = _admin_staff(request)
    config = _own_config(staff, pk)
    cls = _class_or_404(config.kind)
    form = ChannelConfigForm(
        request.POST or None, channel_class=cls, initial=form_initial(config, cls)
    )
    if request.method == "POST" and form.is_valid():
        saved = _save_from_form(request, staff, form, config.kind, config)
        if saved is not None:
            messages.success(request, _("Channel %(name)s saved.") % {"name": saved.name})
            return redirect("channel_settings:edit", pk=saved.pk)
    return render(
        request,
        "messaging/channels/edit.html",
        {
            "form": form,
            "kind": config.kind,
            "label": cls.verbose_name or config.kind,
            "health": channel_health(config),
            "hint": HINTS.get(config.kind, ""),
            "organisation": staff.organisation,
        },
    )


@login_required
@require_POST
def channel_enable_again(request, pk: int):
    staff = _admin_staff(request)
    config = _own_config(staff, pk)
    channel_enable(config=config)
    logger.info("channel %s enabled again by user %s", config.pk, request.user.pk)
    messages.success(
        request,
        _("Channel %(name)s is enabled again: messages go out through it.") % {"name": config.name},
    )
    if request.POST.get("next") == "list":
        return redirect("channel_settings:list")
    return redirect("channel_settings:edit", pk=config.pk)


@login_required
@require_POST
def channel_register_webhook(request, pk: int):
    staff = _admin_staff(request)
    config = _own_config(staff, pk)
    if not can_register_webhook(config):
        raise Http404
    channel_webhook_request(config=config)
    messages.info(
        request,
        _("Registering the webhook: the worker tells the provider in a moment."),
    )
    return redirect("channel_settings:edit", pk=config.pk)


@login_required
@require_GET
def channel_webhook_status(request, pk: int):
    """The registration's state (the edit page polls it while the worker is busy)."""
    staff = _admin_staff(request)
    config = _own_config(staff, pk)
    return render(
        request, "messaging/channels/_webhook_status.html", {"health": channel_health(config)}
    )
