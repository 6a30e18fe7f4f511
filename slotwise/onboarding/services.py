"""Writes for applications: create (S1.2), status changes with their history, the manager's
one-click actions (fix the number, send an SMS link — S1.3), review decisions (approve, reject,
ask for more — S1.6, S1.7) and taking the conversation over.

Every manager action is one call, one transaction, counted on the application
(`manager_actions`: S1.11 says a manager only reviews). Messages go through the outbox in the
same transaction (ARCHITECTURE rule 3).
"""

from __future__ import annotations

import logging
import re

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from slotwise.core.errors import ValidationError
from slotwise.customers.models import Contact
from slotwise.customers.phones import to_e164
from slotwise.customers.services import contact_create, contact_update, timeline_add
from slotwise.messaging.inbound import channel_for, conversation_for
from slotwise.messaging.models import ChannelConfig, Conversation, Message
from slotwise.messaging.outbox import message_queue

from .models import (
    CLOSED_STATUSES,
    OPEN_RUN_STATES,
    Application,
    ApplicationSource,
    ApplicationStatus,
    ApplicationStatusChange,
    Flow,
    FlowRun,
    Trigger,
)
from .verification import code_issue, link_token

logger = logging.getLogger("slotwise.onboarding")

WELCOME_PURPOSE = "onboarding.welcome"
LINK_PURPOSE = "onboarding.link"
CODE_PURPOSE = "onboarding.code"
MESSENGERS = ("whatsapp", "telegram", "viber", "instagram")


# --- channels of the organisation -------------------------------------------------------------


def _usable_channels(organisation_id: int) -> list[ChannelConfig]:
    return list(
        ChannelConfig.objects.filter(
            organisation_id=organisation_id, enabled=True, disabled_at__isnull=True
        ).order_by("position", "id")
    )


def channel_of(organisation_id: int, medium: str) -> ChannelConfig | None:
    """The organisation's first usable channel for a medium ("whatsapp", "telegram", "viber",
    "sms"); the offline console channel counts for the medium it pretends to be."""
    for config in _usable_channels(organisation_id):
        if config.kind == "console":
            pretends = (config.settings or {}).get("medium", "phone")
            if pretends == medium or (medium == "sms" and pretends in ("sms", "phone")):
                return config
        elif medium == "sms" and config.kind == "twilio":
            return config
        elif config.kind == medium:
            return config
    return None


def deep_links(organisation_id: int, token: str) -> list[tuple[str, str]]:
    """(messenger name, link) for each messenger the organisation has that can carry the
    application's token: Telegram ``/start``, Viber ``context``."""
    links = []
    for config in _usable_channels(organisation_id):
        medium = config.medium
        if medium not in ("telegram", "viber"):
            continue
        settings = config.settings or {}
        link = ""
        try:
            channel = channel_for(config)
            if hasattr(channel, "deep_link"):
                link = channel.deep_link(token)
        except Exception:  # a channel without its bot name/URI: build it from the settings
            link = ""
        if not link and medium == "telegram" and settings.get("bot_username"):
            link = f"https://t.me/{settings['bot_username'].lstrip('@')}?start={token}"
        if not link and medium == "viber" and settings.get("chat_uri"):
            link = f"viber://pa?chatURI={settings['chat_uri']}&context={token}"
        if link and not any(name == medium for name, _l in links):
            links.append((medium, link))
    return links


MESSENGER_NAMES = {"telegram": "Telegram", "viber": "Viber", "whatsapp": "WhatsApp"}


# --- status -----------------------------------------------------------------------------------


def status_set(
    *,
    application: Application,
    status: str,
    actor=None,
    by_bot: bool = False,
    note: str = "",
) -> bool:
    """Move the application to `status`, recording the change (time in stage, the funnel) and a
    timeline entry on the contact. False if it already was there."""
    if application.status == status:
        return False
    now = timezone.now()
    ApplicationStatusChange.objects.create(
        application=application,
        from_status=application.status,
        to_status=status,
        at=now,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        by_bot=by_bot,
        note=note[:300],
    )
    application.status = status
    application.status_changed_at = now
    application.save(update_fields=["status", "status_changed_at", "updated_at"])
    timeline_add(
        contact=application.contact,
        kind="application.status",
        summary=_("Application: %(status)s") % {"status": application.get_status_display()},
        data={"application": str(application.public_id), "status": status},
        actor=actor,
    )
    return True


def _count_action(application: Application, staff=None) -> None:
    Application.objects.filter(pk=application.pk).update(manager_actions=F("manager_actions") + 1)
    application.manager_actions += 1
    if staff is not None and application.manager_id is None:
        application.manager = staff
        Application.objects.filter(pk=application.pk).update(manager=staff)


