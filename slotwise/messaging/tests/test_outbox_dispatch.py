"""The dispatcher's pass: provider calls on several sending threads, one recipient's messages in
order, every result recorded on the right row (one UPDATE for the sent ones), errors per
message."""

import threading
import time

import pytest

from slotwise.messaging.channels.base import ChannelError, SendResult
from slotwise.messaging.channels.console.channel import ConsoleChannel
from slotwise.messaging.models import Message, MessageStatus
from slotwise.messaging.outbox import dispatch_due, message_queue
from slotwise.messaging.testing import make_channel
from slotwise.tests_factories import OrganisationFactory

pytestmark = pytest.mark.django_db


def test_a_pass_sends_in_parallel_in_order_per_recipient(monkeypatch, settings):
    settings.MESSAGING_SEND_THREADS = 4
    config = make_channel(OrganisationFactory(), "console", {"medium": "sms"})
    calls = []
    lock = threading.Lock()

    def send(self, message):
        time.sleep(0.01)
        with lock:
            calls.append((message.to, message.text, threading.current_thread().name))
        if message.text == "fail":
            raise ChannelError("refused", permanent=True)
        status = "delivered" if message.to.endswith("1") else "sent"
        return SendResult(external_id=f"id-{message.idempotency_key}", status=status)

    monkeypatch.setattr(ConsoleChannel, "send", send)
    queued = []
    for n in range(5):
        for to in ("+46700000001", "+46700000002", "+46700000003"):
            queued.append(message_queue(channel_config=config, to=to, body=f"{to} #{n}"))
    broken = message_queue(channel_config=config, to="+46700000004", body="fail")

    assert dispatch_due(limit=100) == 16
    for to in ("+46700000001", "+46700000002", "+46700000003"):
        assert [text for t, text, _ in calls if t == to] == [f"{to} #{n}" for n in range(5)]
    assert len({thread for *_rest, thread in calls}) > 1  # the calls overlapped
    for message in queued:
        message.refresh_from_db()
        assert message.provider_message_id == f"id-{message.idempotency_key}"
        assert message.attempts == 1 and message.claimed_at is None and message.sent_at
        if message.to.endswith("1"):
            assert message.status == MessageStatus.DELIVERED and message.delivered_at
        else:
            assert message.status == MessageStatus.SENT and message.delivered_at is None
    broken.refresh_from_db()
    assert broken.status == MessageStatus.FAILED and "refused" in broken.last_error
    assert dispatch_due(limit=100) == 0


def test_a_crash_in_a_send_leaves_the_message_to_its_lease(monkeypatch):
    config = make_channel(OrganisationFactory(), "console", {"medium": "sms"})

    def send(self, message):
        if message.to.endswith("2"):
            raise RuntimeError("a bug")
        return SendResult(external_id="ok")

    monkeypatch.setattr(ConsoleChannel, "send", send)
    good = message_queue(channel_config=config, to="+46700000001", body="a")
    bad = message_queue(channel_config=config, to="+46700000002", body="b")
    assert dispatch_due() == 2
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == MessageStatus.SENT
    assert bad.status == MessageStatus.SENDING and bad.claimed_at is not None
    assert Message.objects.filter(status=MessageStatus.QUEUED).count() == 0
