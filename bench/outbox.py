"""The outbox delivering to a provider (issue 5, "outbox").

Builds its own organisation on PostgreSQL with a Twilio SMS channel pointed at the local Twilio
fake (a ThreadingHTTPServer in this process that speaks Twilio's Messages API, checks the basic
auth and honours `I-Twilio-Idempotency-Token`), 2,000 contacts with one SMS conversation each,
and starts two real `manage.py worker` processes (the task worker with its messaging pump
thread, as production runs it). When both are up it writes 10,000 queued outgoing messages (5
per conversation) in one transaction — the rows `message_queue` writes — and times the workers
until every one is `sent`:

- `per_s`: messages over the time from the commit to the last `sent_at`;
- `provider_delay_ms`: how long the fake holds each answer (BENCH_PROVIDER_DELAY_MS, default 0;
  a real provider is 50–300 ms away, which is what the sending threads are for);
- `lost`: queued messages that did not end `sent`, or whose idempotency key never reached the
  fake as a created message;
- `duplicates`: messages the fake delivered beyond one per idempotency key, plus messages the
  fake created beyond one per outbox row (a resend with the same key is answered with the same
  resource and is not a duplicate; `resent` counts those calls).

Everything it made is deleted afterwards, also on error.

    {"bench": "outbox", "messages": 10000, "workers": 2, "per_s": ..., "lost": 0,
     "duplicates": 0, ...}
"""

from __future__ import annotations

import json
import os
import time

from bench.booking_http import build_dataset, cleanup, log, postgres_cpu_seconds, setup_django
from bench.booking_http import tree_cpu_seconds as cpu_of
from bench.inbound import check_alive, delete_messaging, stop_on_sigterm, workers

MESSAGES = int(os.environ.get("BENCH_OUTBOX_MESSAGES", "10000"))
CONTACTS = 2000
WORKERS = 2
TOKEN_ENV = "BENCH_TWILIO_AUTH_TOKEN"
#: The fake answers at once over loopback; a real provider is tens to hundreds of milliseconds
#: away. BENCH_PROVIDER_DELAY_MS holds each answer back that long (after the message is created).
DELAY_MS = float(os.environ.get("BENCH_PROVIDER_DELAY_MS", "0"))


class SlowTwilioFake:
    """Mixed before TwilioFake: each Messages answer waits DELAY_MS."""

    def _create_message(self, form, token):
        answer = super()._create_message(form, token)
        time.sleep(DELAY_MS / 1000)
        return answer


def build(data: dict, fake) -> tuple:
    from slotwise.messaging.models import ChannelConfig, Conversation

    org = data["org"]
    config = ChannelConfig.objects.create(
        organisation=org, kind="twilio", name="SMS", settings=fake.settings(TOKEN_ENV)
    )
    conversations = Conversation.objects.bulk_create(
        Conversation(organisation=org, contact=contact, channel=config, address=contact.phone)
        for contact in data["contacts"]
    )
    return config, conversations


def queue_messages(config, conversations, count: int) -> None:
    """`count` queued messages, round-robin over the conversations, in one transaction: the
    same rows `outbox.message_queue` writes."""
    from django.db import transaction
    from django.utils import timezone

    from slotwise.messaging.models import Message, MessageKind, MessageStatus

    now = timezone.now()
    with transaction.atomic():
        Message.objects.bulk_create(
            (
                Message(
                    organisation_id=config.organisation_id,
                    conversation=conversation,
                    contact_id=conversation.contact_id,
                    channel_config=config,
                    direction=Message.Direction.OUT,
                    kind=MessageKind.TEXT,
                    channel="phone",
                    provider="twilio",
                    to=conversation.address,
                    body=f"Din tid är bekräftad: tisdag kl. 10:00 (#{i})",
                    purpose="booking.confirmed",
                    status=MessageStatus.QUEUED,
                    next_attempt_at=now,
                )
                for i, conversation in (
                    (i, conversations[i % len(conversations)]) for i in range(count)
                )
            ),
            batch_size=2000,
        )


def wait_until_up(ids: list[str], procs, timeout: float = 120) -> None:
    from slotwise.core.models import WorkerHeartbeat

    deadline = time.monotonic() + timeout
    while WorkerHeartbeat.objects.filter(worker_id__in=ids).count() < len(ids):
        check_alive(procs)
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not start")
        time.sleep(0.2)
    time.sleep(1.0)  # past the heartbeat: the pump thread is polling