def _closed_error(application: Application):
    return ValidationError(
        {
            "status": [
                _("This application is already %(status)s.")
                % {"status": application.get_status_display().lower()}
            ]
        }
    )


# --- creating ---------------------------------------------------------------------------------


def default_flow(organisation_id: int) -> Flow | None:
    """The organisation's active flow that collects applications (application trigger first)."""
    flows = list(
        Flow.objects.filter(
            organisation_id=organisation_id, active=True, creates_application=True
        ).order_by("id")
    )
    for trigger in (Trigger.APPLICATION, Trigger.FIRST_CONTACT, Trigger.KEYWORD):
        for flow in flows:
            if flow.trigger == trigger:
                return flow
    return None


def _contact_by_phone(organisation_id: int, phone: str) -> Contact | None:
    return (
        Contact.objects.filter(organisation_id=organisation_id)
        .filter(Q(phone=phone) | Q(identities__kind="phone", identities__external_id=phone))
        .order_by("id")
        .first()
    )


def open_application(contact_id: int) -> Application | None:
    return (
        Application.objects.filter(contact_id=contact_id)
        .exclude(status__in=CLOSED_STATUSES)
        .select_related("flow", "contact", "organisation")
        .order_by("-created_at")
        .first()
    )


@transaction.atomic
def application_create(
    *,
    organisation,
    first_name: str,
    last_name: str = "",
    phone: str,
    source: str = ApplicationSource.MANAGER,
    actor=None,
    unit=None,
    flow: Flow | None = None,
    language: str = "",
    send_welcome: bool = True,
) -> Application:
    """S1.2: an application for a person whose name and phone are known (a manager's form, the
    API, a web form). The contact is found by the phone number or created; the WhatsApp welcome
    template goes out at once, or the application is "Message not sent" when the organisation
    has no WhatsApp (a failed send sets that status later, `engine.on_message_failed`)."""
    errors: dict[str, list[str]] = {}
    first_name = (first_name or "").strip()
    last_name = (last_name or "").strip()
    if not first_name:
        errors["first_name"] = [_("Enter a first name.")]
    e164 = ""
    try:
        e164 = to_e164(phone, organisation.country)
    except ValidationError as exc:
        errors["phone"] = exc.messages
    if errors:
        raise ValidationError(errors)
    contact = _contact_by_phone(organisation.pk, e164)
    if contact is None:
        contact = contact_create(
            organisation=organisation,
            first_name=first_name,
            last_name=last_name,
            phone=e164,
            language=language or organisation.default_language,
            preferred_channel="whatsapp",
            unit=unit,
            actor=actor,
        )
    elif open_application(contact.pk) is not None:
        raise ValidationError(
            {"phone": [_("%(name)s already has an open application.") % {"name": contact}]}
        )
    flow = flow or default_flow(organisation.pk)
    application = Application.objects.create(
        organisation=organisation,
        contact=contact,
        unit=unit or (flow.unit if flow else None) or contact.unit,
        flow=flow,
        source=source,
        data={
            "first_name": first_name,
            "last_name": last_name,
            "full_name": f"{first_name} {last_name}".strip(),
            "phone": e164,
        },
        status_changed_at=timezone.now(),
    )
    ApplicationStatusChange.objects.create(
        application=application,
        to_status=ApplicationStatus.NEW,
        at=application.status_changed_at,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )
    timeline_add(
        contact=contact,
        kind="application.created",
        summary=_("Application created"),
        data={"application": str(application.public_id), "source": source},
        actor=actor,
    )
    if actor is not None and source == ApplicationSource.MANAGER:
        from slotwise.org.selectors import staff_of

        _count_action(application, staff_of(actor))
    if send_welcome:
        welcome_send(application=application)
    return application


def welcome_text(application: Application) -> str:
    with translation.override(application.contact.language or "en"):
        return _(
            "Hello %(name)s! Welcome to %(company)s. Reply to this message to start your "
            "registration — it takes about 5 minutes."
        ) % {"name": application.contact.first_name, "company": application.organisation.name}


