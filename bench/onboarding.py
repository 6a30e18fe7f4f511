"""100 simulated drivers through the onboarding bot (issue 5, "onboarding"; S1.11: the manager
only reviews).

Builds its own organisation on PostgreSQL with the driver-onboarding template, a WhatsApp
channel against the local Meta fake (real HTTP on loopback; numbers of the third group are "not
on WhatsApp", so their welcome fails by status webhook as at Meta) and console channels for
Telegram, Viber and SMS. 100 drivers, a third each:

- WhatsApp: an application from the web form (API); the welcome template; the driver answers on
  WhatsApp, types the SMS code, sends three photos, picks a car; the manager approves (1 action).
- Telegram: writes to the bot first, gives phone and name, types the code, photos, car; approve.
- SMS link → Viber: the welcome fails; the manager clicks "Send SMS link" (action 1); the driver
  opens the Viber link (conversation_started with the token), types the code, photos, car;
  approve (action 2).

The drivers move in rounds, all of them one answer per round, like a busy hour; between rounds
the worker's work runs as in `manage.py worker`: stored inbound events processed (the bot runs
in that transaction), photos fetched from the fake and checked, the periodic documents check,
the outbox dispatched (and the fake's status webhooks delivered). Webhooks from the Meta fake go
through the real inbound entry point (signature check, stored raw); console messages through
`inbound_accept`.

Output (one line):
    {"bench": "onboarding", "drivers": 100, "approved": 100, "bot_messages_p50": ...,
     "manager_actions_per_driver": ..., "reply_ms_p50": ..., "reply_ms_p95": ...,
     "contacts_per_driver": 1.0, ...}

`bot_messages_p50`: the median number of messages the bot (not a person) sent per driver: the
welcome, SMS codes/links and every bot answer. `manager_actions_per_driver`: the actions
counted on the applications (send link, approve …) over the drivers. `reply_ms_*`: from the
moment an answer was accepted at our webhook to the moment the bot's next message to that
driver was handed to the channel, with 100 drivers answering at once per round (so it is
mostly the time one worker takes to work through a burst of 100 answers and their replies).
`bot_ms_per_answer_*`: what the bot itself costs per inbound message (its hook, inside the
message's transaction). No
"minutes per driver" is printed: the drivers here answer instantly, so their wall time would
measure the machine, not the 5-minute target of S1.11 (whose manager part this bench shows: at
most 2 actions, a review).
"""

from __future__ import annotations

import bisect
import contextlib
import io
import json
import os
import re
import shutil
import statistics
import time
import uuid

from bench.booking_http import log, percentile, setup_django

DRIVERS = int(os.environ.get("BENCH_ONBOARDING_DRIVERS", "100"))


def _jpeg(color: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "JPEG")
    return out.getvalue()


def build(meta) -> dict:
    from django.contrib.auth import get_user_model

    from slotwise.messaging.models import ChannelConfig
    from slotwise.onboarding.template import install_driver_template
    from slotwise.org import services as org_services
    from slotwise.org.models import Organisation, Staff, StaffRole
    from slotwise.org.roles import Role

    tag = uuid.uuid4().hex[:8]
    org = Organisation.objects.create(
        name=f"Bench onboarding {tag}",
        slug=f"bench-onboarding-{tag}",
        country="RU",
        time_zone="Europe/Moscow",
        currency="RUB",
        default_language="ru",
    )
    unit = org_services.org_unit_create(organisation=org, name="Onboarding", kind="department")
    user = get_user_model().objects.create(username=f"bench-onb-{tag}", first_name="Manager")
    staff = Staff.objects.create(organisation=org, user=user, unit=unit, active_from="2020-01-01")
    StaffRole.objects.create(staff=staff, role=Role.MANAGER)
    flow, _created = install_driver_template(org, unit=unit)
    for key, value in meta.env(prefix="BENCH_META").items():
        os.environ[key] = value
    whatsapp = ChannelConfig.objects.create(
        organisation=org,
        kind="whatsapp",
        name="WhatsApp",
        settings=meta.whatsapp_settings(prefix="BENCH_META"),
    )
    consoles = {}
    for medium in ("telegram", "viber", "sms"):
        settings = {"medium": medium}
        if medium == "telegram":
            settings["bot_username"] = "bench_driveon_bot"
        if medium == "viber":
            settings["chat_uri"] = "benchdriveon"
        consoles[medium] = ChannelConfig.objects.create(
            organisation=org, kind="console", name=f"Console {medium}", settings=settings
        )
    return {
        "org": org,
        "user": user,
        "flow": flow,
        "whatsapp": whatsapp,
        "consoles": consoles,
        "tag": tag,
    }


