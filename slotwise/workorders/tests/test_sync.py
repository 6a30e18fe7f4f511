"""The offline queue's endpoint (`sync.py`): queued status changes applied in order, the server
winning conflicts, the same change sent twice applied once, other people's orders refused, bad
requests answered 400."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from slotwise.tests_factories import ContactFactory, make_unit
from slotwise.workorders import services
from slotwise.workorders.models import Event, Source, Status, WorkOrder, WorkOrderEvent
from slotwise.workorders.tests.fixtures import (
    World,
    local,
    make_location,
    make_org,
    make_staff,
    make_type,
    next_day,
)

pytestmark = pytest.mark.django_db

URL = "/work/tech/sync/"


@pytest.fixture
def w():
    return World()


def other_organisations_technician():
    """A technician of another organisation with its own customer, address and work."""
    org = make_org()
    tech = make_staff(org, unit=make_unit(org, "Elsewhere"), skills={"plumbing": 3})
    tech.world = type(
        "Elsewhere",
        (),
        {
            "org": org,
            "contact": ContactFactory(organisation=org),
            "location": make_location(org),
            "type": make_type(org, skills={"plumbing": 1}),
        },
    )
    return tech


def make_order(w, *, technician=None, hour=10, title="Leaking sink"):
    home = getattr(technician, "world", w)
    order = services.work_order_create(
        organisation=home.org,
        contact=home.contact,
        source=Source.PHONE,
        title=title,
        type=home.type,
        location=home.location,
        actor=w.manager.user if home is w else None,
    )
    return services.work_order_assign(
        order=order,
        technician=technician or w.tech,
        start=local(next_day(), hour),
        actor=w.manager.user if home is w else None,
    )


def post(client, payload, *, raw=None):
    body = raw if raw is not None else json.dumps(payload)
    return client.post(URL, data=body, content_type="application/json")


def change(order, action, *, id, version=None, reason="", client_at=None):
    return {
        "id": id,
        "order": str(order.public_id),
        "action": action,
        "reason": reason,
        "version": order.version if version is None else version,
        "client_at": client_at,
    }


@pytest.fixture
def tech_client(client, w):
    client.force_login(w.tech.user)
    return client


def test_url_name():
    assert reverse("workorders:tech_sync") == URL


def test_queued_changes_are_applied_in_order(w, tech_client):
    order = make_order(w)
    v = order.version
    phone_time = (timezone.now() - dt.timedelta(minutes=20)).isoformat()
    response = post(
        tech_client,
        {
            "changes": [
                change(order, "accept", id="c-1", version=v, client_at=phone_time),
                change(order, "start", id="c-2", version=v + 1),
                change(order, "pause", id="c-3", version=v + 2),
            ]
        },
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["result"] for r in results] == ["applied", "applied", "applied"]
    assert [r["status"] for r in results] == ["accepted", "in_progress", "paused"]
    assert [r["version"] for r in results] == [v + 1, v + 2, v + 3]
    assert results[2]["status_label"] == "Paused"
    order.refresh_from_db()
    assert order.status == Status.PAUSED and order.version == v + 3
    assert order.started_at is not None
    events = list(
        WorkOrderEvent.objects.filter(order=order, kind__in=[Event.ACCEPTED, Event.STARTED])
    )
    accepted = next(e for e in events if e.kind == Event.ACCEPTED)
    # the phone's time is kept on the event; the server's time is when it arrived
    assert accepted.client_at is not None
    assert abs((accepted.client_at - dt.datetime.fromisoformat(phone_time)).total_seconds()) < 1
    assert accepted.actor == w.tech.user
    assert {e.data["sync_id"] for e in events} == {"c-1", "c-2"}


def test_client_time_in_the_future_is_clamped_to_now(w, tech_client):
    order = make_order(w)
    future = (timezone.now() + dt.timedelta(hours=3)).isoformat()
    results = post(
        tech_client, {"changes": [change(order, "accept", id="f-1", client_at=future)]}
    ).json()["results"]
    assert results[0]["result"] == "applied"
    event = WorkOrderEvent.objects.get(order=order, kind=Event.ACCEPTED)
    assert event.client_at <= timezone.now()


def test_conflict_server_wins_and_the_others_still_apply(w, tech_client):
    order = make_order(w)
    other = make_order(w, hour=14, title="Broken tap")
    stale = order.version
    # the office reassigns the order to the same technician at another time meanwhile
    order = services.work_order_assign(
        order=order, technician=w.tech, start=local(next_day(), 16), actor=w.manager.user
    )
    response = post(
        tech_client,
        {
            "changes": [
                change(order, "start", id="x-1", version=stale),
                change(other, "accept", id="x-2"),
            ]
        },
    )
    results = response.json()["results"]
    assert response.status_code == 200
    assert results[0]["result"] == "conflict"
    assert results[0]["status"] == "assigned" and results[0]["version"] == order.version
    assert results[0]["message"] == "The office changed this order: it is now “Assigned”."
    assert results[1]["result"] == "applied" and results[1]["status"] == "accepted"
    order.refresh_from_db()
    assert order.status == Status.ASSIGNED  # the server's state stands
    assert not WorkOrderEvent.objects.filter(order=order, kind=Event.STARTED).exists()


def test_forbidden_transition_is_rejected_with_the_state_machines_message(w, tech_client):
    order = make_order(w)
    results = post(tech_client, {"changes": [change(order, "pause", id="p-1")]}).json()["results"]
    assert results[0]["result"] == "rejected"
    assert results[0]["errors"]["status"] == ["Only work in progress can be paused."]
    assert results[0]["message"] == "Only work in progress can be paused."
    assert results[0]["status"] == "assigned"
    order.refresh_from_db()
    assert order.status == Status.ASSIGNED


def test_decline_needs_a_reason_and_nothing_is_half_saved(w, tech_client):
    order = make_order(w)
    version = order.version
    results = post(tech_client, {"changes": [change(order, "decline", id="d-1")]}).json()["results"]
    assert results[0]["result"] == "rejected" and "reason" in results[0]["errors"]
    order.refresh_from_db()
    assert order.status == Status.ASSIGNED and order.version == version
    assert order.technician_id == w.tech.pk
    results = post(
        tech_client, {"changes": [change(order, "decline", id="d-2", reason="Sick today")]}
    ).json()["results"]
    assert results[0]["result"] == "applied" and results[0]["status"] == "draft"
    order.refresh_from_db()
    assert order.technician_id is None


def test_same_change_sent_twice_is_applied_once(w, tech_client):
    order = make_order(w)
    first = change(order, "start", id="dup-1")
    assert post(tech_client, {"changes": [first]}).json()["results"][0]["result"] == "applied"
    again = post(tech_client, {"changes": [first, first]}).json()["results"]
    assert [r["result"] for r in again] == ["duplicate", "duplicate"]
    assert again[0]["status"] == "in_progress"
    assert WorkOrderEvent.objects.filter(order=order, kind=Event.STARTED).count() == 1
    order.refresh_from_db()
    assert order.version == first["version"] + 1


def test_a_change_whose_answer_was_lost_counts_as_done(w, tech_client):
    """The phone's first try reached the server (without the queue's id) but the answer didn't
    come back; the queued copy is not a conflict."""
    order = make_order(w)
    queued = change(order, "start", id="lost-1")
    services.work_order_act(
        order=order, action="start", actor=w.tech.user, expected_version=order.version
    )
    result = post(tech_client, {"changes": [queued]}).json()["results"][0]
    assert result["result"] == "applied" and result.get("already") is True
    assert result["status"] == "in_progress"
    assert WorkOrderEvent.objects.filter(order=order, kind=Event.STARTED).count() == 1


def test_another_technicians_order_is_not_found(w, client):
    order = make_order(w)  # Tom's
    client.force_login(w.tech2.user)
    results = post(client, {"changes": [change(order, "start", id="o-1")]}).json()["results"]
    assert results[0]["result"] == "not_found"
    assert results[0]["status"] is None and results[0]["version"] is None
    order.refresh_from_db()
    assert order.status == Status.ASSIGNED


def test_manager_cannot_act_through_the_queue(w, client):
    order = make_order(w)
    client.force_login(w.manager.user)
    results = post(client, {"changes": [change(order, "accept", id="m-1")]}).json()["results"]
    assert results[0]["result"] == "not_found"
    order.refresh_from_db()
    assert order.status == Status.ASSIGNED


def test_other_organisations_order_and_unknown_ids_are_not_found(w, tech_client):
    theirs = make_order(w, technician=other_organisations_technician())
    payload = {
        "changes": [
            change(theirs, "accept", id="e-1"),
            {"id": "e-2", "order": "not-a-uuid", "action": "accept"},
            {"id": "e-3", "order": "6f1c2c1e-0000-4000-8000-000000000000", "action": "accept"},
        ]
    }
    results = post(tech_client, payload).json()["results"]
    assert [r["result"] for r in results] == ["not_found"] * 3
    theirs.refresh_from_db()
    assert theirs.status == Status.ASSIGNED


def test_cancel_is_not_a_technicians_action(w, tech_client):
    order = make_order(w)
    results = post(
        tech_client, {"changes": [change(order, "cancel", id="k-1", reason="no")]}
    ).json()["results"]
    assert results[0]["result"] == "rejected"
    assert results[0]["errors"] == {"action": ["Unknown action."]}
    order.refresh_from_db()
    assert order.status == Status.ASSIGNED


def test_bad_fields_of_one_change_are_field_errors(w, tech_client):
    order = make_order(w)
    bad = change(order, "accept", id="b-1", client_at="yesterday")
    bad["version"] = "three"
    results = post(tech_client, {"changes": [bad, change(order, "accept", id="b-2")]}).json()[
        "results"
    ]
    assert results[0]["result"] == "rejected"
    assert set(results[0]["errors"]) == {"version", "client_at"}
    assert results[1]["result"] == "applied"
    naive = change(order, "start", id="b-3", client_at="2026-01-01T10:00:00")
    naive["version"] = order.version + 1
    result = post(tech_client, {"changes": [naive]}).json()["results"][0]
    assert result["result"] == "rejected" and "client_at" in result["errors"]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "list of changes"),
        ('{"changes": "start"}', "list of changes"),
        ('{"changes": [1]}', "Change 0 is not an object"),
        ('{"changes": [{"order": "x", "action": "start"}]}', "Change 0 needs an id"),
        ('{"changes": [{"id": "a b c", "order": "x"}]}', "Change 0 needs an id"),
    ],
)
def test_bad_json_is_a_400_with_a_clear_error(w, tech_client, raw, fragment):
    order = make_order(w)
    response = post(tech_client, None, raw=raw)
    assert response.status_code == 400
    assert fragment in response.json()["error"]
    order.refresh_from_db()
    assert order.status == Status.ASSIGNED


def test_too_many_changes_is_a_400(w, tech_client, settings):
    from slotwise.workorders import sync

    payload = {"changes": [{"id": f"n-{i}", "order": "x"} for i in range(sync.MAX_CHANGES + 1)]}
    response = post(tech_client, payload)
    assert response.status_code == 400 and "at most" in response.json()["error"]


def test_login_required_and_post_only(w, client):
    order = make_order(w)
    response = post(client, {"changes": [change(order, "accept", id="a-1")]})
    assert response.status_code == 401 and "Log in" in response.json()["error"]
    client.force_login(w.tech.user)
    assert client.get(URL).status_code == 405
    order.refresh_from_db()
    assert order.status == Status.ASSIGNED


def test_csrf_is_enforced(w):
    from django.test import Client

    order = make_order(w)
    client = Client(enforce_csrf_checks=True)
    client.force_login(w.tech.user)
    response = client.post(
        URL,
        data=json.dumps({"changes": [change(order, "accept", id="z-1")]}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert WorkOrder.objects.get(pk=order.pk).status == Status.ASSIGNED


# -- the pages' side: the service worker and the offline script's configuration ----------------


def test_service_worker_caches_per_user(w, client):
    anonymous = client.get("/sw.js")
    assert anonymous.status_code == 200
    assert anonymous["Content-Type"].startswith("application/javascript")
    assert 'const USER = "";' in anonymous.content.decode()
    client.force_login(w.tech.user)
    body = client.get("/sw.js").content.decode()
    assert f'const USER = "{w.tech.user.pk}";' in body
    assert "/work/tech/" in body and "slotwise-tech-" in body
    assert "/static/workorders/offline.js" in body  # precached with the app shell


def test_tech_pages_carry_the_offline_queue(w, tech_client):
    order = make_order(w)
    page = tech_client.get(reverse("workorders:tech_order", args=[order.public_id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="offline-queue"' in html and "/static/workorders/offline.js" in html
    start = html.index('<script id="offline-config" type="application/json">') + len(
        '<script id="offline-config" type="application/json">'
    )
    config = json.loads(html[start : html.index("</script>", start)])
    assert config["user"] == w.tech.user.pk
    assert config["syncUrl"] == URL
    assert config["order"] == str(order.public_id)
    assert config["orderStatus"] == "assigned" and config["orderVersion"] == order.version
    assert set(config["actions"]) == {"accept", "decline", "start", "pause", "resume"}
    assert config["actions"]["start"]["target"] == "in_progress"
    assert config["actions"]["decline"]["needsReason"] is True
    assert config["statuses"]["paused"] == "Paused"
    assert "%(status)s" in config["text"]["conflict"]
    today = tech_client.get(reverse("workorders:tech_today")).content.decode()
    assert 'id="offline-config"' in today
