"""Onboarding in the demo: the taxi fleet (seed 001) gets the driver-onboarding flow and three
applications made through the real code paths (the bot answering over the console channels
that `messaging.demo` connects):

- one whose WhatsApp welcome was just sent (the bot waits for the driver's answer);
- one whose welcome failed — "Message not sent", with the manager's one-click actions;
- one that went through the whole bot on WhatsApp (code, offer, three document photos) and
  waits in "In review" for the manager to approve it in one click.

Idempotent: nothing is added when the organisation already has applications.
"""

from __future__ import annotations

import base64
import io
import re
import uuid

from django.contrib.auth import get_user_model
from django.db import transaction

from slotwise.org.roles import Role

from .models import Application
from .template import install_driver_template

ORGS = {"driveon"}
DRIVERS = [
    ("Рустам", "Каримов", "+79250001001", "waiting"),
    ("Олег", "Белов", "+79250001002", "not_sent"),
    ("Денис", "Юсупов", "+79250001003", "review"),
]


def _photo(color: str) -> str:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (320, 200), color).save(out, "JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def _work() -> None:
    """What the worker's messaging pump does (the demo may be loaded before it runs)."""
    from slotwise.messaging.inbound import inbound_process_pending
    from slotwise.messaging.outbox import dispatch_due

    for _ in range(20):
        if not (inbound_process_pending(limit=200) + dispatch_due(limit=200)):
            return


def _says(config, sender: str, text: str = "", photo: str = "") -> None:
    from slotwise.messaging.channels.base import InboundMedia, InboundMessage, InboundResult
    from slotwise.messaging.inbound import inbound_accept

    media = (InboundMedia(ref=photo, content_type="image/jpeg", filename="photo.jpg"),)
    item = InboundMessage(
        event_id=f"demo-onboarding-{uuid.uuid4().hex}",
        sender=sender,
        text=text,
        media=media if photo else (),
        sender_phone=f"+{sender}",
    )
    inbound_accept(config=config, result=InboundResult(messages=(item,)))
    _work()


def _demo_links(org) -> None:
    """The demo's console Telegram and Viber channels get a bot name and a chat URI, so the
    "SMS link to another messenger" has links to put in the SMS."""
    from slotwise.messaging.models import ChannelConfig

    names = {"telegram": ("bot_username", "driveon_demo_bot"), "viber": ("chat_uri", "driveon")}
    for config in ChannelConfig.objects.filter(organisation=org, kind="console"):
        medium = (config.settings or {}).get("medium")
        if medium in names:
            key, value = names[medium]
            if not config.settings.get(key):
                config.settings[key] = value
                config.save(update_fields=["settings", "updated_at"])


def onboarding_demo(org) -> None:
    if org.slug not in ORGS:
        return
    from slotwise.messaging.models import Message
    from slotwise.messaging.outbox import message_failed
    from slotwise.org.models import OrgUnit

    from . import services

    unit = OrgUnit.objects.filter(organisation=org, parent__isnull=False).order_by("id").first()
    install_driver_template(org, unit=unit, offer_url="https://driveon.example/offer")
    _demo_links(org)
    # The org admin edits the bot flow in the admin (Django's admin wants is_staff).
    get_user_model().objects.filter(
        staff__organisation=org, staff__roles__role=Role.ORG_ADMIN
    ).update(is_staff=True)
    if Application.objects.filter(organisation=org).exists():
        return
    whatsapp = services.channel_of(org.pk, "whatsapp")
    for first, last, phone, stage in DRIVERS:
        with transaction.atomic():
            application = services.application_create(
                organisation=org, first_name=first, last_name=last, phone=phone, source="api"
            )
            if stage == "not_sent" and application.welcome_message is not None:
                message_failed(
                    message=application.welcome_message,
                    error="(#131026) Message undeliverable: the number is not on WhatsApp.",
                )
        _work()
        if stage != "review" or whatsapp is None:
            continue
        sender = phone.lstrip("+")
        _says(whatsapp, sender, "Здравствуйте! Хочу работать у вас.")
        sms = (
            Message.objects.filter(to=phone, purpose__startswith="onboarding.")
            .order_by("-id")
            .first()
        )
        code = re.search(r"\b(\d{6})\b", sms.body).group(1) if sms else ""
        _says(whatsapp, sender, code)
        for color in ("#3a6ea5", "#a53a3a", "#3aa55a"):
            _says(whatsapp, sender, photo=_photo(color))
        _says(whatsapp, sender, "Автомобиль парка")
