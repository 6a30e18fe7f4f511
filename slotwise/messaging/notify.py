"""`notify(contact, template, context)`: the notifications API other apps use.

It picks the contact's preferred channel (S3.13) and, behind it, a fallback chain
(`MESSAGING_FALLBACK_CHAIN`, default WhatsApp → Telegram → Viber → Instagram → SMS → e-mail):
every medium in that order for which the organisation has an enabled channel AND the contact has
an address (their phone for SMS and WhatsApp, their e-mail, their Telegram / Viber / Instagram
identity). The first candidate gets the message; the others are stored on it (`fallback`) and
tried in turn if it fails for good (not on WhatsApp, blocked the bot, bounced). Where the
organisation has no channel for SMS or e-mail, the system sender (settings.SMS_PROVIDER,
Django's mail) stands in, so notifications work before any channel is connected.

Templates are Django templates rendered in the contact's language and the organisation's time
zone:
`<app>/notifications/<name>.txt` (the text) and, optionally, `<name>.subject.txt` (e-mail
subject). For WhatsApp outside the 24-hour window the message goes out as the approved template
named in the channel's settings (`templates: {"<name>": "<approved name>"}`, default the same
name), with the parameters `register_template(name, whatsapp_params=(...))` lists, taken from
the context.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import timezone, translation

from .models import ChannelConfig, Message

logger = logging.getLogger("slotwise.messaging.notify")

DEFAULT_CHAIN = ("whatsapp", "telegram", "viber", "instagram", "phone", "email")
#: channels that can't carry a notification (calls are logged, chat is only seen when logged in)
NOT_FOR_NOTIFICATIONS = {"phone", "chat"}


@dataclass(frozen=True)
class NotificationTemplate:
    name: str
    whatsapp_params: tuple[str, ...] = ()


TEMPLATES: dict[str, NotificationTemplate] = {}


def register_template(name: str, *, whatsapp_params: tuple[str, ...] = ()) -> None:
    TEMPLATES[name] = NotificationTemplate(name=name, whatsapp_params=whatsapp_params)


def _medium(preferred: str) -> str:
    return "phone" if preferred == "sms" else preferred


def chain_for(contact) -> list[str]:
    chain = list(getattr(settings, "MESSAGING_FALLBACK_CHAIN", DEFAULT_CHAIN))
    first = _medium(contact.preferred_channel or "")
    if first:
        chain = [first] + [m for m in chain if m != first]
    return chain


def _address(contact, medium: str, identities: dict[str, str]) -> str:
    if medium == "phone":
        return contact.phone
    if medium == "email":
        return contact.email
    if medium == "whatsapp":
        return identities.get("whatsapp") or contact.phone.lstrip("+")
    return identities.get(medium, "")


@functools.cache
def _channels_sql() -> str:
    from slotwise.org.selectors import select_columns

    kinds = ", ".join(f"'{kind}'" for kind in sorted(NOT_FOR_NOTIFICATIONS))
    return (
        f"SELECT {select_columns('c', ChannelConfig)} FROM {ChannelConfig._meta.db_table} c"
        f" WHERE c.organisation_id = %s AND c.enabled AND c.disabled_at IS NULL"
        f" AND c.kind NOT IN ({kinds}) ORDER BY c.position, c.id"
    )


_channels_memo: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "notify_channels_memo", default=None
)


@contextlib.contextmanager
def channels_read_once():
    """Inside the block each organisation's channels are read once (a pump's batch of
    notifications; outside, every notification reads them afresh)."""
    token = _channels_memo.set({})
    try:
        yield
    finally:
        _channels_memo.reset(token)


def _notification_channels(organisation_id: int) -> list[ChannelConfig]:
    """The organisation's enabled channels that can carry a notification, in their order —
    as plain SQL: it runs for every notification (each booking's confirmation), and the ORM's
    compile step cost more than the query (bench booking_http)."""
    from slotwise.org.selectors import models_from_row

    memo = _channels_memo.get()
    if memo is not None and organisation_id in memo:
        return memo[organisation_id]
    with connection.cursor() as cursor:
        cursor.execute(_channels_sql(), [organisation_id])
        found = [models_from_row(row, [ChannelConfig])[0] for row in cursor.fetchall()]
    if memo is not None:
        memo[organisation_id] = found
    return found


def candidates(
    contact, *, chain: list[str] | None = None
) -> list[tuple[ChannelConfig | None, str, str]]:
    """[(channel config or None for the system sender, address, medium)] in the order tried."""
    configs: dict[str, list[ChannelConfig]] = {}
    for config in _notification_channels(contact.organisation_id):
        configs.setdefault(config.medium, []).append(config)
    chain = chain or chain_for(contact)
    identities: dict[str, str] = {}
    if any(medium in configs for medium in chain if medium not in ("phone", "email")):
        # Messenger addresses are identities: read them only when a messenger could be used.
        for kind, external_id in contact.identities.values_list("kind", "external_id"):
            identities.setdefault(kind, external_id)
    found = []
    for medium in chain:
        address = _address(contact, medium, identities)
        if not address:
            continue
        if configs.get(medium):
            found.append((configs[medium][0], address, medium))
        elif medium in ("phone", "email"):
            found.append((None, address, medium))
    return found


def _render(template: str, context: dict) -> tuple[str, str]:
    body = render_to_string(f"{template}.txt", context).strip()
    try:
        subject = render_to_string(f"{template}.subject.txt", context).strip()
    except TemplateDoesNotExist:
        subject = ""
    return body, subject


def _whatsapp_template(config: ChannelConfig, name: str, language: str, context: dict) -> dict:
    spec = TEMPLATES.get(name, NotificationTemplate(name=name))
    approved = ((config.settings or {}).get("templates") or {}).get(name, name.replace(".", "_"))
    return {
        "name": approved,
        "language": language,
        "params": [str(context.get(param, "")) for param in spec.whatsapp_params],
    }


def _outside_window(config: ChannelConfig, contact) -> bool:
    from .inbound import channel_for

    hours = channel_for(config).window_hours
    if not hours:
        return False
    last = (
        contact.conversations.filter(channel=config)
        .exclude(last_inbound_at=None)
        .values_list("last_inbound_at", flat=True)
        .first()
    )
    return last is None or last < timezone.now() - timedelta(hours=hours)


def notify(
    *,
    contact,
    template: str,
    context: dict | None = None,
    purpose: str = "",
    chain: list[str] | None = None,
    subject: str = "",
) -> Message | None:
    """Queue a notification to `contact` in the caller's transaction; None if the contact can't
    be reached on any channel. `template`: the template path without `.txt`; `subject`
    (already translated) overrides the template's subject; `chain` overrides the order."""
    from .inbound import conversation_for
    from .outbox import message_queue
    from .services import email_queue, sms_queue

    found = candidates(contact, chain=chain)
    if not found:
        logger.info("notify: contact %s has no reachable channel", contact.pk)
        return None
    language = contact.language or contact.organisation.default_language
    context = {"contact": contact, "organisation": contact.organisation, **(context or {})}
    zone = ZoneInfo(contact.organisation.time_zone)
    with translation.override(language), timezone.override(zone):
        body, rendered_subject = _render(template, context)
    subject = subject or rendered_subject
    name = template.rsplit("/", 1)[-1]
    templates = {}
    for config, _addr, medium in found:
        if config is not None and medium == "whatsapp" and _outside_window(config, contact):
            templates[str(config.pk)] = _whatsapp_template(config, name, language, context)
    config, address, medium = found[0]
    fallback = [[c.pk if c else None, a, m] for c, a, m in found[1:]]
    data = {"templates": templates, "notification": name} if templates else {"notification": name}
    if config is None:
        queue = email_queue if medium == "email" else sms_queue
        kwargs = {"subject": subject or name} if medium == "email" else {}
        return queue(
            to=address,
            body=body,
            purpose=purpose,
            organisation=contact.organisation,
            contact=contact,
            fallback=fallback,
            data=data,
            **kwargs,
        )
    return message_queue(
        conversation=conversation_for(contact=contact, config=config, address=address),
        body=body,
        subject=subject,
        purpose=purpose or name,
        template=templates.get(str(config.pk)),
        fallback=fallback,
        data=data,
    )
