"""What /healthz reports: database, migrations and the task worker's heartbeat."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # any driver error means "not fine"
        return {"ok": False, "error": exc.__class__.__name__}


def check_migrations() -> dict:
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        return {"ok": not pending, "pending": len(pending)}
    except Exception as exc:
        return {"ok": False, "error": exc.__class__.__name__}


def check_worker() -> dict:
    from .models import WorkerHeartbeat

    try:
        newest = WorkerHeartbeat.objects.order_by("-seen_at").first()
    except Exception as exc:
        return {"ok": False, "error": exc.__class__.__name__}
    if newest is None:
        return {"ok": False, "error": "no worker has reported"}
    age = (timezone.now() - newest.seen_at).total_seconds()
    return {
        "ok": age <= settings.WORKER_HEARTBEAT_MAX_AGE,
        "worker_id": newest.worker_id,
        "seconds_since_heartbeat": round(age, 1),
    }


def report() -> tuple[bool, dict]:
    database = check_database()
    checks = {"database": database}
    if database["ok"]:
        checks["migrations"] = check_migrations()
        checks["worker"] = check_worker()
    else:
        checks["migrations"] = {"ok": False, "error": "database unavailable"}
        checks["worker"] = {"ok": False, "error": "database unavailable"}
    healthy = all(c["ok"] for c in checks.values())
    return healthy, {"status": "ok" if healthy else "fail", "checks": checks}


def record_heartbeat(worker_id: str, started_at) -> None:
    from .models import WorkerHeartbeat

    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id, defaults={"seen_at": now, "started_at": started_at}
    )
    # Forget workers that stopped long ago.
    WorkerHeartbeat.objects.filter(seen_at__lt=now - timedelta(days=1)).delete()
