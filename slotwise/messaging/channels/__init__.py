"""Message channels behind a registry (healthchecks-style: one package per integration).

`kind` → dotted path of the `Channel` class. Every package holds its adapter (`channel.py`), and
its tests; the local fake of the provider's API, shared by tests and the demo, lives in
`slotwise/messaging/fakes/<kind>.py`.
"""

from __future__ import annotations

from slotwise.core.registry import Registry

from .base import Channel

channels: Registry[Channel] = Registry(
    "channel",
    {
        "console": "slotwise.messaging.channels.console.channel.ConsoleChannel",
        "chat": "slotwise.messaging.channels.chat.channel.ChatChannel",
        "whatsapp": "slotwise.messaging.channels.whatsapp.channel.WhatsAppChannel",
        "instagram": "slotwise.messaging.channels.instagram.channel.InstagramChannel",
        "telegram": "slotwise.messaging.channels.telegram.channel.TelegramChannel",
        "viber": "slotwise.messaging.channels.viber.channel.ViberChannel",
        "twilio": "slotwise.messaging.channels.twilio.channel.TwilioSmsChannel",
        "email": "slotwise.messaging.channels.email.channel.EmailChannel",
        "phone": "slotwise.messaging.channels.phone.channel.PhoneChannel",
    },
)
