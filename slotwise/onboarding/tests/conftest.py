"""Onboarding tests: an organisation with the driver-onboarding template, console channels
(the offline channel pretending to be each messenger, inbound stored through the real
pipeline), and helpers that play the worker (`pump`) and the driver (`Driver`)."""

from __future__ import annotations

import base64
import io
import re
import uuid

import pytest

from slotwise.core.tests.conftest import _test_settings  # noqa: F401
from slotwise.messaging.channels.base import InboundMedia, InboundMessage, InboundResult
from slotwise.messaging.inbound import inbound_accept
from slotwise.messaging.media import attachment_fetch
from slotwise.messaging.models import Attachment, Message
from slotwise.messaging.testing import make_channel, process_inbound, send_outbox
from slotwise.onboarding.engine import check_documents_pending
from slotwise.onboarding.template import install_driver_template
from slotwise.org.roles import Role
from slotwise.tests_factories import OrganisationFactory, StaffFactory, make_unit


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def jpeg(color: str = "red") -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 12), color).save(out, "JPEG")
    return out.getvalue()


def data_uri(content: bytes, content_type: str = "image/jpeg") -> str:
    return f"data:{content_type};base64,{base64.b64encode(content).decode()}"


def pump(*, meta=None) -> None:
    """What the worker does, until nothing is left: inbound events, attachments, the periodic
    documents check, the outbox (and the Meta fake's status webhooks the sends caused)."""
    for _ in range(30):
        done = process_inbound()
        for attachment in Attachment.objects.filter(status="pending"):
            attachment_fetch(attachment_id=attachment.pk)
            done += 1
        check_documents_pending()
        done += send_outbox()
        if meta is not None:
            done += len(meta.flush())
        if not done:
            return
    raise AssertionError("the pump never settled")


def last_code(phone: str) -> str:
    """The newest verification code sent by SMS to `phone`."""
    for message in Message.objects.filter(to=phone, purpose__startswith="onboarding.").order_by(
        "-id"
    ):
        match = re.search(r"\b(\d{6})\b", message.body)
        if match:
            return match.group(1)
    raise AssertionError(f"no code sent to {phone}")


class Driver:
    """A person writing through a console channel: every message goes through the real inbound
    pipeline (stored event → processing → hooks)."""

    def __init__(self, config, sender: str, *, name: str = "", phone: str = "") -> None:
        self.config = config
        self.sender = sender
        self.name = name
        self.phone = phone

    def says(self, text: str = "", *, media=(), data=None, pump_after: bool = True) -> None:
        """`media`: (bytes, type) pairs, stored at once; (None, type) is a file the worker
        fails to fetch later (the console channel has none to fetch)."""
        item = InboundMessage(
            event_id=uuid.uuid4().hex,
            sender=self.sender,
            text=text,
            media=tuple(
                InboundMedia(
                    ref=data_uri(content, kind) if content is not None else "console:none",
                    content_type=kind,
                    filename="p.jpg",
                )
                for content, kind in media
            ),
            sender_name=self.name,
            sender_phone=self.phone,
            data=data or {},
        )
        inbound_accept(config=self.config, result=InboundResult(messages=(item,)))
        if pump_after:
            pump()

    def photo(self, content: bytes | None = None, kind: str = "image/jpeg", *, lost=False) -> None:
        self.says(media=[(None if lost else (content or jpeg()), kind)])

    def replies(self) -> list[str]:
        return list(
            Message.objects.filter(channel_config=self.config, to=self.sender, direction="out")
            .order_by("id")
            .values_list("body", flat=True)
        )

    def last(self) -> str:
        replies = self.replies()
        return replies[-1] if replies else ""


@pytest.fixture
def org(db):
    return OrganisationFactory(
        country="RU", time_zone="Europe/Moscow", currency="RUB", default_language="en"
    )


@pytest.fixture
def flow(org):
    flow, _created = install_driver_template(org, offer_version="2025-1")
    return flow


@pytest.fixture
def consoles(org, monkeypatch):
    monkeypatch.setenv("CONSOLE_SECRET", "console-secret")
    made = {}
    for medium in ("whatsapp", "telegram", "viber", "sms"):
        settings = {"medium": medium, "secret_env": "CONSOLE_SECRET"}
        if medium == "telegram":
            settings["bot_username"] = "driveon_bot"
        if medium == "viber":
            settings["chat_uri"] = "driveon"
        made[medium] = make_channel(org, "console", settings, name=f"console-{medium}")
    return made


@pytest.fixture
def unit(org):
    return make_unit(org, "Onboarding")


@pytest.fixture
def manager(org, unit):
    return StaffFactory(unit=unit, roles=[Role.MANAGER]).user
