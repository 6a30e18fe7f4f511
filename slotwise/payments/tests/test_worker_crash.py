"""Issue 4, "Must hold": a worker killed after calling the provider but before saving — on restart
the payment is reconciled by fetching its status: never charged twice, never lost.

Real worker processes on the test database (PostgreSQL): the first one runs `start_payment` with
the test provider's `prepare` wrapped so the process SIGKILLs itself right after the provider
answered (the kill point exists only in this test's wrapper script); a second worker then runs
the periodic reconciliation, which asks the provider again with the same idempotency key.
"""

import datetime
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from slotwise.core.money import Money
from slotwise.payments import jobs, services
from slotwise.payments.models import Payment, PaymentStatus, ProviderConfig, StatusChange
from slotwise.payments.providers.test.provider import TestProvider
from slotwise.tests_factories import ContactFactory, OrganisationFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]

ROOT = Path(__file__).resolve().parents[3]

WRAPPER = textwrap.dedent(
    """
    import os, signal, sys, uuid
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slotwise.settings")
    import django
    django.setup()
    from slotwise.payments.providers.test.provider import TestProvider

    original = TestProvider.prepare

    def prepare(self, request):
        reference = "tp_" + uuid.uuid5(uuid.NAMESPACE_URL, request.idempotency_key).hex
        existed = self.remote(reference) is not None
        state = original(self, request)
        with open(os.environ["CRASH_LOG"], "a") as fh:
            fh.write(f"{state.reference} {'existing' if existed else 'created'}\\n")
        if os.environ.get("CRASH_KILL_AFTER_PROVIDER") == "1":
            os.kill(os.getpid(), signal.SIGKILL)  # after the provider answered, before saving
        return state

    TestProvider.prepare = prepare
    from django.core.management import call_command
    call_command("worker", *sys.argv[1:])
    """
)


def _run_worker(tmp_path, *, kill: bool, periodic: bool) -> subprocess.CompletedProcess:
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}"
        + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        + f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = dict(
        os.environ,
        DATABASE_URL=url,
        SLOTWISE_TESTING="1",
        DJANGO_SETTINGS_MODULE="slotwise.settings",
        CRASH_LOG=str(tmp_path / "provider-calls.log"),
        CRASH_KILL_AFTER_PROVIDER="1" if kill else "0",
        DB_POOL_MAX_SIZE="0",
    )
    args = ["--batch", "--interval", "0", "--queue-name", "*", "--no-startup-delay"]
    args += ["--no-reload", "-v", "0"]
    if not periodic:
        args.append("--no-periodic")
    return subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _calls(tmp_path) -> list[tuple[str, str]]:
    log = tmp_path / "provider-calls.log"
    if not log.exists():
        return []
    return [tuple(line.split()) for line in log.read_text().splitlines()]


@pytest.mark.parametrize("paid_meanwhile", [False, True], ids=["open", "paid-meanwhile"])
def test_killed_worker_is_reconciled_never_charged_twice_never_lost(tmp_path, paid_meanwhile):
    org = OrganisationFactory(country="SE", time_zone="Europe/Stockholm", currency="SEK")
    ProviderConfig.objects.create(organisation=org, provider="test")
    payment = services.payment_create(
        organisation=org,
        provider="test",
        amount=Money.of("349.00", "SEK"),
        contact=ContactFactory(organisation=org),
    )
    jobs.start_payment.enqueue(payment_id=payment.pk)

    first = _run_worker(tmp_path, kill=True, periodic=False)
    assert first.returncode == -9, first.stderr[-2000:]  # really killed, mid-task
    calls = _calls(tmp_path)
    assert len(calls) == 1 and calls[0][1] == "created"  # the provider did create it
    reference = calls[0][0]
    payment.refresh_from_db()
    assert payment.provider_reference == "" and payment.status == PaymentStatus.CREATED
    assert TestProvider.remote(reference)["payment_id"] == str(payment.public_id)

    if paid_meanwhile:  # the payer paid on the provider's side while nothing here knew
        TestProvider().remote_pay(reference)
    # Restart later: the job leaves payments younger than RECONCILE_AFTER to their callbacks.
    Payment.objects.filter(pk=payment.pk).update(
        created_at=timezone.now() - jobs.RECONCILE_AFTER - datetime.timedelta(minutes=1)
    )
    second = _run_worker(tmp_path, kill=False, periodic=True)
    assert second.returncode == 0, second.stderr[-2000:]

    calls = _calls(tmp_path)
    assert calls == [(reference, "created"), (reference, "existing")]  # never charged twice
    payment.refresh_from_db()
    assert payment.provider_reference == reference  # never lost
    if paid_meanwhile:
        assert payment.status == PaymentStatus.PAID
        assert payment.paid_amount == payment.amount
        assert StatusChange.objects.filter(payment=payment, new_status="paid").count() == 1
    else:
        assert payment.status == PaymentStatus.PENDING
        assert payment.next_action["kind"] == "redirect"  # the payer can go on paying
