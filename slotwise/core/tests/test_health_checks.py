from datetime import timedelta

import pytest
from django.core import checks
from django.utils import timezone

from slotwise.core.health import record_heartbeat
from slotwise.core.models import WorkerHeartbeat


@pytest.mark.django_db
def test_healthz_503_without_worker(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["migrations"]["ok"] is True
    assert body["checks"]["worker"]["ok"] is False


@pytest.mark.django_db
def test_healthz_200_after_heartbeat(client):
    record_heartbeat("w1", timezone.now())
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "ok"
    for name in ("database", "migrations", "worker"):
        assert body["checks"][name]["ok"] is True, name
    assert body["checks"]["worker"]["worker_id"] == "w1"


@pytest.mark.django_db
def test_healthz_503_when_heartbeat_stale(client, settings):
    settings.WORKER_HEARTBEAT_MAX_AGE = 60
    record_heartbeat("w1", timezone.now())
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(seconds=300))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["ok"] is False


@pytest.mark.django_db
def test_record_heartbeat_updates_and_forgets_old_workers():
    started = timezone.now()
    WorkerHeartbeat.objects.create(
        worker_id="old", seen_at=started - timedelta(days=3), started_at=started - timedelta(days=4)
    )
    record_heartbeat("w1", started)
    record_heartbeat("w1", started)
    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == ["w1"]


def _warnings():
    return [m for m in checks.run_checks() if m.id == "slotwise.W001"]


def test_check_warns_when_integration_on_without_secrets(settings):
    settings.TWILIO_ENABLED = True
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    settings.TWILIO_FROM = "+15550001"
    found = _warnings()
    assert len(found) == 1
    assert "TWILIO_ENABLED" in found[0].msg
    assert "TWILIO_ACCOUNT_SID" in found[0].msg and "TWILIO_AUTH_TOKEN" in found[0].msg
    assert "TWILIO_FROM" not in found[0].msg
    assert found[0].level == checks.WARNING


def test_check_quiet_when_configured_or_off(settings):
    for flag in settings.INTEGRATION_SECRETS:
        setattr(settings, flag, False)
    assert _warnings() == []
    settings.TWILIO_ENABLED = True
    settings.TWILIO_ACCOUNT_SID = "AC1"
    settings.TWILIO_AUTH_TOKEN = "tok"
    settings.TWILIO_FROM = "+15550001"
    assert _warnings() == []