def cleanup(data: dict | None) -> None:
    """Delete everything the benchmark made, its history rows, task rows and stored files."""
    if not data:
        return
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection

    from slotwise.customers.models import Contact
    from slotwise.messaging.models import Attachment, ChannelConfig, Conversation, Message
    from slotwise.onboarding.models import Application, Flow, FlowRun
    from slotwise.org.models import Organisation, OrgUnit, Staff

    org = data["org"]
    attachment_ids = list(Attachment.objects.filter(organisation=org).values_list("pk", flat=True))
    FlowRun.objects.filter(organisation=org).delete()
    Application.objects.filter(organisation=org).delete()
    Message.objects.filter(organisation=org).delete()
    Conversation.objects.filter(organisation=org).delete()
    Contact.objects.filter(organisation=org).delete()
    Flow.objects.filter(organisation=org).delete()
    ChannelConfig.objects.filter(organisation=org).delete()
    Staff.objects.filter(organisation=org).delete()
    for unit in sorted(
        OrgUnit.objects.filter(organisation=org), key=lambda u: len(u.path), reverse=True
    ):
        unit.delete()
    Organisation.objects.filter(pk=org.pk).delete()
    get_user_model().objects.filter(pk=data["user"].pk).delete()
    with connection.cursor() as cur:
        for table in connection.introspection.table_names():
            if "_historical" not in table:
                continue
            cols = {c.name for c in connection.introspection.get_table_description(cur, table)}
            if table.endswith("_historicalorganisation"):
                cur.execute(f'DELETE FROM "{table}" WHERE id = %s', [org.pk])
            elif "organisation_id" in cols:
                cur.execute(f'DELETE FROM "{table}" WHERE organisation_id = %s', [org.pk])
            elif table.endswith("_historicaluser"):
                cur.execute(f'DELETE FROM "{table}" WHERE id = %s', [data["user"].pk])
    with contextlib.suppress(Exception):
        from django_tasks_db.models import DBTaskResult

        wanted = {json.dumps([pk]) for pk in attachment_ids}
        stale = [
            r.pk
            for r in DBTaskResult.objects.filter(task_path__endswith="fetch_attachment").only(
                "pk", "args_kwargs"
            )
            if json.dumps(r.args_kwargs.get("args", [])) in wanted
        ]
        DBTaskResult.objects.filter(pk__in=stale).delete()
    shutil.rmtree(os.path.join(settings.MEDIA_ROOT, "messaging", str(org.pk)), ignore_errors=True)


# --- the worker -------------------------------------------------------------------------------


def pump(data: dict, meta) -> None:
    """What `manage.py worker` does, until nothing is left."""
    from slotwise.messaging.inbound import inbound_process_pending
    from slotwise.messaging.media import attachment_fetch
    from slotwise.messaging.models import Attachment
    from slotwise.messaging.outbox import dispatch_due
    from slotwise.onboarding.engine import check_documents_pending

    for _ in range(100):
        done = inbound_process_pending(limit=500)
        pending = Attachment.objects.filter(organisation=data["org"], status="pending")
        for pk in pending.values_list("pk", flat=True):
            attachment_fetch(attachment_id=pk)
            done += 1
        check_documents_pending()
        done += dispatch_due(limit=500)
        done += len(meta.flush())
        if not done:
            return


# --- the drivers ------------------------------------------------------------------------------