def counts(config, fake) -> dict:
    from django.db.models import Count

    from slotwise.messaging.models import Message, MessageStatus

    rows = list(
        Message.objects.filter(channel_config=config).values_list("idempotency_key", "status")
    )
    delivered = fake.deliveries_by_key()
    attempts = fake.attempts_by_key()
    lost = sum(
        1 for key, status in rows if status != MessageStatus.SENT or delivered.get(str(key), 0) < 1
    )
    duplicates = sum(max(0, n - 1) for n in delivered.values())
    # Independent of the keys: message resources the fake created for one outbox row (each
    # row's body is unique) beyond the first.
    sids_per_to_body: dict[tuple[str, str], int] = {}
    for resource in fake.sent():
        key = (resource["to"], resource["body"])
        sids_per_to_body[key] = sids_per_to_body.get(key, 0) + 1
    duplicates += sum(max(0, n - 1) for n in sids_per_to_body.values())
    return {
        "lost": lost,
        "duplicates": duplicates,
        "resent": sum(max(0, n - 1) for n in attempts.values()),
        "statuses": dict(
            Message.objects.filter(channel_config=config)
            .values_list("status")
            .annotate(n=Count("id"))
        ),
    }


def measure(*, messages: int = MESSAGES) -> dict:
    from django.db import connection
    from django.db.models import Max

    from slotwise.messaging.fakes.twilio import TwilioFake
    from slotwise.messaging.models import Message, MessageStatus

    data = None
    fake = (type("Fake", (SlowTwilioFake, TwilioFake), {}) if DELAY_MS else TwilioFake)().start()
    os.environ[TOKEN_ENV] = fake.auth_token  # the workers inherit the environment
    try:
        data = build_dataset(label="outbox", n_staff=1, n_contacts=CONTACTS)
        config, conversations = build(data, fake)
        pending = Message.objects.filter(
            channel_config=config, status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]
        )
        with workers(WORKERS, label="outbox") as (ids, procs):
            wait_until_up(ids, procs)
            dbname = connection.settings_dict["NAME"]
            cpu0 = sum(cpu_of(p.pid) for p in procs)
            pg0 = postgres_cpu_seconds(dbname)
            own0 = time.process_time()
            queue_messages(config, conversations, messages)
            t0 = time.time()
            log(f"{messages} messages queued; {WORKERS} workers send them …")
            deadline = time.monotonic() + 900
            while pending.exists():
                check_alive(procs)
                if time.monotonic() > deadline:
                    raise RuntimeError("the workers did not send every message in time")
                time.sleep(0.2)
            workers_cpu = sum(cpu_of(p.pid) for p in procs) - cpu0
            pg_cpu = postgres_cpu_seconds(dbname) - pg0
            fake_cpu = time.process_time() - own0
        last = Message.objects.filter(channel_config=config).aggregate(last=Max("sent_at"))["last"]
        seconds = last.timestamp() - t0
        checks = counts(config, fake)
        log(f"statuses: {checks['statuses']}")
        return {
            "bench": "outbox",
            "provider": "twilio fake (idempotency tokens)",
            "workers": WORKERS,
            "messages": messages,
            "per_s": round(messages / seconds, 1),
            "seconds": round(seconds, 2),
            "lost": checks["lost"],
            "duplicates": checks["duplicates"],
            "resent": checks["resent"],
            "delivered_at_fake": fake.delivered_count(),
            "worker_cpu_ms_per_message": round(workers_cpu * 1000 / messages, 2),
            "postgres_cpu_ms_per_message": round(pg_cpu * 1000 / messages, 2),
            # This process: the Twilio fake's HTTP server (and queueing, polling).
            "fake_cpu_ms_per_message": round(fake_cpu * 1000 / messages, 2),
            "send_threads": int(os.environ.get("MESSAGING_SEND_THREADS", "8")),
            "provider_delay_ms": DELAY_MS,
            "machine_cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        try:
            if data:
                delete_messaging(data["org"])
        finally:
            cleanup(data)
            fake.stop()
            os.environ.pop(TOKEN_ENV, None)


def main() -> None:
    stop_on_sigterm()
    setup_django()
    print(json.dumps(measure()), flush=True)


if __name__ == "__main__":
    main()
