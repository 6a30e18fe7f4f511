"""The manager's pages: who sees which application (organisation and unit), the one-click
actions, the document photos, the supervisor's figures, and editing a flow in the admin."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from slotwise.messaging.media import attachment_store_bytes
from slotwise.messaging.models import Message
from slotwise.onboarding import services
from slotwise.onboarding.admin import StepForm
from slotwise.onboarding.models import (
    Application,
    ApplicationDocument,
    ApplicationStatus,
    FlowStep,
    StepKind,
)
from slotwise.onboarding.selectors import applications_for, funnel
from slotwise.org.roles import Role
from slotwise.tests_factories import ContactFactory, OrganisationFactory, StaffFactory, make_unit

from .conftest import jpeg, pump

pytestmark = pytest.mark.django_db


def _app(org, unit, name, phone):
    return services.application_create(
        organisation=org, first_name=name, phone=phone, unit=unit, source="api"
    )


@pytest.fixture
def world(org, flow, consoles):
    root = make_unit(org, "Root")
    dept1 = make_unit(org, "Dept 1", root)
    dept2 = make_unit(org, "Dept 2", root)
    other = OrganisationFactory(country="RU", default_language="en")
    other_root = make_unit(other, "B")
    w = {
        "admin": StaffFactory(unit=root, roles=[Role.ORG_ADMIN]).user,
        "mgr1": StaffFactory(unit=dept1, roles=[Role.MANAGER]).user,
        "mgr2": StaffFactory(unit=dept2, roles=[Role.MANAGER]).user,
        "rep1": StaffFactory(unit=dept1, roles=[Role.REPRESENTATIVE]).user,
        "tech1": StaffFactory(unit=dept1, roles=[Role.TECHNICIAN]).user,
        "mgr_b": StaffFactory(unit=other_root, roles=[Role.ORG_ADMIN]).user,
        "a_org": _app(org, None, "Orgwide", "+79160000101"),
        "a1": _app(org, dept1, "One", "+79160000102"),
        "a2": _app(org, dept2, "Two", "+79160000103"),
    }
    contact = ContactFactory(organisation=other, first_name="Other")
    w["a_b"] = Application.objects.create(organisation=other, contact=contact, unit=other_root)
    return w


VISIBLE = {
    "admin": {"a_org", "a1", "a2"},
    "mgr1": {"a_org", "a1"},
    "mgr2": {"a_org", "a2"},
    "rep1": {"a_org", "a1"},
    "tech1": set(),
    "mgr_b": {"a_b"},
}


def test_selector_and_pages_never_cross_orgs_or_units(client, world):
    apps = ("a_org", "a1", "a2", "a_b")
    for who, visible in VISIBLE.items():
        user = world[who]
        user.__dict__.pop("_staff_cache", None)
        assert set(applications_for(user).values_list("pk", flat=True)) == {
            world[k].pk for k in visible
        }, who
        client.force_login(user)
        listing = client.get("/onboarding/?status=all")
        if who == "tech1":
            assert listing.status_code == 403
        for key in apps:
            app = world[key]
            page = client.get(f"/onboarding/{app.public_id}/")
            expected = 200 if key in visible else (403 if who == "tech1" else 404)
            assert page.status_code == expected, (who, key, page.status_code)
            if who != "tech1":
                assert (str(app.public_id) in listing.content.decode()) == (key in visible)


def test_actions_on_an_invisible_application_are_404_and_change_nothing(client, world):
    client.force_login(world["mgr2"])
    app = world["a1"]
    for action in ("approve", "send-link", "take-over"):
        assert client.post(f"/onboarding/{app.public_id}/{action}/").status_code == 404
    assert client.post(f"/onboarding/{app.public_id}/reject/", {"reason": "x"}).status_code == 404
    app.refresh_from_db()
    assert app.status == ApplicationStatus.CONTACTED and app.manager_actions == 0


def test_document_photos_are_served_to_who_may_see_them_only(client, world):
    app = world["a1"]
    message = Message.objects.create(
        organisation=app.organisation,
        channel="whatsapp",
        provider="console",
        to="x",
        direction="in",
    )
    attachment = attachment_store_bytes(
        message=message, filename="licence.jpg", content_type="image/jpeg", content=jpeg()
    )
    doc = ApplicationDocument.objects.create(
        application=app, kind="passport", attachment=attachment
    )
    url = f"/onboarding/{app.public_id}/documents/{doc.pk}/"
    client.force_login(world["mgr1"])
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"].startswith("inline")
    page = client.get(f"/onboarding/{app.public_id}/")
    assert url in page.content.decode()
    client.force_login(world["mgr2"])
    assert client.get(url).status_code == 404
    client.force_login(world["mgr_b"])
    assert client.get(url).status_code == 404
    # Another application's document by this application's address: 404.
    client.force_login(world["mgr1"])
    assert (
        client.get(f"/onboarding/{world['a_org'].public_id}/documents/{doc.pk}/").status_code == 404
    )


def test_new_application_form(client, world):
    client.force_login(world["mgr1"])
    bad = client.post("/onboarding/new/", {"first_name": "Kirill", "phone": "123"})
    assert bad.status_code == 400 and b'data-field="phone"' in bad.content
    good = client.post("/onboarding/new/", {"first_name": "Kirill", "phone": "+7 916 000 01 04"})
    assert good.status_code == 302
    app = Application.objects.get(contact__phone="+79160000104")
    assert app.source == "manager" and app.manager_actions == 1
    assert app.welcome_message is not None and app.status == ApplicationStatus.CONTACTED


def test_reject_needs_a_reason_and_tells_the_person(client, world):
    app = world["a1"]
    client.force_login(world["mgr1"])
    response = client.post(f"/onboarding/{app.public_id}/reject/", {"reason": ""})
    assert response.status_code == 400
    response = client.post(f"/onboarding/{app.public_id}/reject/", {"reason": "Licence expired"})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == ApplicationStatus.REJECTED and app.reason == "Licence expired"
    told = Message.objects.filter(conversation__contact=app.contact).order_by("-id").first()
    assert "Licence expired" in told.body
    # Closed: no more decisions.
    assert client.post(f"/onboarding/{app.public_id}/approve/").status_code == 302
    app.refresh_from_db()
    assert app.status == ApplicationStatus.REJECTED and app.manager_actions == 1


def test_fix_number_resends_the_welcome(client, world):
    from slotwise.messaging.outbox import message_failed

    app = world["a1"]
    message_failed(message=app.welcome_message, error="not on WhatsApp")
    app.refresh_from_db()
    assert app.status == ApplicationStatus.MESSAGE_NOT_SENT
    client.force_login(world["mgr1"])
    page = client.get(f"/onboarding/{app.public_id}/")
    assert b'data-testid="not-sent"' in page.content
    assert (
        client.post(f"/onboarding/{app.public_id}/fix-number/", {"phone": "x"}).status_code == 400
    )
    response = client.post(f"/onboarding/{app.public_id}/fix-number/", {"phone": "+79160000199"})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == ApplicationStatus.CONTACTED and app.contact.phone == "+79160000199"
    assert app.welcome_message.to == "79160000199" and app.manager_actions == 1


def test_ask_for_more_goes_to_the_driver_and_back_to_review(client, world, consoles):
    from .conftest import Driver, last_code

    app = world["a1"]
    pump()
    driver = Driver(consoles["whatsapp"], "79160000102", phone="+79160000102")
    driver.says("hi")
    driver.says(last_code("+79160000102"))
    for _ in range(3):
        driver.photo()
    driver.says("A fleet car")
    app.refresh_from_db()
    assert app.status == ApplicationStatus.IN_REVIEW
    client.force_login(world["mgr1"])
    response = client.post(
        f"/onboarding/{app.public_id}/ask/", {"text": "Please send the licence again, sharper."}
    )
    assert response.status_code == 302
    pump()
    app.refresh_from_db()
    assert app.status == ApplicationStatus.COLLECTING
    assert driver.last() == "Please send the licence again, sharper."
    driver.says("Here", media=[(jpeg("blue"), "image/jpeg")])
    app.refresh_from_db()
    assert app.status == ApplicationStatus.IN_REVIEW
    assert app.data["extra"][0]["text"] == "Here"
    assert app.documents.filter(kind="extra").count() == 1
    assert "passed it on" in driver.last()
    page = client.get(f"/onboarding/{app.public_id}/")
    assert "Here" in page.content.decode()


def test_supervisor_funnel_in_constant_queries(client, world, org):
    client.force_login(world["mgr1"])
    assert client.get("/onboarding/supervisor/").status_code == 200
    client.force_login(world["rep1"])
    assert client.get("/onboarding/supervisor/").status_code == 403
    admin = world["admin"]
    admin.__dict__.pop("_staff_cache", None)
    funnel(admin)  # the staff cache
    with CaptureQueriesContext(connection) as few:
        figures = funnel(admin)
    for i in range(6):
        services.application_create(
            organisation=org, first_name=f"N{i}", phone=f"+7916000020{i}", source="api"
        )
    with CaptureQueriesContext(connection) as many:
        more = funnel(admin)
    assert len(few) == len(many) <= 4
    assert figures["total"] == 3 and more["total"] == 9
    stages = {s["status"]: s for s in more["stages"]}
    assert stages["new"]["reached"] == 9 and stages["contacted"]["reached"] == 9
    assert stages["new"]["conversion"] == 100.0 and stages["verified"]["reached"] == 0
    assert stages["new"]["median_seconds"] is not None


def test_list_counts_and_filter(client, world):
    client.force_login(world["admin"])
    page = client.get("/onboarding/")
    content = page.content.decode()
    assert 'data-status="contacted">' in content and "<strong>3</strong>" in content
    filtered = client.get("/onboarding/?status=approved")
    assert "No applications match." in filtered.content.decode()
    found = client.get("/onboarding/?status=all&q=0102")
    assert str(world["a1"].public_id) in found.content.decode()
    assert str(world["a2"].public_id) not in found.content.decode()


def test_flow_is_edited_in_the_admin(client, world, flow):
    client.force_login(world["admin"])
    assert client.get(f"/admin/onboarding/flow/{flow.pk}/change/").status_code == 200
    step = flow.steps.get(key="car")
    form = StepForm(
        instance=step,
        data={
            "position": 95,
            "key": "car",
            "kind": StepKind.ASK_CHOICE,
            "field": "car",
            "text_en": "Own car or ours?",
            "text_ru": "Своя машина или наша?",
            "choices_en": "Mine\nYours",
            "choices_ru": "Своя\nВаша",
            "choice_values": "own > vehicle_registration\nfleet",
            "skip_if_known": "on",
        },
    )
    assert form.is_valid(), form.errors
    form.save()
    step = FlowStep.objects.get(pk=step.pk)
    assert step.text == {"en": "Own car or ours?", "ru": "Своя машина или наша?"}
    assert step.choices == [
        {"value": "own", "next": "vehicle_registration", "labels": {"en": "Mine", "ru": "Своя"}},
        {"value": "fleet", "next": "", "labels": {"en": "Yours", "ru": "Ваша"}},
    ]
    empty = StepForm(instance=step, data={"position": 1, "key": "car", "kind": "ask_choice"})
    assert not empty.is_valid() and "choice_values" in empty.errors


# --- the API -----------------------------------------------------------------------------------


def test_api_create_list_detail_and_decide(client, world):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=world["mgr1"])
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    bad = client.post("/api/applications/", {"first_name": "Azamat", "phone": "12"}, **auth)
    assert bad.status_code == 400 and "phone" in bad.json()
    made = client.post(
        "/api/applications/",
        {"first_name": "Azamat", "last_name": "Rakhimov", "phone": "+79160000150"},
        content_type="application/json",
        **auth,
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["status"] == "contacted" and body["source"] == "api"
    assert body["data"]["full_name"] == "Azamat Rakhimov"
    listed = client.get("/api/applications/", **auth).json()
    ids = {item["public_id"] for item in listed["results"]}
    assert body["public_id"] in ids and str(world["a1"].public_id) in ids
    assert str(world["a2"].public_id) not in ids and str(world["a_b"].public_id) not in ids
    assert client.get(f"/api/applications/{world['a2'].public_id}/", **auth).status_code == 404
    detail = client.get(f"/api/applications/{body['public_id']}/", **auth).json()
    assert [c["to_status"] for c in detail["changes"]] == ["new", "contacted"]
    rejected = client.post(
        f"/api/applications/{body['public_id']}/reject/",
        {"reason": ""},
        content_type="application/json",
        **auth,
    )
    assert rejected.status_code == 400 and "reason" in rejected.json()
    approved = client.post(f"/api/applications/{body['public_id']}/approve/", **auth)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    again = client.post(f"/api/applications/{body['public_id']}/approve/", **auth)
    assert again.status_code == 400
    tech = Token.objects.create(user=world["tech1"])
    assert (
        client.get("/api/applications/", HTTP_AUTHORIZATION=f"Token {tech.key}").status_code == 403
    )


def test_admin_lists_only_visible_applications(client, world):
    world["mgr2"].is_staff = True
    world["mgr2"].save(update_fields=["is_staff"])
    client.force_login(world["mgr2"])
    page = client.get("/admin/onboarding/application/")
    assert page.status_code == 200
    text = page.content.decode()
    link = "/admin/onboarding/application/{}/change/"
    assert link.format(world["a2"].pk) in text and link.format(world["a_org"].pk) in text
    assert link.format(world["a1"].pk) not in text and link.format(world["a_b"].pk) not in text
    assert client.get(f"/admin/onboarding/application/{world['a1'].pk}/change/").status_code in (
        302,
        404,
    )
