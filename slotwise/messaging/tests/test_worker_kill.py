"""Issue 5, "Must hold": a worker killed between "claimed" and "sent" and restarted — every
message is delivered exactly once to the provider (its idempotency key honoured) and ends sent.

Real `manage.py worker` processes on the test database (PostgreSQL) send SMS through the Twilio
channel to the local Twilio fake, which holds its answers: the fake has recorded (and
delivered) the messages, the worker waits for the answer and has not recorded `sent` — and is
SIGKILLed right then. A second worker, with a one-second claim lease, finds the messages still
`sending` with an expired lease, claims them again and sends them with the same idempotency
keys: the fake answers with the messages it already has and delivers nothing twice.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from slotwise.customers.models import Contact
from slotwise.messaging.fakes.twilio import TwilioFake
from slotwise.messaging.inbound import conversation_for
from slotwise.messaging.models import Message, MessageStatus
from slotwise.messaging.outbox import message_queue
from slotwise.messaging.testing import make_channel
from slotwise.tests_factories import OrganisationFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]

ROOT = Path(__file__).resolve().parents[3]
TOKEN_ENV = "TWILIO_KILL_TEST_AUTH_TOKEN"


class HoldingTwilioFake(TwilioFake):
    """The Twilio fake, but while `holding` is set every Messages POST is recorded and the
    message created (delivered) before the answer is held back until `release` is set."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.holding = threading.Event()
        self.release = threading.Event()
        self.arrived = threading.Event()

    def _create_message(self, form, token):
        answer = super()._create_message(form, token)
        if self.holding.is_set():
            self.arrived.set()
            self.release.wait(60)
        return answer


def _start_worker(fake, log: Path, *, lease: int) -> subprocess.Popen:
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}"
        + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        + f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = dict(
        os.environ,
        **fake.env(TOKEN_ENV),
        DATABASE_URL=url,
        SLOTWISE_TESTING="1",
        DJANGO_SETTINGS_MODULE="slotwise.settings",
        DB_POOL_MAX_SIZE="0",
        MESSAGING_CLAIM_LEASE_SECONDS=str(lease),
        MESSAGING_PUMP_IDLE_SECONDS="0.1",
    )
    cmd = [sys.executable, "manage.py", "worker", "--queue-name", "*", "--no-startup-delay"]
    cmd += ["--no-reload", "--no-periodic", "--interval", "0.5", "-v", "0"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    proc.log_path = log
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _log(proc: subprocess.Popen) -> str:
    path = getattr(proc, "log_path", None)
    return path.read_text(errors="replace")[-3000:] if path and path.exists() else ""


def _wait_until(condition, timeout: float, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(
                f"the worker exited ({proc.returncode}) while waiting for {what}: {_log(proc)}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_killed_worker_restarted_delivers_every_message_exactly_once(tmp_path):
    fake = HoldingTwilioFake().start()
    os.environ[TOKEN_ENV] = fake.auth_token
    workers = []
    try:
        org = OrganisationFactory(country="SE")
        config = make_channel(org, "twilio", fake.settings(TOKEN_ENV))
        messages = []
        for i in range(3):  # three customers, two messages each
            phone = f"+4670123450{i}"
            contact = Contact.objects.create(organisation=org, first_name=f"C{i}", phone=phone)
            conversation = conversation_for(contact=contact, config=config, address=phone)
            for n in range(2):
                messages.append(message_queue(conversation=conversation, body=f"Hej {i}.{n}"))
        keys = {str(m.idempotency_key) for m in messages}

        fake.holding.set()
        first = _start_worker(fake, tmp_path / "first.log", lease=120)
        workers.append(first)
        # The fake has the message (delivered to the handset) and holds its answer back …
        _wait_until(fake.arrived.is_set, 120, "the first send", first)
        time.sleep(0.5)  # let any parallel sends of the same pass arrive too
        received = fake.deliveries_by_key()
        assert received and set(received) <= keys
        # … and the worker has not recorded "sent": kill it right there.
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert first.returncode == -signal.SIGKILL
        statuses = dict(Message.objects.values_list("idempotency_key", "status"))
        assert MessageStatus.SENT not in statuses.values()
        for key in received:
            assert statuses[uuid.UUID(key)] == MessageStatus.SENDING
        fake.holding.clear()
        fake.release.set()

        # Restart: the lease of the dead worker's claims has run out (1 s here).
        second = _start_worker(fake, tmp_path / "second.log", lease=1)
        workers.append(second)
        _wait_until(
            lambda: not Message.objects.exclude(status=MessageStatus.SENT).exists(),
            120,
            "every message sent",
            second,
        )
        # Every message delivered exactly once; the killed ones were sent twice with the same
        # idempotency key, and the fake answered the second call with the message it had.
        assert fake.deliveries_by_key() == {key: 1 for key in keys}
        attempts = fake.attempts_by_key()
        for key in keys:
            assert attempts[key] == (2 if key in received else 1), (key, attempts)
        assert len(fake.sent()) == len(messages)
        sids = {r["sid"] for r in fake.sent()}
        for message in Message.objects.all():
            assert message.status == MessageStatus.SENT
            assert message.provider_message_id in sids
        assert len({m.provider_message_id for m in Message.objects.all()}) == len(messages)
    finally:
        fake.release.set()
        for proc in workers:
            _stop(proc)
        fake.stop()
        os.environ.pop(TOKEN_ENV, None)
