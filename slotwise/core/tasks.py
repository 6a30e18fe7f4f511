"""Enqueueing jobs together with the change that causes them (ARCHITECTURE rule 3, the outbox).

With the database task backend (django-tasks-db, the default) a job is a row in the same
database, so it is written *inside* the caller's transaction: the job commits or rolls back with
the change that caused it. Nothing is lost if the process dies between the commit and an
after-commit hook, and there is no second transaction per request (which was measurable on the
booking path). With any other backend (a broker the transaction can't cover) the job is enqueued
after commit, as before.
"""

from __future__ import annotations

from typing import Any

from django.db import router, transaction


def _stores_jobs_here(task) -> bool:
    try:
        from django_tasks_db.backend import DatabaseBackend
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # pragma: no cover - the backend is a dependency
        return False
    if not isinstance(task.get_backend(), DatabaseBackend):
        return False
    return router.db_for_write(DBTaskResult) == "default"


def enqueue_with_transaction(task, *args: Any, **kwargs: Any) -> None:
    """Enqueue `task(*args, **kwargs)` as part of the current transaction (database backend) or
    after it commits (any other backend). Outside a transaction it is enqueued at once."""
    if transaction.get_connection().in_atomic_block and not _stores_jobs_here(task):
        transaction.on_commit(lambda: task.enqueue(*args, **kwargs))
        return
    task.enqueue(*args, **kwargs)