class Bench:
    def __init__(self, data: dict, meta) -> None:
        self.data = data
        self.meta = meta
        self.accepted: list[tuple[str, object]] = []  # (address, when the answer was accepted)
        self.addresses: list[set[str]] = []  # every address of each driver
        self.photos = [_jpeg(c) for c in ("red", "green", "blue", "white")]

    def _accepted(self, address: str) -> None:
        from django.utils import timezone

        self.accepted.append((address, timezone.now()))

    def console(self, medium: str, sender: str, text: str = "", *, photo=None, data=None):
        import base64

        from slotwise.messaging.channels.base import InboundMedia, InboundMessage, InboundResult
        from slotwise.messaging.inbound import inbound_accept

        media = ()
        if photo is not None:
            uri = f"data:image/jpeg;base64,{base64.b64encode(photo).decode()}"
            media = (InboundMedia(ref=uri, content_type="image/jpeg", filename="photo.jpg"),)
        item = InboundMessage(
            event_id=uuid.uuid4().hex, sender=sender, text=text, media=media, data=data or {}
        )
        self._accepted(sender)
        inbound_accept(config=self.data["consoles"][medium], result=InboundResult(messages=(item,)))

    def whatsapp(self, payload: dict, wa: str) -> None:
        self._accepted(wa)
        status = self.meta.deliver(payload)
        if status != 200:
            raise RuntimeError(f"WhatsApp webhook answered {status}")

    def code_for(self, phone: str) -> str:
        from slotwise.messaging.models import Message

        body = (
            Message.objects.filter(to=phone, purpose__startswith="onboarding.")
            .order_by("-id")
            .values_list("body", flat=True)
            .first()
        )
        return re.search(r"\b(\d{6})\b", body or "").group(1)

    def application(self, **filters):
        from slotwise.onboarding.models import Application

        return Application.objects.filter(organisation=self.data["org"], **filters).first()

    def wait_for(self, application, *statuses):
        while True:
            application.refresh_from_db(fields=["status"])
            if application.status in statuses:
                return
            yield

    def approve(self, application):
        from slotwise.onboarding import services

        yield from self.wait_for(application, "in_review")
        services.application_approve(application=application, actor=self.data["user"])

    def whatsapp_driver(self, i: int):
        from slotwise.onboarding import services

        meta = self.meta
        phone = f"+7916{i:07d}"
        wa = phone[1:]
        self.addresses.append({phone, wa})
        application = services.application_create(
            organisation=self.data["org"],
            first_name=f"Driver{i}",
            last_name="Whatsapp",
            phone=phone,
            source="api",
        )
        yield
        self.whatsapp(meta.whatsapp_text(wa, "Здравствуйте", name=f"Driver{i}"), wa)
        yield
        self.whatsapp(meta.whatsapp_text(wa, self.code_for(phone)), wa)
        yield
        for photo in self.photos[:3]:
            self.whatsapp(meta.whatsapp_media(wa, photo, "image/jpeg"), wa)
            yield
        self.whatsapp(meta.whatsapp_button_reply(wa, "Свой автомобиль", "Свой автомобиль"), wa)
        yield
        self.whatsapp(meta.whatsapp_media(wa, self.photos[3], "image/jpeg"), wa)
        yield
        yield from self.approve(application)

    def telegram_driver(self, i: int):
        sender = f"70{i:07d}"
        phone = f"+7925{i:07d}"
        self.addresses.append({sender, phone})
        self.console("telegram", sender, "/start")
        yield
        self.console("telegram", sender, phone)
        yield
        self.console("telegram", sender, f"Driver{i} Telegram")
        yield
        self.console("telegram", sender, self.code_for(phone))
        yield
        for photo in self.photos[:3]:
            self.console("telegram", sender, photo=photo)
            yield
        self.console("telegram", sender, "2")
        yield
        application = self.application(contact__phone=phone)
        yield from self.approve(application)

    def viber_driver(self, i: int):
        from slotwise.onboarding import services

        phone = f"+7926{i:07d}"
        user = f"vb{i:07d}=="
        self.addresses.append({user, phone, phone[1:]})
        application = services.application_create(
            organisation=self.data["org"],
            first_name=f"Driver{i}",
            last_name="Viber",
            phone=phone,
            source="api",
        )
        yield
        yield from self.wait_for(application, "message_not_sent")
        services.application_send_link(application=application, actor=self.data["user"])
        yield
        from slotwise.messaging.models import Message

        sms = Message.objects.filter(to=phone, purpose="onboarding.link").latest("id").body
        token = re.search(r"context=([\w-]+)", sms).group(1)
        self.console(
            "viber",
            user,
            data={"event": "conversation_started", "context": token, "subscribed": False},
        )
        yield
        self.console("viber", user, self.code_for(phone))
        yield
        for photo in self.photos[:3]:
            self.console("viber", user, photo=photo)
            yield
        self.console("viber", user, "Автомобиль парка")
        yield
        yield from self.approve(application)

    def run(self) -> float:
        scripts = []
        for i in range(DRIVERS):
            kind = i % 3
            if kind == 0:
                scripts.append(self.whatsapp_driver(i))
            elif kind == 1:
                scripts.append(self.telegram_driver(i))
            else:
                scripts.append(self.viber_driver(i))
        started = time.perf_counter()
        rounds = 0
        while scripts:
            rounds += 1
            alive = []
            for script in scripts:
                try:
                    next(script)
                    alive.append(script)
                except StopIteration:
                    pass
            scripts = alive
            pump(self.data, self.meta)
            if rounds > 200:
                raise RuntimeError("the drivers did not finish")
        return time.perf_counter() - started


