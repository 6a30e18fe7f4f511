"""A task enqueued while no worker runs is kept in the database and done once a worker starts."""

import threading
import time

import pytest
from django.core.management import call_command
from django.db import OperationalError

from slotwise.core.models import WorkerHeartbeat
from slotwise.messaging.models import Message
from slotwise.messaging.tasks import deliver_message


class PatientThread(threading.Thread):
    """A batch run can finish before the heartbeat thread is first scheduled (the worker only
    beats from its thread); give the first beat a moment, as a long-running worker would."""

    def start(self):
        super().start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if WorkerHeartbeat.objects.exists():
                    return
            except OperationalError:  # SQLite: the heartbeat thread is writing right now
                pass
            time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_enqueued_task_survives_until_worker_runs(settings, monkeypatch):
    from slotwise.core.management.commands import worker

    monkeypatch.setattr(worker.threading, "Thread", PatientThread)
    settings.SMS_PROVIDER = "console"
    message = Message.objects.create(
        channel="sms", provider="console", to="+31612345678", body="Your visit is confirmed"
    )
    result = deliver_message.enqueue(message.pk)
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED  # nothing ran yet
    assert WorkerHeartbeat.objects.count() == 0

    call_command(
        "worker",
        "--batch",
        "--interval",
        "0",
        "--queue-name",
        "*",
        "--no-startup-delay",
        "--no-reload",
        "--worker-id",
        "test-worker",
        verbosity=0,
    )

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 1  # sent exactly once
    assert message.sent_at is not None
    assert WorkerHeartbeat.objects.filter(worker_id="test-worker").exists()
    result.refresh()
    assert result.status == "SUCCESSFUL"
    assert result.return_value == Message.Status.SENT

    # A second worker run finds nothing to do and does not send again.
    call_command(
        "worker",
        "--batch",
        "--interval",
        "0",
        "--queue-name",
        "*",
        "--no-startup-delay",
        "--no-reload",
        verbosity=0,
    )
    message.refresh_from_db()
    assert message.attempts == 1
