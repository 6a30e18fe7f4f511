"""The periodic reconciliation job and the worker's periodic-task scheduler."""

import datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from slotwise.core.management.commands import worker
from slotwise.core.money import Money
from slotwise.core.testing import run_together
from slotwise.payments import jobs, services
from slotwise.payments.models import Payment, PaymentStatus, StatusChange
from slotwise.payments.providers.test.provider import TestProvider

RECONCILE_PATH = jobs.reconcile_open_payments.module_path


def _payment(org, contact, *, start=True, age_minutes=10, **kwargs) -> Payment:
    payment = services.payment_create(
        organisation=org,
        provider="test",
        amount=Money.of("120.00", "SEK"),
        contact=contact,
        **kwargs,
    )
    if start:
        payment = services.payment_start(payment=payment)
    Payment.objects.filter(pk=payment.pk).update(
        created_at=timezone.now() - datetime.timedelta(minutes=age_minutes)
    )
    payment.refresh_from_db()
    return payment


@pytest.mark.django_db
class TestReconcileOpen:
    def test_lost_callback_is_recovered_by_fetching_the_state(self, org, contact, test_provider):
        payment = _payment(org, contact)
        test_provider.remote_pay(payment.provider_reference)  # the callback never arrives
        counts = jobs.reconcile_open()
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.PAID
        assert counts["reconciled"] == 1 and counts["changed"] == 1
        # Running again changes nothing and writes no second transition.
        jobs.reconcile_open()
        assert StatusChange.objects.filter(payment=payment, new_status="paid").count() == 1

    def test_recent_payments_are_left_to_their_callbacks(self, org, contact, test_provider):
        payment = _payment(org, contact, age_minutes=1)
        test_provider.remote_pay(payment.provider_reference)
        jobs.reconcile_open()
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.PENDING

    def test_unsaved_start_is_asked_again_with_the_same_key(self, org, contact, test_provider):
        payment = _payment(org, contact, start=False)
        # The provider answered, then the process died before saving.
        remote = test_provider.prepare(services._request_for(payment))
        assert Payment.objects.get(pk=payment.pk).provider_reference == ""
        counts = jobs.reconcile_open()
        payment.refresh_from_db()
        assert counts["reasked"] == 1
        assert payment.provider_reference == remote.reference
        assert payment.status == PaymentStatus.PENDING

    def test_expired_payment_is_cancelled_remotely_and_here(self, org, contact, test_provider):
        payment = _payment(org, contact, expires_at=timezone.now() + datetime.timedelta(minutes=1))
        jobs.reconcile_open(now=timezone.now() + datetime.timedelta(minutes=2))
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.CANCELLED
        assert TestProvider.remote(payment.provider_reference)["status"] == "cancelled"

    def test_expired_but_captured_ends_paid(self, org, contact, test_provider):
        payment = _payment(org, contact, expires_at=timezone.now() + datetime.timedelta(minutes=1))
        test_provider.remote_pay(payment.provider_reference)
        jobs.reconcile_open(now=timezone.now() + datetime.timedelta(minutes=2))
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.PAID  # money facts win over our cancellation

    def test_link_waiting_for_a_choice_is_not_started(self, org, contact, test_provider):
        payment = _payment(org, contact, start=False)
        Payment.objects.filter(pk=payment.pk).update(next_action={"kind": "choose"})
        counts = jobs.reconcile_open()
        payment.refresh_from_db()
        assert counts["reasked"] == 0
        assert payment.provider_reference == "" and payment.status == PaymentStatus.CREATED

    def test_manual_and_settled_payments_are_ignored(self, org, contact, test_provider):
        from slotwise.tests_factories import StaffFactory

        staff = StaffFactory(unit__organisation=org)
        services.manual_payment_record(
            organisation=org, method="cash", amount=Money.of("10", "SEK"), received_by=staff
        )
        counts = jobs.reconcile_open()
        assert counts == {"expired": 0, "reconciled": 0, "reasked": 0, "changed": 0, "errors": 0}

    def test_one_failing_provider_does_not_stop_the_rest(self, org, contact, test_provider):
        broken = _payment(org, contact)
        good = _payment(org, contact, age_minutes=9)
        from django.core.cache import cache

        cache.delete(f"payments:test:{broken.provider_reference}")  # retrieve → ProviderError
        test_provider.remote_pay(good.provider_reference)
        counts = jobs.reconcile_open()
        good.refresh_from_db()
        assert counts["errors"] == 1
        assert good.status == PaymentStatus.PAID