def measure(bench: Bench, seconds: float) -> dict:
    from django.db.models import Count

    from slotwise.messaging.models import Message
    from slotwise.onboarding.models import Application

    org = bench.data["org"]
    apps = list(Application.objects.filter(organisation=org).select_related("contact"))
    bot = Message.objects.filter(organisation=org, direction="out", by_bot=True)
    per_contact = dict(bot.values_list("contact_id").annotate(n=Count("id")))
    bot_counts = [per_contact.get(a.contact_id, 0) for a in apps]
    # Every message with a driver on one contact: all messages to or from any of the driver's
    # addresses (WhatsApp, SMS, the messenger) share one contact.
    contacts_per_driver = [
        Message.objects.filter(organisation=org, to__in=addresses)
        .values("contact_id")
        .distinct()
        .count()
        for addresses in bench.addresses
    ]
    sent = {}
    for to, created, sent_at in bot.filter(sent_at__isnull=False).values_list(
        "to", "created_at", "sent_at"
    ):
        sent.setdefault(to, []).append((created, sent_at))
    latencies = []
    for address, when in bench.accepted:
        replies = sorted(sent.get(address, []))
        index = bisect.bisect_left(replies, (when,))
        if index < len(replies):
            latencies.append((replies[index][1] - when).total_seconds() * 1000)
    stray = Message.objects.filter(organisation=org, contact__isnull=True).count()
    return {
        "bench": "onboarding",
        "drivers": DRIVERS,
        "approved": sum(1 for a in apps if a.status == "approved"),
        "bot_messages_p50": statistics.median(bot_counts) if bot_counts else None,
        "manager_actions_per_driver": round(sum(a.manager_actions for a in apps) / DRIVERS, 2),
        "manager_actions_max": max((a.manager_actions for a in apps), default=None),
        "reply_ms_p50": round(percentile(latencies, 0.5), 1) if latencies else None,
        "reply_ms_p95": round(percentile(latencies, 0.95), 1) if latencies else None,
        "contacts_per_driver": round(sum(contacts_per_driver) / DRIVERS, 2),
        "contacts_per_driver_max": max(contacts_per_driver, default=None),
        "messages_without_contact": stray,
        "seconds": round(seconds, 1),
    }


def _time_the_bot() -> list[float]:
    """Wrap the bot's inbound hook to time it: what the bot itself costs per message (inside
    the inbound processing transaction), apart from the channels and the batch it waits in."""
    from slotwise.messaging import inbound
    from slotwise.onboarding import engine

    timings: list[float] = []

    def timed(message) -> None:
        t0 = time.perf_counter()
        engine.on_inbound(message)
        timings.append((time.perf_counter() - t0) * 1000)

    inbound.INBOUND_HOOKS[:] = [
        timed if hook is engine.on_inbound else hook for hook in inbound.INBOUND_HOOKS
    ]
    return timings


def main() -> None:
    setup_django()
    import logging

    for name in ("slotwise.messaging.console", "slotwise.core.http"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from slotwise.messaging.channels.base import InboundRequest
    from slotwise.messaging.fakes.meta import MetaFake
    from slotwise.messaging.inbound import inbound_receive

    not_on_whatsapp = [f"7926{i:07d}" for i in range(DRIVERS) if i % 3 == 2]
    data = None
    with MetaFake(not_on_whatsapp=not_on_whatsapp) as meta:
        try:
            data = build(meta)
            config = data["whatsapp"]

            def sender(url, raw, headers):
                request = InboundRequest(
                    method="POST",
                    body=raw,
                    headers={k.lower(): v for k, v in headers.items()},
                    query={},
                    url=url or "http://bench/",
                )
                status, _type, _body = inbound_receive(
                    kind="whatsapp", key=config.inbound_key, request=request
                )
                return status

            meta.webhook_sender = sender
            bench = Bench(data, meta)
            hook_ms = _time_the_bot()
            log(f"onboarding: {DRIVERS} drivers (WhatsApp, Telegram, SMS link → Viber)")
            seconds = bench.run()
            result = measure(bench, seconds)
            result["bot_ms_per_answer_p50"] = round(percentile(hook_ms, 0.5), 1)
            result["bot_ms_per_answer_p95"] = round(percentile(hook_ms, 0.95), 1)
        finally:
            cleanup(data)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
