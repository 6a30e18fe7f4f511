"""`{% offline_config %}`: what the technician app's offline script needs to know, as a dict for
`json_script` — whose queue it is, where to send it, the technician's actions of the state
machine (to show the status a queued change leads to and the buttons that follow) and the
translated texts it shows."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from .. import sync, transitions
from ..models import Status

register = template.Library()


@register.simple_tag(takes_context=True)
def offline_config(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    order = context.get("order")
    public_id = getattr(order, "public_id", None)
    return {
        "user": getattr(user, "pk", None),
        "syncUrl": reverse("workorders:tech_sync"),
        "todayUrl": reverse("workorders:tech_today"),
        "csrfCookie": settings.CSRF_COOKIE_NAME,
        "order": str(public_id) if public_id else None,
        "orderStatus": getattr(order, "status", None) if public_id else None,
        "orderVersion": getattr(order, "version", None) if public_id else None,
        "actions": {
            action: {
                "sources": sorted(transitions.TRANSITIONS[action].sources),
                "target": transitions.TRANSITIONS[action].target,
                "label": str(transitions.TRANSITIONS[action].label),
                "needsReason": action == "decline",
            }
            for action in sync.SYNC_ACTIONS
        },
        "statuses": {status.value: str(status.label) for status in Status},
        "text": {
            "offline": _(
                "You are offline. Status changes are kept on this phone and sent when it is "
                "back online."
            ),
            "queued": _("Waiting to be sent"),
            "sending": _("Sending…"),
            "applied": _("Sent: the order is now “%(status)s”."),
            "conflict": _("The office changed this order: it is now “%(status)s”."),
            "rejected": _("Not applied: %(message)s"),
            "notFound": _("Not applied: this order is no longer yours."),
            "loginAgain": _("Log in again to send your changes."),
            "failed": _("Could not send the changes: %(message)s"),
            "queueTitle": _("Changes on this phone"),
            "resultsTitle": _("Sent changes"),
            "dismiss": _("OK"),
            "willBe": _("after sending: %(status)s"),
            "order": _("Order"),
        },
    }
