"""The customer chooses how to be notified (S3.13): a page in the portal, a form and a service.

The choices are the media the organisation can reach people on (its enabled channels, plus SMS
and e-mail, which always work through the system sender); a choice the contact has no address
for is a field error that says what to do (add a phone number, write to the bot once).
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from slotwise.customers.models import Channel as PreferredChannel
from slotwise.customers.selectors import contact_for_customer

from .models import ChannelConfig
from .notify import NOT_FOR_NOTIFICATIONS


def choices_for(contact) -> list[tuple[str, str]]:
    """The preferred-channel choices this contact's organisation offers, in the model's order."""
    media = {"phone", "email"}
    for config in ChannelConfig.objects.filter(
        organisation_id=contact.organisation_id, enabled=True, disabled_at__isnull=True
    ).exclude(kind__in=NOT_FOR_NOTIFICATIONS):
        media.add(config.medium)
    offered = []
    for value, label in PreferredChannel.choices:
        if ("phone" if value == "sms" else value) in media:
            offered.append((value, label))
    return offered


def _has_address(contact, choice: str) -> bool:
    if choice in ("sms", "whatsapp"):
        return bool(contact.phone)
    if choice == "email":
        return bool(contact.email)
    return contact.identities.filter(kind=choice).exists()


@transaction.atomic
def preferred_channel_set(*, contact, channel: str, actor=None):
    """Set the contact's preferred notification channel; a channel the organisation doesn't
    offer, or one the contact can't be reached on yet, is a field error (nothing changes)."""
    from slotwise.customers.services import timeline_add

    if channel not in dict(choices_for(contact)):
        raise ValidationError({"channel": [_("Choose one of the offered channels.")]})
    if not _has_address(contact, channel):
        if channel in ("sms", "whatsapp"):
            message = _("Add your phone number to your details first.")
        elif channel == "email":
            message = _("Add your e-mail address to your details first.")
        else:
            message = _(
                "Send us one message on %(channel)s first, so that we know where to reach you."
            ) % {"channel": PreferredChannel(channel).label}
        raise ValidationError({"channel": [message]})
    if contact.preferred_channel != channel:
        old = contact.preferred_channel
        contact.preferred_channel = channel
        contact.save(update_fields=["preferred_channel", "updated_at"])
        timeline_add(
            contact=contact,
            kind="contact.preferred_channel",
            summary=_("Notifications now go by %(channel)s")
            % {"channel": PreferredChannel(channel).label},
            data={"from": old, "to": channel},
            actor=actor,
        )
    return contact


class PreferenceForm(forms.Form):
    channel = forms.ChoiceField(
        label=gettext_lazy("Notify me by"), widget=forms.RadioSelect, choices=()
    )

    def __init__(self, *args, contact, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = choices_for(contact)
        self.fields["channel"].initial = contact.preferred_channel


@login_required
def preferences(request):
    contact = contact_for_customer(request.user)
    if contact is None:
        raise Http404
    form = PreferenceForm(request.POST or None, contact=contact)
    saved = False
    if request.method == "POST" and form.is_valid():
        try:
            preferred_channel_set(
                contact=contact, channel=form.cleaned_data["channel"], actor=request.user
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            return redirect(f"{request.path}?saved=1")
    saved = request.GET.get("saved") == "1"
    return render(
        request,
        "messaging/preferences.html",
        {"form": form, "contact": contact, "saved": saved},
    )
