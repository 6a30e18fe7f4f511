"""Messaging in the demo: every organisation talks to its customers through offline console
channels (SMS, WhatsApp, e-mail; the taxi fleet also Telegram, Viber and Instagram), has a few
conversations in its inbox and canned replies in its own language.

Everything goes through the real services: customers' messages are authenticated inbound items
(`inbound_accept`) processed by the pump (`inbound_process_pending`: contact matching, the
conversation, unread counts, the bots' hooks), staff answers are outbox rows (`message_queue`)
sent through the console channel (`message_deliver`). Idempotent: channels and canned replies
are found by their unique keys; inbound items carry fixed event ids (a second run is a replay
and inserts nothing); staff answers carry `data["demo"]` and are not queued twice.

The console channels verify simulated customers' messages (`manage.py messaging_simulate`) with
the secret in the environment variable CONSOLE_CHANNEL_SECRET, which `make demo` exports as
`demo-console-secret` — a demo value, never one for a real installation.
"""

from __future__ import annotations

from django.db import transaction

from .channels.base import InboundMessage, InboundResult
from .inbound import conversation_for, inbound_accept, inbound_process_pending
from .models import CannedReply, ChannelConfig, Conversation, Message
from .outbox import message_deliver, message_queue

DEMO_SECRET_ENV = "CONSOLE_CHANNEL_SECRET"
DEMO_SECRET = "demo-console-secret"  # what `make demo` exports; documented, demo only

#: (name, medium the console channel pretends to be), in the order notify() prefers them.
CHANNELS = (("WhatsApp", "whatsapp"), ("SMS", "sms"), ("E-mail", "email"))
EXTRA_CHANNELS = {
    # The taxi fleet (seed 001) talks to drivers in every messenger they use.
    "driveon": (("Telegram", "telegram"), ("Viber", "viber"), ("Instagram", "instagram")),
}

# Conversations per organisation slug. "who": "customer" (the contact with a portal login),
# "extra:<n>" (the n-th other contact with a phone number) or a dict for a person the
# organisation doesn't know yet ({"address", "name", "phone"}). Messages: ("in" | "out", text);
# an e-mail conversation may set "subject".
SCRIPTS: dict[str, list[dict]] = {
    "samtalsbolaget": [
        {
            "key": "se-sms",
            "channel": "SMS",
            "who": "customer",
            "messages": [
                ("in", "Hej! Kan jag flytta mitt samtal på torsdag till nästa vecka?"),
                ("out", "Hej Maja! Absolut – vilken dag passar dig bäst?"),
                ("in", "Tisdag förmiddag vore perfekt. Tack!"),
            ],
        },
        {
            "key": "se-wa",
            "channel": "WhatsApp",
            "who": "extra:0",
            "messages": [
                ("in", "Hej, erbjuder ni stresshantering även via video?"),
                (
                    "out",
                    "Hej! Ja, alla våra samtal går att ha som videosamtal. Vill du att vi bokar "
                    "in ett första samtal?",
                ),
                ("in", "Gärna, helst en eftermiddag."),
            ],
        },
    ],
    "fixright": [
        {
            "key": "la-wa",
            "channel": "WhatsApp",
            "who": "customer",
            "messages": [
                ("in", "Hi, the kitchen sink is leaking again. Can someone come by this week?"),
                (
                    "out",
                    "Hi Emily, sorry to hear that! Carlos can come Thursday morning. Does 9 am "
                    "work for you?",
                ),
                ("in", "Thursday 9 am is perfect, thanks!"),
                ("out", "Booked. You'll get a text when Carlos is on his way."),
            ],
        },
        {
            "key": "la-sms",
            "channel": "SMS",
            "who": "extra:1",
            "messages": [
                ("in", "How much is an estimate visit for a new water heater?"),
            ],
        },
    ],
    "remstroy": [
        {
            "key": "msk-wa",
            "channel": "WhatsApp",
            "who": "customer",
            "messages": [
                ("in", "Здравствуйте! Хотим сделать ремонт ванной. Можно заказать замер?"),
                (
                    "out",
                    "Здравствуйте, Ирина! Конечно, замер бесплатный. Удобно в субботу с 10 до 12?",
                ),
                ("in", "Да, суббота подходит."),
            ],
        },
        {
            "key": "msk-mail",
            "channel": "E-mail",
            "who": "customer",
            "subject": "Смета на ремонт ванной",
            "messages": [
                ("in", "Добрый день! Пришлите, пожалуйста, примерную смету после замера."),
            ],
        },
    ],
    "driveon": [
        {
            "key": "fleet-tg",
            "channel": "Telegram",
            "who": {"address": "512340001", "name": "Алексей Соколов", "phone": "+79161230001"},
            "messages": [
                ("in", "Здравствуйте! Хочу подключиться к парку. Что для этого нужно?"),
                (
                    "out",
                    "Здравствуйте, Алексей! Пришлите фото водительского удостоверения и СТС — "
                    "и выберите время для звонка по подключению.",
                ),
                ("in", "Отправлю сегодня вечером."),
            ],
        },
        {
            "key": "fleet-viber",
            "channel": "Viber",
            "who": {"address": "vb-01HxRmT9demo==", "name": "Бахтиёр Каримов", "phone": ""},
            "messages": [
                ("in", "Добрый день, у вас есть аренда авто для такси?"),
            ],
        },
        {
            "key": "fleet-wa",
            "channel": "WhatsApp",
            "who": "customer",
            "messages": [
                (
                    "out",
                    "Тимур, добрый день! Ваш осмотр автомобиля завтра в 11:00, офис «Савёловская».",
                ),
                ("in", "Спасибо, буду."),
            ],
        },
    ],
    "adviesgroep": [
        {
            "key": "nl-mail",
            "channel": "E-mail",
            "who": "customer",
            "subject": "Vraag over mijn hypotheekgesprek",
            "messages": [
                (
                    "in",
                    "Goedemiddag, welke documenten moet ik meenemen naar het hypotheekgesprek?",
                ),
                (
                    "out",
                    "Beste Emma, neem uw legitimatiebewijs, drie recente loonstroken en een "
                    "werkgeversverklaring mee. Tot dan!",
                ),
            ],
        },
        {
            "key": "nl-wa",
            "channel": "WhatsApp",
            "who": "extra:0",
            "messages": [
                ("in", "Hoi, kan ik ook telefonisch advies krijgen over mijn pensioen?"),
            ],
        },
    ],
}