@pytest.mark.django_db
class TestPeriodicScheduler:
    def test_once_per_slot(self):
        now = timezone.now()
        assert worker.enqueue_if_due("payments.reconcile", now=now) is True
        assert worker.enqueue_if_due("payments.reconcile", now=now) is False
        assert DBTaskResult.objects.filter(task_path=RECONCILE_PATH).count() == 1

    def test_a_new_slot_enqueues_again(self):
        now = timezone.now()
        worker.enqueue_if_due("payments.reconcile", now=now)
        # A task enqueued in an earlier slot does not count for the next one.
        DBTaskResult.objects.update(enqueued_at=now - datetime.timedelta(seconds=61))
        assert worker.enqueue_if_due("payments.reconcile", now=now) is True

    def test_scheduler_skips_a_slot_it_has_seen(self, monkeypatch):
        # Only this app's job: other apps register their own (onboarding's every 30 s).
        monkeypatch.setattr(
            worker,
            "PERIODIC_TASKS",
            {"payments.reconcile": worker.PERIODIC_TASKS["payments.reconcile"]},
        )
        calls = []
        monkeypatch.setattr(worker, "enqueue_if_due", lambda name, now: calls.append(name) or 1)
        scheduler = worker.PeriodicScheduler()
        now = datetime.datetime(2030, 1, 1, 12, 0, 5, tzinfo=datetime.UTC)
        assert scheduler.tick(now) == ["payments.reconcile"]
        assert scheduler.tick(now + datetime.timedelta(seconds=30)) == []
        assert scheduler.tick(now + datetime.timedelta(seconds=60)) == ["payments.reconcile"]
        assert len(calls) == 2

    def test_register_periodic(self, monkeypatch):
        monkeypatch.setattr(worker, "PERIODIC_TASKS", {})
        worker.register_periodic("x", RECONCILE_PATH, 30)
        assert worker.PERIODIC_TASKS == {"x": (RECONCILE_PATH, 30)}
        with pytest.raises(ValueError):
            worker.register_periodic("y", RECONCILE_PATH, 0)

    def test_slot_start(self):
        at = datetime.datetime(2030, 1, 1, 12, 0, 59, tzinfo=datetime.UTC)
        assert worker.slot_start(at, 60) == datetime.datetime(
            2030, 1, 1, 12, 0, tzinfo=datetime.UTC
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_many_workers_enqueue_once_per_slot():
    now = timezone.now()
    results: list[bool] = []

    def attempt() -> None:
        results.append(worker.enqueue_if_due("payments.reconcile", now=now))

    assert run_together(attempt, 8) == []
    assert sorted(results) == [False] * 7 + [True]
    assert DBTaskResult.objects.filter(task_path=RECONCILE_PATH).count() == 1


@pytest.mark.django_db(transaction=True)
def test_worker_enqueues_and_runs_the_reconcile_job(org, contact, test_provider):
    payment = _payment(org, contact)
    test_provider.remote_pay(payment.provider_reference)
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
        "periodic-test",
        verbosity=0,
    )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    result = DBTaskResult.objects.get(task_path=RECONCILE_PATH)
    assert result.status == "SUCCESSFUL"
    assert result.return_value["reconciled"] == 1
    # --no-periodic: nothing more is enqueued.
    DBTaskResult.objects.all().delete()
    call_command(
        "worker",
        "--batch",
        "--interval",
        "0",
        "--no-startup-delay",
        "--no-reload",
        "--no-periodic",
        verbosity=0,
    )
    assert not DBTaskResult.objects.exists()