def welcome_send(*, application: Application) -> Message | None:
    """Queue the WhatsApp welcome template to the application's phone (S1.2), or mark the
    application "Message not sent" (S1.3) when there is no WhatsApp channel to send it."""
    config = channel_of(application.organisation_id, "whatsapp")
    contact = application.contact
    phone = contact.phone or application.data.get("phone", "")
    if config is None or not phone:
        reason = (
            _("The organisation has no WhatsApp channel.")
            if config is None
            else _("The application has no phone number.")
        )
        application.last_error = reason
        application.save(update_fields=["last_error", "updated_at"])
        status_set(
            application=application,
            status=ApplicationStatus.MESSAGE_NOT_SENT,
            by_bot=True,
            note=reason,
        )
        return None
    conversation = conversation_for(
        contact=contact, config=config, address=re.sub(r"\D", "", phone)
    )
    template_name = application.flow.welcome_template if application.flow else "driver_welcome"
    message = message_queue(
        conversation=conversation,
        body=welcome_text(application),
        template={
            "name": template_name,
            "language": contact.language or application.organisation.default_language,
            "params": [contact.first_name],
        },
        purpose=WELCOME_PURPOSE,
        by_bot=True,
        data={"application": str(application.public_id)},
    )
    application.welcome_message = message
    application.last_error = ""
    application.save(update_fields=["welcome_message", "last_error", "updated_at"])
    status_set(application=application, status=ApplicationStatus.CONTACTED, by_bot=True)
    return message


def welcome_failed(*, message: Message) -> Application | None:
    """The welcome could not be delivered (not on WhatsApp, a bad number): S1.3."""
    application = (
        Application.objects.select_for_update(of=("self",))
        .filter(welcome_message=message)
        .select_related("contact", "organisation")
        .first()
    )
    if application is None:
        return None
    if application.status not in (ApplicationStatus.NEW, ApplicationStatus.CONTACTED):
        return application  # the person answered some other way meanwhile
    application.last_error = (message.last_error or "")[:2000]
    application.save(update_fields=["last_error", "updated_at"])
    status_set(
        application=application,
        status=ApplicationStatus.MESSAGE_NOT_SENT,
        by_bot=True,
        note=application.last_error,
    )
    return application


# --- codes by SMS -----------------------------------------------------------------------------


def sms_send(*, application: Application, phone: str, body: str, purpose: str) -> Message:
    """An SMS to the application's person: through the organisation's SMS channel (on the
    contact's SMS conversation, so it is on the timeline), else the system SMS sender."""
    config = channel_of(application.organisation_id, "sms")
    contact = application.contact
    if config is not None:
        conversation = conversation_for(contact=contact, config=config, address=phone)
        return message_queue(conversation=conversation, body=body, purpose=purpose, by_bot=True)
    from slotwise.messaging.services import sms_queue

    message = sms_queue(to=phone, body=body, purpose=purpose, organisation=application.organisation)
    Message.objects.filter(pk=message.pk).update(contact=contact, by_bot=True)
    return message


def code_sms_text(application: Application, code: str, *, links: list | None = None) -> str:
    with translation.override(application.contact.language or "en"):
        lines = [
            _("%(company)s: your code is %(code)s. Typing it in the messenger accepts the offer.")
            % {"company": application.organisation.name, "code": code}
        ]
        if links:
            lines.append(_("Continue your registration in:"))
            for medium, link in links:
                lines.append(f"{MESSENGER_NAMES.get(medium, medium)}: {link}")
        return "\n".join(lines)


def code_send(*, application: Application, phone: str, links: bool = False) -> Message:
    """Issue a code for the application's contact and send it by SMS (with the messenger links
    when `links`). Raises TooManyCodes past the contact's hourly limit."""
    offer = application.flow.offer_version if application.flow else ""
    _row, code = code_issue(contact=application.contact, offer_version=offer)
    found = deep_links(application.organisation_id, link_token(application)) if links else []
    body = code_sms_text(application, code, links=found)
    return sms_send(
        application=application,
        phone=phone,
        body=body,
        purpose=LINK_PURPOSE if links else CODE_PURPOSE,
    )


# --- the manager's actions --------------------------------------------------------------------


@transaction.atomic
def application_fix_number(*, application: Application, phone: str, actor) -> Application:
    """S1.3 "Fix number": the person's WhatsApp number differs; change it and send the welcome
    again (one action)."""
    from slotwise.org.selectors import staff_of

    application = _locked(application)
    if application.is_closed:
        raise _closed_error(application)
    try:
        e164 = to_e164(phone, application.organisation.country)
    except ValidationError as exc:
        raise ValidationError({"phone": exc.messages}) from None
    contact_update(contact=application.contact, phone=e164, actor=actor)
    application.data["phone"] = e164
    application.save(update_fields=["data", "updated_at"])
    _count_action(application, staff_of(actor))
    welcome_send(application=application)
    return application


@transaction.atomic
def application_send_link(*, application: Application, actor) -> Message:
    """S1.3 "Send SMS link to another messenger": a code and links to the organisation's
    messengers by SMS (one action). Opening a link and typing the code links that messenger to
    this contact and accepts the offer (S1.4)."""
    from slotwise.org.selectors import staff_of

    application = _locked(application)
    if application.is_closed:
        raise _closed_error(application)
    phone = application.contact.phone or application.data.get("phone", "")
    if not phone:
        raise ValidationError({"phone": [_("The application has no phone number.")]})
    if not deep_links(application.organisation_id, link_token(application)):
        raise ValidationError(
            {"channel": [_("The organisation has no Telegram or Viber channel to link to.")]}
        )
    message = code_send(application=application, phone=phone, links=True)
    _count_action(application, staff_of(actor))
    status_set(
        application=application,
        status=ApplicationStatus.CODE_SENT,
        actor=actor,
        note=_("SMS link sent"),
    )
    return message


