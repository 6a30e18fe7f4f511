"""Periodic jobs of payments, run by the task worker (`manage.py worker` enqueues them at their
interval, see `slotwise/core/management/commands/worker.py`).

`reconcile_open_payments` keeps open payments honest when a callback or a worker was lost:

- an open payment whose `expires_at` passed is cancelled (`services.payment_cancel`; if the
  provider already captured it, its facts win and it ends paid — the booking rules then confirm
  or refund);
- an open payment older than `RECONCILE_AFTER` with a provider reference is brought up to date by
  fetching its state (`services.payment_reconcile` → `retrieve`): the backup for lost callbacks;
- a payment still `created` with no reference after `RECONCILE_AFTER` is asked for again with the
  same idempotency key (`payment_reconcile` → `prepare`): a worker or web process died after the
  provider answered but before the answer was saved, or the provider was unreachable. The
  provider returns the same remote payment, so the payer is never charged twice and the payment
  is never lost. A payment link whose client has not chosen a provider yet (next action
  ``choose``) is left alone until it expires.

Payments are only polled for `RECONCILE_WINDOW` after they were created (older ones stay for a
person to look at), at most `BATCH` per run, oldest first.
"""

from __future__ import annotations

import datetime
import logging

from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from . import services
from .models import OPEN_STATUSES, Payment, PaymentStatus
from .providers.base import ProviderError

logger = logging.getLogger(__name__)

#: How long an open payment is left to its callbacks before the job asks the provider.
RECONCILE_AFTER = datetime.timedelta(minutes=5)
#: Open payments older than this are no longer polled.
RECONCILE_WINDOW = datetime.timedelta(days=7)
#: Payments handled per run (the next run takes the rest).
BATCH = 200
#: The interval the worker enqueues `reconcile_open_payments` at (seconds).
EVERY_SECONDS = 60


def reconcile_open(*, now: datetime.datetime | None = None, batch: int = BATCH) -> dict[str, int]:
    """One pass of the reconciliation described above; returns counts per outcome."""
    now = now or timezone.now()
    counts = {"expired": 0, "reconciled": 0, "reasked": 0, "changed": 0, "errors": 0}
    online = Payment.objects.filter(status__in=OPEN_STATUSES).exclude(provider="manual")

    expired = online.filter(expires_at__lt=now).order_by("expires_at")
    for payment in expired[:batch]:
        try:
            after = services.payment_cancel(payment=payment, reason="expired")
        except Exception:  # one bad payment must not stop the others
            counts["errors"] += 1
            logger.exception("payments: cancelling expired payment %s failed", payment.pk)
            continue
        counts["expired"] += 1
        counts["changed"] += after.status != payment.status

    due = online.filter(
        created_at__lt=now - RECONCILE_AFTER, created_at__gte=now - RECONCILE_WINDOW
    ).filter(Q(expires_at__isnull=True) | Q(expires_at__gte=now))
    # (has_key first: a missing key compares as NULL, and NOT NULL would exclude every row)
    unstarted_links = Q(provider_reference="", next_action__has_key="kind") & Q(
        next_action__kind="choose"
    )
    for payment in due.exclude(unstarted_links).order_by("created_at")[:batch]:
        reasked = not payment.provider_reference
        try:
            after = services.payment_reconcile(payment=payment)
        except ProviderError as exc:
            counts["errors"] += 1
            logger.warning("payments: reconciling payment %s failed: %s", payment.pk, exc)
            continue
        except Exception:
            counts["errors"] += 1
            logger.exception("payments: reconciling payment %s failed", payment.pk)
            continue
        counts["reasked" if reasked else "reconciled"] += 1
        counts["changed"] += after.status != payment.status
    return counts


@task()
def reconcile_open_payments() -> dict[str, int]:
    """The periodic task (registered in the worker's PERIODIC_TASKS)."""
    return reconcile_open()


@task()
def start_payment(*, payment_id: int) -> str:
    """Create a payment at its provider from the worker (flows that don't wait for the provider
    in a request). A crash after the provider answered is repaired by `reconcile_open`."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != PaymentStatus.CREATED:
        return payment.status
    return services.payment_start(payment=payment).status
