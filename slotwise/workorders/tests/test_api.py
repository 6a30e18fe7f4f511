"""The work-orders REST API: intake (matched or new customer, Idempotency-Key, field errors with
nothing saved), the whole life of an order through the endpoints, the state machine's refusals
(every forbidden move from every status answers 400 with the machine's message and changes
nothing), 409 on a stale version and on a lost assign race, the access matrix (technician: own
orders; manager: own units'; customer: nothing) and the OpenAPI schema."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from slotwise.core.errors import Conflict
from slotwise.customers.models import Contact
from slotwise.org.roles import Role
from slotwise.tests_factories import UserFactory, make_unit
from slotwise.workorders import services, transitions
from slotwise.workorders.models import (
    CatalogueItem,
    Source,
    Status,
    WorkOrder,
    WorkOrderComment,
    WorkOrderEvent,
    WorkOrderPhoto,
)
from slotwise.workorders.photos import photo_add

from .fixtures import World, local, make_org, make_staff, next_day, photo_upload

pytestmark = pytest.mark.django_db

BASE = "/api/work-orders/"
ANSWERS = {"finished": "yes", "client_checked": "yes", "rating": "5"}
COMPLETE = {
    "work_cost": "80.00",
    "extras_cost": "0",
    "travel_cost": "0",
    "toll_miles": "4.5",
    "tips": "0",
    "payment_method": "cash",
    "payment_amount": "80.00",
    "answers": ANSWERS,
}


def client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def url(order, tail: str = "") -> str:
    return f"{BASE}{order.public_id}/{tail}"


@pytest.fixture
def w():
    return World()


def other_organisation():
    """A second organisation with a manager and a technician (World's e-mails are unique)."""
    org = make_org()
    unit = make_unit(org, "Elsewhere")
    manager = make_staff(org, unit=unit, roles=(Role.MANAGER,), hours=())
    return org, manager, make_staff(org, unit=unit)


def make_order(w, **kwargs) -> WorkOrder:
    defaults = {
        "organisation": w.org,
        "contact": w.contact,
        "source": Source.PHONE,
        "title": "Leaking sink",
        "type": w.type,
        "location": w.location,
        "unit": w.team,
        "lines": [
            services.LineInput(kind="labour", name="Labour", quantity="1", unit_price="80.00")
        ],
        "actor": w.manager.user,
    }
    defaults.update(kwargs)
    return services.work_order_create(**defaults)


def drive(w, order, status: str) -> WorkOrder:
    """The order moved through the services into `status`."""
    tech, boss = w.tech.user, w.manager.user
    if status == Status.DRAFT:
        return order
    order = services.work_order_assign(
        order=order, technician=w.tech, start=local(next_day(), 10), actor=boss
    )
    if status == Status.ASSIGNED:
        return order
    if status == Status.CANCELLED:
        return services.work_order_act(order=order, action="cancel", reason="No", actor=boss)
    order = services.work_order_act(order=order, action="accept", actor=tech)
    if status == Status.ACCEPTED:
        return order
    order = services.work_order_act(order=order, action="start", actor=tech)
    if status == Status.IN_PROGRESS:
        return order
    if status == Status.PAUSED:
        return services.work_order_act(order=order, action="pause", actor=tech)
    if status == Status.NEEDS_CONFIRMATION:
        return services.extras_submit(
            order=order,
            lines=[services.LineInput(kind="goods", name="Valve", quantity=1, unit_price="10")],
            actor=tech,
        )
    photo_add(order=order, upload=photo_upload(), actor=tech)
    order = services.work_order_complete(
        order=order, data=services.CompletionInput(**COMPLETE), actor=tech
    )
    if status == Status.COMPLETED:
        return order
    return services.work_order_confirm(order=order, actor=boss)


# -- schema ------------------------------------------------------------------------------------


def test_schema_lists_the_work_order_endpoints(w):
    response = client_for(w.manager.user).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for tail in (
        "",
        "catalogue/",
        "{public_id}/",
        "{public_id}/lines/",
        "{public_id}/assign/",
        "{public_id}/candidates/",
        "{public_id}/act/",
        "{public_id}/extras/",
        "{public_id}/extras/decide/",
        "{public_id}/photos/",
        "{public_id}/complete/",
        "{public_id}/confirm/",
        "{public_id}/return/",
        "{public_id}/comments/",
    ):
        assert f"{BASE}{tail}" in paths, tail
    assert "patch" in paths[f"{BASE}{{public_id}}/"]
    assert "put" in paths[f"{BASE}{{public_id}}/lines/"]
    photos = paths[f"{BASE}{{public_id}}/photos/"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in photos


# -- intake ------------------------------------------------------------------------------------


def test_create_with_a_new_customer_is_idempotent_by_key(w):
    client = client_for(w.manager.user)
    body = {
        "customer": {"name": "Rosa Diaz", "phone": "(213) 555-0188", "email": "rosa@example.com"},
        "title": "Water heater",
        "description": "No hot water since Sunday",
        "postcode": "90012",
        "address": "1 Main St",
        "type": w.type.slug,
        "window_start": local(next_day(), 8).isoformat(),
        "window_end": local(next_day(), 12).isoformat(),
        "lines": [
            {"kind": "labour", "name": "Labour", "quantity": "2", "unit_price": "75.00"},
            {"kind": "travel", "name": "Trip", "unit_price": "20", "tax_rate": "10"},
        ],
    }
    first = client.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="crm-4711")
    assert first.status_code == 201, first.json()
    data = first.json()
    assert data["status"] == "draft" and data["source"] == "api"
    assert data["source_ref"] == "crm-4711"
    assert data["total"] == "172.00"  # 150 + 20 + 10 % tax on the trip
    assert data["totals"]["labour"] == "150.00" and data["totals"]["travel"] == "20.00"
    assert data["location"]["postcode"] == "90012"
    assert data["contact"]["name"].startswith("Rosa")
    assert {a["action"] for a in data["allowed_actions"]} == {"assign", "cancel"}
    contact = Contact.objects.get(public_id=data["contact"]["id"])
    assert contact.phone == "+12135550188" and contact.email == "rosa@example.com"

    again = client.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="crm-4711")
    assert again.status_code == 200
    assert again.json()["id"] == data["id"]
    assert WorkOrder.objects.filter(organisation=w.org).count() == 1
    assert Contact.objects.filter(organisation=w.org, phone="+12135550188").count() == 1

    other = client.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="crm-4712")
    assert other.status_code == 201
    assert other.json()["id"] != data["id"]
    # the same customer again: matched, and the second order is flagged as a possible duplicate
    assert other.json()["contact"]["id"] == data["contact"]["id"]
    assert other.json()["duplicate_of"] == data["id"]