#: (shortcut, title, text) per language; an organisation slug may have its own.
CANNED: dict[str, list[tuple[str, str, str]]] = {
    "en": [
        ("hello", "Greeting", "Hi! Thanks for your message — we'll get back to you shortly."),
        ("callback", "We'll call you", "We'll call you back today. Which number suits you best?"),
        ("booking", "Booking link", "You can pick a time that suits you here: {booking_link}"),
    ],
    "sv": [
        ("hej", "Hälsning", "Hej! Tack för ditt meddelande – vi återkommer inom kort."),
        ("ring", "Vi ringer upp", "Vi ringer upp dig i dag. Vilket nummer når vi dig på?"),
        ("boka", "Bokningslänk", "Här kan du välja en tid som passar dig: {booking_link}"),
    ],
    "ru": [
        ("privet", "Приветствие", "Здравствуйте! Спасибо за сообщение — скоро ответим."),
        ("perezvon", "Перезвоним", "Перезвоним вам сегодня. По какому номеру удобнее?"),
        ("zapis", "Ссылка для записи", "Выберите удобное время по ссылке: {booking_link}"),
    ],
    "nl": [
        ("hallo", "Begroeting", "Hallo! Bedankt voor uw bericht, we reageren zo snel mogelijk."),
        ("terugbellen", "We bellen terug", "We bellen u vandaag terug. Op welk nummer?"),
        ("afspraak", "Afspraaklink", "Kies hier een moment dat u past: {booking_link}"),
    ],
}
CANNED_BY_SLUG = {
    "driveon": [
        ("privet", "Приветствие", "Здравствуйте! Спасибо, что выбрали DriveOn — скоро ответим."),
        (
            "dokumenty",
            "Документы",
            "Пришлите, пожалуйста, фото водительского удостоверения (обе стороны) и СТС.",
        ),
        (
            "start",
            "Как начать работать",
            "Готово! Установите приложение водителя, войдите по своему номеру телефона и "
            "выйдите на линию. Выплаты — каждый день на карту.",
        ),
    ],
}


