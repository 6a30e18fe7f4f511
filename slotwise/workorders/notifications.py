"""Who hears about what happens to an order, written to the outbox in the service's transaction
(ARCHITECTURE rule 3: a rolled-back change sends nothing).

- The **technician** gets a message from the office in their "Chat with the office"
  conversation (the in-app chat, live on their phone; S2.11), and an e-mail when their account
  has an address: assigned, unassigned, extras decided, completion sent back, order confirmed,
  a manager's comment.
- The **managers** of the order's unit (and of the units above it) get an e-mail when something
  waits for them: the technician declined, extras need approval, the order is completed; and a
  technician's comment. The dispatch board and the approvals list show the same live.

Texts are rendered in the organisation's language and time zone.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

logger = logging.getLogger("slotwise.workorders.notifications")


def _when(order) -> str:
    if order.scheduled_start is None:
        return ""
    zone = ZoneInfo(order.organisation.time_zone)
    start = timezone.localtime(order.scheduled_start, zone)
    return f"{formats.date_format(start, 'DATE_FORMAT')} {formats.time_format(start, 'H:i')}"


def _url(name: str, order) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, kwargs={"public_id": order.public_id})


def _to_technician(technician, order, text: str, subject: str) -> None:
    from slotwise.customers.services import contact_for_staff
    from slotwise.messaging.chat import chat_available, chat_conversation
    from slotwise.messaging.outbox import message_queue
    from slotwise.messaging.services import email_queue

    body = f"{text}\n{_url('workorders:tech_order', order)}"
    contact = contact_for_staff(staff=technician)
    conversation = chat_conversation(contact=contact)
    if conversation is not None and chat_available(conversation.channel):
        message_queue(conversation=conversation, body=body, purpose="workorder")
    email = technician.user.email
    if email:
        email_queue(
            to=email,
            subject=subject,
            body=body,
            purpose="workorder",
            organisation=order.organisation,
        )


def _managers(order):
    from slotwise.org.models import Staff, StaffRole
    from slotwise.org.roles import MANAGING_ROLES, Role

    unit_path = order.unit.path if order.unit_id else ""
    managers = (
        Staff.objects.filter(
            organisation_id=order.organisation_id,
            roles__role__in=list(MANAGING_ROLES),
            active_to__isnull=True,
        )
        .select_related("user", "unit")
        .distinct()
    )
    admin_ids = set(
        StaffRole.objects.filter(
            staff__organisation_id=order.organisation_id, role=Role.ORG_ADMIN
        ).values_list("staff_id", flat=True)
    )
    return [m for m in managers if m.pk in admin_ids or unit_path.startswith(m.unit.path)]


def _to_managers(order, text: str, subject: str) -> None:
    from slotwise.messaging.services import email_queue

    body = f"{text}\n{_url('workorders:order', order)}"
    for manager in _managers(order):
        if manager.user.email:
            email_queue(
                to=manager.user.email,
                subject=subject,
                body=body,
                purpose="workorder",
                organisation=order.organisation,
            )


def _in_org_language(order):
    return translation.override(order.organisation.default_language)


def _subject(order) -> str:
    return _("Order #%(number)s: %(title)s") % {"number": order.number, "title": order.title}


def technician_assigned(*, order) -> None:
    with _in_org_language(order):
        text = _("New order for you on %(when)s: %(title)s, %(address)s.") % {
            "when": _when(order),
            "title": order.title,
            "address": order.location or "",
        }
        _to_technician(order.technician, order, text, _subject(order))


def technician_unassigned(*, order, technician) -> None:
    if technician is None:
        return
    with _in_org_language(order):
        text = _("Order #%(number)s is no longer yours (%(status)s).") % {
            "number": order.number,
            "status": order.get_status_display(),
        }
        _to_technician(technician, order, text, _subject(order))


def technician_extras_decided(*, order, request) -> None:
    with _in_org_language(order):
        if request.state == request.State.APPROVED:
            text = _("The new total %(total)s %(currency)s of order #%(number)s is approved.")
        else:
            text = _(
                "The new total of order #%(number)s is rejected; the total stays %(total)s %(currency)s."
            )
        text = text % {"total": order.total, "currency": order.currency, "number": order.number}
        if request.decision_note:
            text += "\n" + request.decision_note
        _to_technician(order.technician, order, text, _subject(order))


def technician_order_returned(*, order, reason: str) -> None:
    with _in_org_language(order):
        text = _("Order #%(number)s was sent back to you: %(reason)s") % {
            "number": order.number,
            "reason": reason,
        }
        _to_technician(order.technician, order, text, _subject(order))


def technician_order_confirmed(*, order) -> None:
    with _in_org_language(order):
        text = _("Order #%(number)s is confirmed and closed. Thank you!") % {"number": order.number}
        _to_technician(order.technician, order, text, _subject(order))


def managers_order_declined(*, order, reason: str) -> None:
    with _in_org_language(order):
        text = _("Order #%(number)s was declined by the technician: %(reason)s") % {
            "number": order.number,
            "reason": reason,
        }
        _to_managers(order, text, _subject(order))


def managers_extras_submitted(*, order, request) -> None:
    with _in_org_language(order):
        text = _(
            "Order #%(number)s: the technician asks to change the total from %(old)s to %(new)s %(currency)s."
        ) % {
            "number": order.number,
            "old": request.previous_total,
            "new": request.proposed_total,
            "currency": order.currency,
        }
        _to_managers(order, text, _subject(order))


def managers_order_completed(*, order) -> None:
    with _in_org_language(order):
        text = _("Order #%(number)s is completed and waits for your confirmation.") % {
            "number": order.number
        }
        _to_managers(order, text, _subject(order))


def comment_added(*, order, comment) -> None:
    with _in_org_language(order):
        text = _("New comment on order #%(number)s: %(body)s") % {
            "number": order.number,
            "body": comment.body[:300],
        }
        if comment.side == comment.Side.MANAGER:
            if order.technician is not None:
                _to_technician(order.technician, order, text, _subject(order))
        else:
            _to_managers(order, text, _subject(order))