def test_create_matches_an_existing_customer_by_phone_or_email(w):
    client = client_for(w.manager.user)
    by_phone = client.post(
        BASE,
        {"customer": {"name": "Someone", "phone": "310 555 0101"}, "title": "Door"},
        format="json",
    )
    assert by_phone.status_code == 201, by_phone.json()
    assert by_phone.json()["contact"]["id"] == str(w.contact.public_id)
    by_email = client.post(
        BASE,
        {"customer": {"name": "Someone", "email": "CLIENT@example.com"}, "title": "Window"},
        format="json",
    )
    assert by_email.json()["contact"]["id"] == str(w.contact.public_id)
    by_id = client.post(BASE, {"contact": str(w.contact.public_id), "title": "Roof"}, format="json")
    assert by_id.status_code == 201
    assert by_id.json()["contact"]["id"] == str(w.contact.public_id)
    assert Contact.objects.filter(organisation=w.org).count() == 1


def test_create_bad_input_is_field_errors_and_nothing_is_saved(w):
    client = client_for(w.manager.user)
    contacts = Contact.objects.count()
    response = client.post(
        BASE,
        {
            "customer": {"name": "New Person", "phone": "+12135550199"},
            "title": "Fence",
            "lines": [
                {"kind": "labour", "name": "Labour", "quantity": "1", "unit_price": "10"},
                {"kind": "goods", "name": "Post", "quantity": "0", "unit_price": "-1"},
            ],
        },
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"lines.1.quantity", "lines.1.unit_price"}
    # the new contact was rolled back with the order
    assert Contact.objects.count() == contacts
    assert not WorkOrder.objects.exists()

    response = client.post(
        BASE,
        {
            "customer": {"name": "X", "phone": "not a phone", "email": "nope"},
            "title": "",
            "lines": [{"kind": "boat", "quantity": "abc"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert "lines.0.kind" in response.json()

    response = client.post(
        BASE, {"customer": {"name": "X", "phone": "not a phone"}, "title": "A"}, format="json"
    )
    assert set(response.json()) == {"customer.phone"}
    response = client.post(BASE, {"title": "No customer"}, format="json")
    assert set(response.json()) == {"contact"}
    response = client.post(
        BASE,
        {
            "contact": str(w.contact.public_id),
            "title": "Bad window",
            "window_start": local(next_day(), 12).isoformat(),
            "window_end": local(next_day(), 8).isoformat(),
        },
        format="json",
    )
    assert response.json() == {"window_end": ["The end must be after the start."]}
    response = client.post(
        BASE,
        {"contact": str(w.contact.public_id), "title": " ", "postcode": "ZZZ"},
        format="json",
    )
    assert response.status_code == 400 and "postcode" in response.json()
    response = client.post(
        BASE,
        {"contact": str(w.contact.public_id), "title": "T", "lines": [{"item": 999999}]},
        format="json",
    )
    assert response.json() == {"lines.0.item": ["Unknown catalogue item."]}
    assert Contact.objects.count() == contacts
    assert not WorkOrder.objects.exists()


def test_create_a_line_from_the_catalogue_takes_its_price(w):
    item = CatalogueItem.objects.create(
        organisation=w.org, kind="goods", name="Faucet", unit_price=Decimal("49.90")
    )
    response = client_for(w.manager.user).post(
        BASE,
        {"contact": str(w.contact.public_id), "title": "T", "lines": [{"item": item.pk}]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    (line,) = response.json()["lines"]
    assert line["name"] == "Faucet" and line["kind"] == "goods" and line["item"] == item.pk
    assert line["unit_price"] == "49.90" and response.json()["total"] == "49.90"


# -- the whole life through the API ------------------------------------------------------------


def test_an_order_from_intake_to_closed_through_the_api(w):
    boss, tech = client_for(w.manager.user), client_for(w.tech.user)
    created = boss.post(
        BASE, {"contact": str(w.contact.public_id), "title": "Leaking sink"}, format="json"
    )
    assert created.status_code == 201
    order = WorkOrder.objects.get(public_id=created.json()["id"])
    day = next_day()
    patched = boss.patch(
        url(order),
        {
            "type": w.type.slug,
            "postcode": "90012",
            "address": "200 N Spring St",
            "window_start": local(day, 8).isoformat(),
            "window_end": local(day, 16).isoformat(),
            "manager_comment": "Ring twice",
        },
        format="json",
    )
    assert patched.status_code == 200, patched.json()
    assert patched.json()["type"]["slug"] == w.type.slug
    assert patched.json()["manager_comment"] == "Ring twice"
    lined = boss.put(
        url(order, "lines/"),
        {"lines": [{"kind": "labour", "name": "Labour", "quantity": "1", "unit_price": "80"}]},
        format="json",
    )
    assert lined.status_code == 200 and lined.json()["total"] == "80.00"

    candidates = boss.get(url(order, "candidates/"))
    assert candidates.status_code == 200, candidates.json()
    options = candidates.json()["options"]
    assert {o["staff"] for o in options} == {w.tech.pk, w.tech2.pk}
    assert all(o["reasons"] for o in options)
    mine = next(o for o in options if o["staff"] == w.tech.pk)
    assigned = boss.post(
        url(order, "assign/"), {"technician": w.tech.pk, "start": mine["start"]}, format="json"
    )
    assert assigned.status_code == 200, assigned.json()
    assert assigned.json()["status"] == "assigned"
    assert assigned.json()["technician"]["id"] == str(w.tech.pk)

    card = tech.get(url(order)).json()
    assert {a["action"] for a in card["allowed_actions"]} == {"accept", "decline", "start"}
    version = card["version"]
    accepted = tech.post(url(order, "act/"), {"action": "accept", "version": version})
    assert accepted.json()["status"] == "accepted"
    stale = tech.post(url(order, "act/"), {"action": "start", "version": version})
    assert stale.status_code == 409
    assert stale.json()["status"] == "accepted" and stale.json()["version"] == version + 1
    started = tech.post(url(order, "act/"), {"action": "start"})
    assert started.json()["status"] == "in_progress"
    assert tech.post(url(order, "act/"), {"action": "pause"}).json()["status"] == "paused"
    assert tech.post(url(order, "act/"), {"action": "resume"}).json()["status"] == "in_progress"

    extras = tech.post(
        url(order, "extras/"),
        {"lines": [{"name": "Valve", "quantity": "2", "unit_price": "12.50"}], "note": "Rusty"},
        format="json",
    )
    assert extras.status_code == 200, extras.json()
    assert extras.json()["status"] == "needs_confirmation"
    assert extras.json()["total"] == "80.00" and extras.json()["proposed_total"] == "105.00"
    assert extras.json()["extras_requests"][0]["state"] == "pending"
    waiting = tech.post(url(order, "complete/"), COMPLETE, format="json")
    assert waiting.status_code == 400
    assert waiting.json()["status"] == [
        str(transitions._refusal("complete", Status.NEEDS_CONFIRMATION))
    ]
    rejected = boss.post(url(order, "extras/decide/"), {"approve": False}, format="json")
    assert rejected.json() == {"note": ["Say why the new amount is rejected."]}
    approved = boss.post(url(order, "extras/decide/"), {"approve": True}, format="json")
    assert approved.json()["status"] == "in_progress" and approved.json()["total"] == "105.00"

    missing = tech.post(
        url(order, "complete/"),
        {"work_cost": "80", "extras_cost": "25", "travel_cost": "0", "answers": ANSWERS},
        format="json",
    )
    assert missing.status_code == 400
    assert {"photos", "toll_miles", "tips", "payment_method", "payment_amount"} <= set(
        missing.json()
    )
    empty_tips = tech.post(url(order, "complete/"), {**COMPLETE, "tips": ""}, format="json")
    assert empty_tips.json()["tips"] == ["This is required: enter 0 if there is none."]
    bad_answer = tech.post(
        url(order, "complete/"), {**COMPLETE, "answers": {**ANSWERS, "rating": "9"}}, format="json"
    )
    assert "answers.rating" in bad_answer.json()
    assert order.__class__.objects.get(pk=order.pk).status == Status.IN_PROGRESS

    not_a_photo = tech.post(
        url(order, "photos/"),
        {"photos": [SimpleUploadedFile("x.jpg", b"not an image", content_type="image/jpeg")]},
        format="multipart",
    )
    assert not_a_photo.status_code == 400 and "photos" in not_a_photo.json()
    assert not WorkOrderPhoto.objects.filter(order=order).exists()
    uploaded = tech.post(
        url(order, "photos/"),
        {"photos": [photo_upload("a.png"), photo_upload("b.png")]},
        format="multipart",
    )
    assert uploaded.status_code == 201, uploaded.json()
    assert len(uploaded.json()) == 2
    assert uploaded.json()[0]["thumbnail"].endswith("/thumb/")

    early = boss.post(url(order, "confirm/"))
    assert early.json()["status"] == [str(transitions._refusal("confirm", Status.IN_PROGRESS))]
    done = tech.post(
        url(order, "complete/"),
        {**COMPLETE, "extras_cost": "25", "payment_amount": "105.00", "tips": "5"},
        format="json",
    )
    assert done.status_code == 200, done.json()
    assert done.json()["status"] == "completed"
    assert done.json()["completion"]["payment_method"] == "cash"
    assert done.json()["completion"]["payment"] is not None

    back = boss.post(url(order, "return/"), {"reason": ""}, format="json")
    assert back.json() == {"reason": ["Say what the technician should fix."]}
    back = boss.post(url(order, "return/"), {"reason": "Photo of the valve"}, format="json")
    assert back.json()["status"] == "paused"
    assert back.json()["comments"][-1]["body"] == "Photo of the valve"
    tech.post(url(order, "act/"), {"action": "resume"})
    again = tech.post(
        url(order, "complete/"),
        {**COMPLETE, "extras_cost": "25", "payment_amount": "105.00", "tips": "5"},
        format="json",
    )
    assert again.json()["status"] == "completed"
    closed = boss.post(url(order, "confirm/"))
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed" and closed.json()["allowed_actions"] == []
    kinds = [e["kind"] for e in closed.json()["events"]]
    assert kinds[0] == "created" and kinds[-1] == "confirmed"
    assert "extras_approved" in kinds and "returned" in kinds
    refused = tech.post(url(order, "act/"), {"action": "pause"})
    assert refused.json() == {"status": ["The order is closed."]}


# -- the state machine: every forbidden move, from every status --------------------------------

# API call per action: (who, path, body)
CALLS = {
    "accept": ("tech", "act/", {"action": "accept"}),
    "decline": ("tech", "act/", {"action": "decline", "reason": "Ill"}),
    "start": ("tech", "act/", {"action": "start"}),
    "pause": ("tech", "act/", {"action": "pause"}),
    "resume": ("tech", "act/", {"action": "resume"}),
    "cancel": ("boss", "act/", {"action": "cancel", "reason": "Client called"}),
    "submit_extras": (
        "tech",
        "extras/",
        {"lines": [{"name": "Valve", "quantity": "1", "unit_price": "10"}]},
    ),
    "approve_extras": ("boss", "extras/decide/", {"approve": True}),
    "reject_extras": ("boss", "extras/decide/", {"approve": False, "note": "Too much"}),
    "complete": ("tech", "complete/", COMPLETE),
    "return": ("boss", "return/", {"reason": "Fix it"}),
    "confirm": ("boss", "confirm/", {}),
    "assign": ("boss", "assign/", None),  # body built per test (the technician and a time)
}


@pytest.mark.parametrize("status", [s for s in Status.values])
def test_every_forbidden_transition_is_refused_with_the_machines_message(w, status):
    order = drive(w, make_order(w), status)
    clients = {"tech": client_for(w.tech.user), "boss": client_for(w.manager.user)}
    version = order.version
    events = WorkOrderEvent.objects.filter(order=order).count()
    assert set(transitions.TRANSITIONS) == set(CALLS)
    refused = 0
    for action, (who, tail, body) in CALLS.items():
        transition = transitions.TRANSITIONS[action]
        if status in transition.sources:
            continue
        if body is None:
            body = {"technician": w.tech2.pk, "start": local(next_day(), 15).isoformat()}
        response = clients[who].post(url(order, tail), body, format="json")
        if who == "tech" and order.technician_id is None:
            # not (or no longer) their order: it doesn't exist for them
            assert response.status_code == 404, action
            continue
        assert response.status_code == 400, (action, response.json())
        assert response.json() == {"status": [str(transitions._refusal(action, status))]}, action
        refused += 1
    assert refused > 0
    order.refresh_from_db()
    assert order.status == status and order.version == version
    assert WorkOrderEvent.objects.filter(order=order).count() == events


def test_allowed_actions_are_the_callers_side_only(w):
    order = drive(w, make_order(w), Status.IN_PROGRESS)
    as_tech = client_for(w.tech.user).get(url(order)).json()["allowed_actions"]
    as_boss = client_for(w.manager.user).get(url(order)).json()["allowed_actions"]
    assert {a["action"] for a in as_tech} == {"pause", "submit_extras", "complete"}
    assert as_boss == []
    labels = {a["action"]: a["label"] for a in as_tech}
    assert labels["complete"] == "Complete"


def test_a_lost_assign_race_is_409_with_fresh_candidates(w, monkeypatch):
    order = make_order(w)

    def taken(**kwargs):
        raise Conflict("This time is no longer available.")

    monkeypatch.setattr(services, "work_order_assign", taken)
    response = client_for(w.manager.user).post(
        url(order, "assign/"),
        {"technician": w.tech.pk, "start": local(next_day(), 10).isoformat()},
        format="json",
    )
    assert response.status_code == 409
    body = response.json()
    assert body["detail"] == "This time is no longer available."
    assert {o["staff"] for o in body["options"]} <= {w.tech.pk, w.tech2.pk}
    assert body["options"]


def test_assign_bad_input(w):
    order = make_order(w)
    boss = client_for(w.manager.user)
    _org, _manager, outsider = other_organisation()
    response = boss.post(
        url(order, "assign/"),
        {"technician": outsider.pk, "start": local(next_day(), 10).isoformat()},
        format="json",
    )
    assert response.json() == {"technician": ["Unknown staff member."]}
    response = boss.post(url(order, "assign/"), {"technician": "x"}, format="json")
    assert set(response.json()) == {"technician", "start"}
    # a technician of a unit the manager doesn't see
    valley = make_staff(w.org, unit=w.other_team, skills={"plumbing": 3})
    response = boss.post(
        url(order, "assign/"),
        {"technician": valley.pk, "start": local(next_day(), 10).isoformat()},
        format="json",
    )
    assert response.json() == {"technician": ["Unknown staff member."]}
    order.refresh_from_db()
    assert order.status == Status.DRAFT and order.technician is None


def test_candidates_need_the_work_type(w):
    order = make_order(w, type=None)
    response = client_for(w.manager.user).get(url(order, "candidates/"))
    assert response.status_code == 400 and "type" in response.json()


# -- access ------------------------------------------------------------------------------------


def test_technician_sees_only_their_own_orders(w):
    mine = drive(w, make_order(w, title="Mine"), Status.ASSIGNED)
    theirs = services.work_order_assign(
        order=make_order(w, title="Theirs"),
        technician=w.tech2,
        start=local(next_day(), 14),
        actor=w.manager.user,
    )
    unassigned = make_order(w, title="Nobody's")
    tech = client_for(w.tech.user)
    listing = tech.get(BASE)
    assert listing.status_code == 200
    assert [o["id"] for o in listing.json()["results"]] == [str(mine.public_id)]
    for other in (theirs, unassigned):
        assert tech.get(url(other)).status_code == 404
        assert tech.post(url(other, "act/"), {"action": "accept"}).status_code == 404
        assert tech.get(url(other, "comments/")).status_code == 404
    # their own order, but a manager's action: 403
    assert tech.post(url(mine, "confirm/")).status_code == 403
    assert tech.patch(url(mine), {"title": "x"}, format="json").status_code == 403
    assert tech.get(url(mine, "candidates/")).status_code == 403
    assert tech.post(url(mine, "act/"), {"action": "cancel", "reason": "x"}).status_code == 403
    assert tech.post(BASE, {"contact": str(w.contact.public_id), "title": "x"}).status_code == 403


def test_manager_sees_only_their_units_orders(w):
    order = make_order(w)
    valley_manager = make_staff(w.org, unit=w.other_team, roles=(Role.MANAGER,), hours=())
    valley = client_for(valley_manager.user)
    assert valley.get(BASE).json()["results"] == []
    for method, tail in (("get", ""), ("patch", ""), ("get", "candidates/"), ("post", "confirm/")):
        assert getattr(valley, method)(url(order, tail), {}, format="json").status_code == 404
    boss = client_for(w.manager.user)
    assert [o["id"] for o in boss.get(BASE).json()["results"]] == [str(order.public_id)]
    # a manager can't act as the technician
    drive(w, order, Status.ASSIGNED)
    assert boss.post(url(order, "act/"), {"action": "start"}).status_code == 403
    assert boss.post(url(order, "complete/"), COMPLETE, format="json").status_code == 403
    # another organisation's manager: nothing
    _org, other_manager, _tech = other_organisation()
    stranger = client_for(other_manager.user)
    assert stranger.get(url(order)).status_code == 404
    assert stranger.get(BASE).json()["results"] == []


def test_a_customer_gets_nothing(w):
    order = make_order(w)
    user = UserFactory()
    w.contact.user = user
    w.contact.save(update_fields=["user"])
    customer = client_for(user)
    assert customer.get(BASE).status_code == 403
    assert customer.get(url(order)).status_code == 404
    assert customer.post(BASE, {"title": "x"}, format="json").status_code == 403
    assert customer.get(f"{BASE}catalogue/").status_code == 403
    assert APIClient().get(BASE).status_code in (401, 403)


# -- lists, comments, catalogue ----------------------------------------------------------------


def test_list_filters_status_day_technician(w):
    a = drive(w, make_order(w, title="A"), Status.ASSIGNED)
    b = make_order(w, title="B")
    boss = client_for(w.manager.user)
    ids = lambda r: [o["id"] for o in r.json()["results"]]  # noqa: E731
    assert ids(boss.get(BASE, {"status": "assigned"})) == [str(a.public_id)]
    assert ids(boss.get(BASE, {"technician": w.tech.pk})) == [str(a.public_id)]
    assert ids(boss.get(BASE, {"day": next_day().isoformat()})) == [str(a.public_id)]
    assert ids(boss.get(BASE, {"day": next_day(3).isoformat()})) == []
    assert set(ids(boss.get(BASE))) == {str(a.public_id), str(b.public_id)}
    assert boss.get(BASE, {"status": "nope"}).status_code == 400
    assert "day" in boss.get(BASE, {"day": "tomorrow"}).json()


def test_comments_both_sides(w):
    order = drive(w, make_order(w), Status.ASSIGNED)
    tech, boss = client_for(w.tech.user), client_for(w.manager.user)
    written = tech.post(url(order, "comments/"), {"body": "Gate code?"}, format="json")
    assert written.status_code == 201 and written.json()["side"] == "technician"
    answer = boss.post(url(order, "comments/"), {"body": "4711"}, format="json")
    assert answer.json()["side"] == "manager"
    assert boss.post(url(order, "comments/"), {"body": "  "}, format="json").json() == {
        "body": ["Write a comment."]
    }
    thread = tech.get(url(order, "comments/")).json()
    assert [(c["side"], c["body"]) for c in thread] == [
        ("technician", "Gate code?"),
        ("manager", "4711"),
    ]
    assert WorkOrderComment.objects.filter(order=order).count() == 2


def test_catalogue_lists_the_organisations_active_items(w):
    CatalogueItem.objects.create(organisation=w.org, kind="service", name="Drain", unit_price=60)
    CatalogueItem.objects.create(
        organisation=w.org, kind="goods", name="Old", unit_price=1, active=False
    )
    CatalogueItem.objects.create(
        organisation=other_organisation()[0], kind="goods", name="Theirs", unit_price=1
    )
    boss = client_for(w.manager.user)
    assert [i["name"] for i in boss.get(f"{BASE}catalogue/").json()] == ["Drain"]
    everything = boss.get(f"{BASE}catalogue/", {"active": ""}).json()
    assert {i["name"] for i in everything} == {"Drain", "Old"}
    assert [i["name"] for i in client_for(w.tech.user).get(f"{BASE}catalogue/").json()] == ["Drain"]


def test_list_and_detail_in_a_constant_number_of_queries(w, django_assert_max_num_queries):
    boss = client_for(w.manager.user)
    order = drive(w, make_order(w), Status.IN_PROGRESS)
    services.comment_add(order=order, author=w.tech.user, side="technician", body="Hi")
    boss.get(BASE)  # warm up (token, caches)
    with django_assert_max_num_queries(8) as few:
        assert len(boss.get(BASE).json()["results"]) == 1
    for i in range(6):
        drive(w, make_order(w, title=f"More {i}"), Status.DRAFT)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(boss.get(BASE).json()["results"]) == 7
    with django_assert_max_num_queries(16):
        detail = boss.get(url(order)).json()
    assert len(detail["events"]) == 4 and len(detail["comments"]) == 1


def test_a_declining_technician_gets_the_new_status_only(w):
    order = drive(w, make_order(w), Status.ACCEPTED)
    tech = client_for(w.tech.user)
    missing = tech.post(url(order, "act/"), {"action": "decline"})
    assert missing.json() == {"reason": ["Say why."]}
    declined = tech.post(url(order, "act/"), {"action": "decline", "reason": "Car broke down"})
    assert declined.status_code == 200
    assert declined.json() == {
        "id": str(order.public_id),
        "status": "draft",
        "version": order.version + 1,
    }
    assert tech.get(url(order)).status_code == 404