def messaging_demo(org) -> dict:
    """Channels, canned replies and conversations for one demo organisation (idempotent).
    Returns counts of what was created this time."""
    created = {"channels": 0, "canned": 0, "inbound": 0, "outbound": 0}
    with transaction.atomic():
        configs = _channels(org, created)
        _canned(org, created)
    for script in SCRIPTS.get(org.slug, []):
        config = configs.get(script["channel"])
        if config is not None:
            with transaction.atomic():
                _conversation(org, config, script, created)
    return created


def _channels(org, created: dict) -> dict[str, ChannelConfig]:
    configs = {}
    specs = CHANNELS + EXTRA_CHANNELS.get(org.slug, ())
    for position, (name, medium) in enumerate(specs):
        config, made = ChannelConfig.objects.get_or_create(
            organisation=org,
            kind="console",
            name=name,
            defaults={
                "position": position,
                "settings": {"medium": medium, "secret_env": DEMO_SECRET_ENV},
            },
        )
        created["channels"] += made
        configs[name] = config
    return configs


def _canned(org, created: dict) -> None:
    language = org.default_language or "en"
    replies = CANNED_BY_SLUG.get(org.slug) or CANNED.get(language) or CANNED["en"]
    for shortcut, title, body in replies:
        _reply, made = CannedReply.objects.get_or_create(
            organisation=org,
            shortcut=shortcut,
            language=language,
            defaults={"title": title, "body": body},
        )
        created["canned"] += made


def _contact(org, who):
    """The existing contact a script's "who" names (None for a new person, or if missing)."""
    from slotwise.customers.models import Contact

    if isinstance(who, dict):
        return None
    contacts = Contact.objects.filter(organisation=org).order_by("pk")
    if who == "customer":
        return contacts.filter(user__isnull=False).first()
    index = int(who.split(":", 1)[1])
    extra = list(contacts.filter(user__isnull=True).exclude(phone="")[: index + 1])
    return extra[index] if len(extra) > index else None


def _address(config: ChannelConfig, who, contact) -> str:
    medium = (config.settings or {}).get("medium", "sms")
    if isinstance(who, dict):
        return who["address"]
    if medium == "email":
        return contact.email
    if medium == "whatsapp":
        return contact.phone.lstrip("+")
    if medium in ("sms", "phone"):
        return contact.phone
    return ""


def _author(org):
    from slotwise.org.models import Staff
    from slotwise.org.roles import Role

    staff = (
        Staff.objects.filter(organisation=org, roles__role__in=[Role.MANAGER, Role.REPRESENTATIVE])
        .select_related("user")
        .order_by("pk")
        .first()
        or Staff.objects.filter(organisation=org).select_related("user").order_by("pk").first()
    )
    return staff.user if staff else None


def _conversation(org, config: ChannelConfig, script: dict, created: dict) -> None:
    who = script["who"]
    contact = _contact(org, who)
    if contact is None and not isinstance(who, dict):
        return  # the organisation has no such contact (changed since): nothing to show
    address = _address(config, who, contact)
    if not address:
        return
    medium = (config.settings or {}).get("medium", "sms")
    if contact is None:  # a new person: what the messenger tells us about them
        phone, email, name = who.get("phone", ""), "", who.get("name", "")
    else:
        phone, email, name = contact.phone, contact.email, ""
    author = _author(org)
    for index, (direction, text) in enumerate(script["messages"]):
        key = f"{script['key']}:{index}"
        if direction == "in":
            data = {"subject": script["subject"]} if script.get("subject") else {}
            item = InboundMessage(
                event_id=f"demo:{key}",
                sender=address,
                text=text,
                sender_name=name,
                sender_phone=phone if medium != "email" else "",
                sender_email=email if medium == "email" else "",
                data=data,
            )
            created["inbound"] += len(
                inbound_accept(config=config, result=InboundResult(messages=(item,)))
            )
            inbound_process_pending()
            continue
        if Message.objects.filter(channel_config=config, data__demo=key).exists():
            continue
        conversation = Conversation.objects.filter(channel=config, address=address).first()
        if conversation is None:
            if contact is None:
                continue
            conversation = conversation_for(contact=contact, config=config, address=address)
        subject = f"Re: {script['subject']}" if script.get("subject") else ""
        message = message_queue(
            conversation=conversation,
            body=text,
            subject=subject,
            author=author,
            data={"demo": key},
        )
        message_deliver(message_id=message.pk)
        created["outbound"] += 1