def _locked(application: Application) -> Application:
    return (
        Application.objects.select_for_update(of=("self",))
        .select_related("contact", "organisation", "flow", "unit")
        .get(pk=application.pk)
    )


def driver_conversation(application: Application) -> Conversation | None:
    """Where to write to the person: the conversation their bot flow runs in, else the
    messenger conversation they last wrote in, else the welcome's."""
    run = (
        FlowRun.objects.filter(application=application)
        .select_related("conversation__channel", "conversation__contact")
        .order_by("-updated_at")
        .first()
    )
    if run is not None:
        return run.conversation
    conversation = (
        Conversation.objects.filter(
            contact_id=application.contact_id, last_inbound_at__isnull=False
        )
        .select_related("channel", "contact")
        .order_by("-last_inbound_at")
        .first()
    )
    if conversation is not None:
        return conversation
    if application.welcome_message_id and application.welcome_message.conversation_id:
        return application.welcome_message.conversation
    return None


@transaction.atomic
def application_approve(*, application: Application, actor) -> Application:
    """Approve (ONE action): status Approved and the final message with how to start working
    and get paid queued in the person's messenger (S1.7)."""
    from slotwise.org.selectors import staff_of

    from . import engine

    application = _locked(application)
    if application.is_closed:
        raise _closed_error(application)
    _count_action(application, staff_of(actor))
    status_set(application=application, status=ApplicationStatus.APPROVED, actor=actor)
    engine.manager_decided(application=application)
    return application


@transaction.atomic
def application_reject(*, application: Application, actor, reason: str) -> Application:
    from slotwise.org.selectors import staff_of

    from . import engine

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why the application is rejected.")]})
    application = _locked(application)
    if application.is_closed:
        raise _closed_error(application)
    application.reason = reason
    application.save(update_fields=["reason", "updated_at"])
    _count_action(application, staff_of(actor))
    status_set(application=application, status=ApplicationStatus.REJECTED, actor=actor, note=reason)
    engine.manager_decided(application=application)
    return application


@transaction.atomic
def application_ask_more(*, application: Application, actor, text: str) -> Message:
    """Ask the person for something more (S1.6): the manager's question goes to their messenger,
    the application goes back to "Collecting data" and the bot hands their answer (text or
    photos) to the review."""
    from slotwise.org.selectors import staff_of

    from . import engine

    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": [_("Write what is missing.")]})
    application = _locked(application)
    if application.is_closed:
        raise _closed_error(application)
    conversation = driver_conversation(application)
    if conversation is None:
        raise ValidationError(
            {"text": [_("The person has not written in any messenger yet: call them.")]}
        )
    message = message_queue(conversation=conversation, body=text, author=actor)
    _count_action(application, staff_of(actor))
    status_set(
        application=application,
        status=ApplicationStatus.COLLECTING,
        actor=actor,
        note=text[:300],
    )
    engine.question_asked(application=application, conversation=conversation)
    return message


@transaction.atomic
def application_take_over(*, application: Application, actor) -> Conversation:
    """The manager takes the person's conversation over from the bot (S1.6): the bot stops and
    the manager writes in the inbox."""
    from slotwise.org.selectors import staff_of

    from . import engine

    application = _locked(application)
    conversation = driver_conversation(application)
    if conversation is None:
        raise ValidationError(
            {"conversation": [_("The person has not written in any messenger yet.")]}
        )
    staff = staff_of(actor)
    if not conversation.bot_active:
        return conversation  # a person has it already: just go there
    try:
        from slotwise.messaging.conversations import conversation_take_over
    except ImportError:  # the inbox's service is not there: do what it does
        conversation_take_over = None
    if conversation_take_over is not None:
        conversation_take_over(conversation=conversation, actor=actor)
    else:
        Conversation.objects.filter(pk=conversation.pk).update(bot_active=False, assignee=staff)
        conversation.bot_active, conversation.assignee = False, staff
        from slotwise.messaging.hooks import takeover_hooks

        for hook in takeover_hooks:
            hook(conversation, actor)
    engine.on_takeover(conversation, actor)
    _count_action(application, staff)
    return conversation


def open_runs(application: Application):
    return FlowRun.objects.filter(application=application, state__in=OPEN_RUN_STATES)
