"""Who sees what: two organisations, a unit tree in org A, staff in each unit, contacts in units.

Selectors, rules permissions, the admin and the API must never leak another organisation's or a
sibling unit's objects."""

from __future__ import annotations

import pytest

from slotwise.customers.models import Contact
from slotwise.customers.selectors import contacts_for
from slotwise.org.models import Staff
from slotwise.org.roles import Role
from slotwise.org.selectors import staff_for, units_for
from slotwise.tests_factories import (
    ContactFactory,
    OrganisationFactory,
    StaffFactory,
    UserFactory,
    make_unit,
)


def fresh(user):
    """The same user without the per-request staff cache (as the next request would see it)."""
    user.__dict__.pop("_staff_cache", None)
    return user


@pytest.fixture
def world(db):
    org_a = OrganisationFactory(slug="org-a")
    org_b = OrganisationFactory(slug="org-b")
    root = make_unit(org_a, "Root")
    dept1 = make_unit(org_a, "Dept 1", root)
    dept2 = make_unit(org_a, "Dept 2", root)
    sub = make_unit(org_a, "Dept 1 / Sub", dept1)
    b_root = make_unit(org_b, "B Root")

    w = {
        "org_a": org_a,
        "org_b": org_b,
        "root": root,
        "dept1": dept1,
        "dept2": dept2,
        "sub": sub,
        "b_root": b_root,
    }
    w["admin_a"] = StaffFactory(unit=root, roles=[Role.ORG_ADMIN])
    w["mgr1"] = StaffFactory(unit=dept1, roles=[Role.MANAGER])
    w["mgr2"] = StaffFactory(unit=dept2, roles=[Role.MANAGER])
    w["tech_sub"] = StaffFactory(unit=sub, roles=[Role.TECHNICIAN])
    w["tech2"] = StaffFactory(unit=dept2, roles=[Role.TECHNICIAN])
    w["mgr_b"] = StaffFactory(unit=b_root, roles=[Role.ORG_ADMIN])

    w["c_root"] = ContactFactory(organisation=org_a, unit=None, first_name="Orgwide")
    w["c1"] = ContactFactory(organisation=org_a, unit=dept1, first_name="Dept1Contact")
    w["c_sub"] = ContactFactory(organisation=org_a, unit=sub, first_name="SubContact")
    w["c2"] = ContactFactory(organisation=org_a, unit=dept2, first_name="Dept2Contact")
    w["c_b"] = ContactFactory(organisation=org_b, unit=b_root, first_name="OrgBContact")
    customer_user = UserFactory()
    w["c_own"] = ContactFactory(
        organisation=org_a, unit=dept1, first_name="Own", user=customer_user
    )
    w["customer"] = customer_user
    return w


def pks(qs):
    return set(qs.values_list("pk", flat=True))


# --- selectors ---------------------------------------------------------------------------------


def test_staff_for_never_crosses_orgs_or_siblings(world):
    w = world
    mgr1 = fresh(w["mgr1"].user)
    assert pks(staff_for(mgr1)) == {w["mgr1"].pk, w["tech_sub"].pk}
    mgr2 = fresh(w["mgr2"].user)
    assert pks(staff_for(mgr2)) == {w["mgr2"].pk, w["tech2"].pk}
    admin_a = fresh(w["admin_a"].user)
    assert pks(staff_for(admin_a)) == set(
        Staff.objects.filter(organisation=w["org_a"]).values_list("pk", flat=True)
    )
    assert pks(staff_for(fresh(w["mgr_b"].user))) == {w["mgr_b"].pk}
    assert pks(staff_for(fresh(w["customer"]))) == set()


def test_units_for_never_crosses_orgs_or_siblings(world):
    w = world
    assert pks(units_for(fresh(w["mgr1"].user))) == {w["dept1"].pk, w["sub"].pk}
    assert pks(units_for(fresh(w["mgr2"].user))) == {w["dept2"].pk}
    assert pks(units_for(fresh(w["tech_sub"].user))) == {w["sub"].pk}
    assert pks(units_for(fresh(w["admin_a"].user))) == {
        w["root"].pk,
        w["dept1"].pk,
        w["dept2"].pk,
        w["sub"].pk,
    }
    assert pks(units_for(fresh(w["mgr_b"].user))) == {w["b_root"].pk}


def test_contacts_for_never_crosses_orgs_or_siblings(world):
    w = world
    assert pks(contacts_for(fresh(w["mgr1"].user))) == {
        w["c_root"].pk,
        w["c1"].pk,
        w["c_sub"].pk,
        w["c_own"].pk,
    }
    assert pks(contacts_for(fresh(w["mgr2"].user))) == {w["c_root"].pk, w["c2"].pk}
    assert pks(contacts_for(fresh(w["tech_sub"].user))) == {w["c_root"].pk, w["c_sub"].pk}
    assert pks(contacts_for(fresh(w["admin_a"].user))) == set(
        Contact.objects.filter(organisation=w["org_a"]).values_list("pk", flat=True)
    )
    assert pks(contacts_for(fresh(w["mgr_b"].user))) == {w["c_b"].pk}


def test_customer_sees_only_own_contact(world):
    w = world
    customer = fresh(w["customer"])
    assert pks(contacts_for(customer)) == {w["c_own"].pk}
    assert customer.has_perm("customers.view_contact", w["c_own"])
    for other in ("c_root", "c1", "c2", "c_b", "c_sub"):
        assert not customer.has_perm("customers.view_contact", w[other]), other


# --- rules permissions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "contact", "allowed"),
    [
        ("mgr1", "c1", True),
        ("mgr1", "c_sub", True),
        ("mgr1", "c_root", True),
        ("mgr1", "c2", False),
        ("mgr1", "c_b", False),
        ("mgr2", "c1", False),
        ("mgr2", "c_sub", False),
        ("tech_sub", "c1", False),
        ("tech_sub", "c_sub", True),
        ("admin_a", "c1", True),
        ("admin_a", "c2", True),
        ("admin_a", "c_sub", True),
        ("admin_a", "c_b", False),
        ("mgr_b", "c1", False),
        ("mgr_b", "c_b", True),
    ],
)
def test_view_contact_permission(world, who, contact, allowed):
    user = fresh(world[who].user)
    assert user.has_perm("customers.view_contact", world[contact]) is allowed


@pytest.mark.parametrize(
    ("who", "target", "allowed"),
    [
        ("mgr1", "mgr1", True),
        ("mgr1", "tech_sub", True),
        ("mgr1", "mgr2", False),
        ("mgr1", "tech2", False),
        ("mgr1", "admin_a", False),
        ("mgr1", "mgr_b", False),
        ("mgr2", "tech_sub", False),
        ("admin_a", "tech_sub", True),
        ("admin_a", "tech2", True),
        ("admin_a", "mgr_b", False),
        ("mgr_b", "mgr1", False),
        ("tech_sub", "tech_sub", False),  # technicians don't manage staff
    ],
)
def test_view_staff_member_permission(world, who, target, allowed):
    user = fresh(world[who].user)
    assert user.has_perm("org.view_staff_member", world[target]) is allowed


def test_use_admin_permission(world):
    assert fresh(world["mgr1"].user).has_perm("org.use_admin")
    assert fresh(world["admin_a"].user).has_perm("org.use_admin")
    assert not fresh(world["tech_sub"].user).has_perm("org.use_admin")
    assert not fresh(world["customer"]).has_perm("org.use_admin")


# --- admin ---------------------------------------------------------------------------------------


def changelist_names(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_admin_contact_changelist_only_allowed_rows(world, client):
    w = world
    client.force_login(w["mgr1"].user)
    page = changelist_names(client, "/admin/customers/contact/")
    for visible in ("Orgwide", "Dept1Contact", "SubContact"):
        assert visible in page
    for hidden in ("Dept2Contact", "OrgBContact"):
        assert hidden not in page

    client.force_login(w["mgr_b"].user)
    page = changelist_names(client, "/admin/customers/contact/")
    assert "OrgBContact" in page
    for hidden in ("Orgwide", "Dept1Contact", "SubContact", "Dept2Contact"):
        assert hidden not in page


def test_admin_staff_and_unit_changelists(world, client):
    w = world
    client.force_login(w["mgr1"].user)
    page = changelist_names(client, "/admin/org/orgunit/")
    assert "Dept 1 / Sub" in page
    assert "Dept 2" not in page and "B Root" not in page
    staff_page = changelist_names(client, "/admin/org/staff/")
    assert str(w["tech_sub"].user) in staff_page
    assert str(w["tech2"].user) not in staff_page
    assert str(w["mgr_b"].user) not in staff_page
    org_page = changelist_names(client, "/admin/org/organisation/")
    assert w["org_a"].name in org_page and w["org_b"].name not in org_page


@pytest.mark.parametrize(
    "url_of",
    [
        lambda w: f"/admin/customers/contact/{w['c_b'].pk}/change/",
        lambda w: f"/admin/customers/contact/{w['c2'].pk}/change/",
        lambda w: f"/admin/org/staff/{w['mgr_b'].pk}/change/",
        lambda w: f"/admin/org/staff/{w['tech2'].pk}/change/",
        lambda w: f"/admin/org/orgunit/{w['b_root'].pk}/change/",
        lambda w: f"/admin/org/organisation/{w['org_b'].pk}/change/",
        lambda w: f"/admin/customers/contact/{w['c_b'].pk}/history/",
        lambda w: f"/admin/customers/contact/{w['c2'].pk}/history/",
        lambda w: f"/admin/org/staff/{w['mgr_b'].pk}/history/",
    ],
)
def test_admin_detail_of_other_objects_not_shown(world, client, url_of):
    client.force_login(world["mgr1"].user)
    response = client.get(url_of(world))
    assert response.status_code in (302, 404)


def test_admin_detail_of_own_objects_shown(world, client):
    client.force_login(world["mgr1"].user)
    assert client.get(f"/admin/customers/contact/{world['c_sub'].pk}/change/").status_code == 200
    assert client.get(f"/admin/org/staff/{world['tech_sub'].pk}/change/").status_code == 200


def test_admin_closed_to_non_managers(world, client):
    client.force_login(world["tech_sub"].user)  # is_staff but not a manager
    response = client.get("/admin/customers/contact/")
    assert response.status_code in (302, 403)
    client.force_login(world["customer"])  # not is_staff at all
    assert client.get("/admin/customers/contact/").status_code == 302


def test_admin_add_contact_sets_organisation_and_limits_units(world, client):
    w = world
    client.force_login(w["mgr1"].user)
    response = client.get("/admin/customers/contact/add/")
    form = response.context["adminform"].form
    assert "organisation" not in form.fields
    assert set(form.fields["unit"].queryset) == {w["dept1"], w["sub"]}
    location_orgs = {loc.organisation_id for loc in form.fields["location"].queryset}
    assert location_orgs <= {w["org_a"].pk}
    response = client.post(
        "/admin/customers/contact/add/",
        {
            "first_name": "Added",
            "last_name": "ByAdmin",
            "unit": w["sub"].pk,
            "language": "en",
            "preferred_channel": "sms",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    added = Contact.objects.get(first_name="Added")
    assert added.organisation == w["org_a"]
    # A unit of another branch can't be chosen.
    response = client.post(
        "/admin/customers/contact/add/",
        {"first_name": "Bad", "unit": w["dept2"].pk, "language": "en", "preferred_channel": "sms"},
    )
    assert response.status_code == 200
    assert not Contact.objects.filter(first_name="Bad").exists()


def test_admin_region_saves_through_service(world, client):
    from slotwise.org.models import Region

    client.force_login(world["admin_a"].user)
    response = client.post(
        "/admin/org/region/add/", {"name": "North", "country": "NL", "postcodes": "1000-1099, 1200"}
    )
    assert response.status_code == 302
    region = Region.objects.get(name="North")
    assert region.organisation == world["org_a"]
    assert sorted((r.start, r.end) for r in region.ranges.all()) == [
        ("1000", "1099"),
        ("1200", "1200"),
    ]
    response = client.post(
        "/admin/org/region/add/", {"name": "Bad", "country": "NL", "postcodes": "12-1"}
    )
    assert response.status_code == 200
    assert "postcodes" in response.context["adminform"].form.errors
    assert not Region.objects.filter(name="Bad").exists()


def test_admin_orgunit_create_and_move(world, client):
    from slotwise.org.models import OrgUnit

    w = world
    client.force_login(w["admin_a"].user)
    response = client.post(
        "/admin/org/orgunit/add/", {"name": "Team X", "kind": "team", "parent": w["dept2"].pk}
    )
    assert response.status_code == 302
    team = OrgUnit.objects.get(name="Team X")
    assert team.organisation == w["org_a"]
    assert team.path == f"{w['dept2'].path}{team.pk}/"
    response = client.post(
        f"/admin/org/orgunit/{team.pk}/change/",
        {"name": "Team X", "kind": "team", "parent": w["dept1"].pk},
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.path == f"{w['dept1'].path}{team.pk}/"
    # Below itself: a form error, nothing changes.
    response = client.post(
        f"/admin/org/orgunit/{w['dept1'].pk}/change/",
        {"name": "Dept 1", "kind": "department", "parent": w["sub"].pk},
    )
    assert response.status_code == 200
    w["dept1"].refresh_from_db()
    assert w["dept1"].parent_id == w["root"].pk


def test_admin_outbox_read_only(world, client):
    from slotwise.tests_factories import MessageFactory

    mine = MessageFactory(organisation=world["org_a"], to="+31600000001")
    MessageFactory(organisation=world["org_b"], to="+31600000002")
    client.force_login(world["admin_a"].user)
    page = changelist_names(client, "/admin/messaging/message/")
    assert "+31600000001" in page and "+31600000002" not in page
    assert client.get("/admin/messaging/message/add/").status_code == 403
    response = client.post(
        f"/admin/messaging/message/{mine.pk}/change/", {"to": "+31699999999", "body": "x"}
    )
    assert response.status_code == 403
    mine.refresh_from_db()
    assert mine.to == "+31600000001"


# --- API ----------------------------------------------------------------------------------------


def test_api_me_returns_own_org_only(world, client):
    client.force_login(world["mgr1"].user)
    data = client.get("/api/me/").json()
    assert data["organisation"] == "org-a"
    assert data["unit"] == "Dept 1"
    assert data["roles"] == [Role.MANAGER]
    client.force_login(world["mgr_b"].user)
    assert client.get("/api/me/").json()["organisation"] == "org-b"


def test_api_me_requires_login(client, db):
    assert client.get("/api/me/").status_code in (401, 403)


def test_admin_staff_change_page_with_inlines(world, client):
    w = world
    client.force_login(w["mgr1"].user)
    response = client.get(f"/admin/org/staff/{w['tech_sub'].pk}/change/")
    assert response.status_code == 200
    prefixes = {formset.formset.prefix for formset in response.context["inline_admin_formsets"]}
    assert {"roles", "skills", "working_hours", "exceptions"} <= prefixes
    form = response.context["adminform"].form
    assert "organisation" not in form.fields
    assert set(form.fields["unit"].queryset) == {w["dept1"], w["sub"]}
    assert all(r.organisation_id == w["org_a"].pk for r in form.fields["regions"].queryset)


def test_superuser_sees_everything(world, client):
    boss = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(boss)
    page = changelist_names(client, "/admin/customers/contact/")
    for name in ("Orgwide", "Dept1Contact", "Dept2Contact", "OrgBContact"):
        assert name in page
    response = client.get("/admin/customers/contact/add/")
    assert "organisation" in response.context["adminform"].form.fields
    assert client.get(f"/admin/customers/contact/{world['c_b'].pk}/history/").status_code == 200


def test_admin_region_change_with_bad_postcodes_keeps_ranges(world, client):
    from slotwise.org import services
    from slotwise.org.models import Region

    region = services.region_save(
        organisation=world["org_a"], name="South", country="NL", postcodes="3000-3099"
    )
    client.force_login(world["admin_a"].user)
    response = client.post(
        f"/admin/org/region/{region.pk}/change/",
        {"name": "South", "country": "NL", "postcodes": "3099-3000"},
    )
    assert response.status_code == 200
    assert "postcodes" in response.context["adminform"].form.errors
    region = Region.objects.get(pk=region.pk)
    assert region.postcodes == "3000-3099"
    assert [str(r) for r in region.ranges.all()] == ["3000-3099"]
    # Another organisation's admin can't reach it.
    client.force_login(world["mgr_b"].user)
    assert client.get(f"/admin/org/region/{region.pk}/change/").status_code in (302, 404)


def test_admin_regions_are_organisation_wide(world, client):
    """Regions have no unit: every manager of the organisation sees them (once), no one else."""
    from slotwise.org import services

    services.region_save(organisation=world["org_a"], name="RegionA", country="NL", postcodes="10")
    services.region_save(organisation=world["org_b"], name="RegionB", country="NL", postcodes="10")
    client.force_login(world["mgr1"].user)
    response = client.get("/admin/org/region/")
    assert [r.name for r in response.context["cl"].result_list] == ["RegionA"]


# --- payments and invoices ---------------------------------------------------------------------


@pytest.fixture
def money_world(world):
    from decimal import Decimal

    from slotwise.payments.models import Invoice, Payment

    w = world
    made = {}
    for key in ("c_root", "c1", "c_sub", "c2", "c_b", "c_own"):
        contact = w[key]
        made[f"p_{key}"] = Payment.objects.create(
            organisation=contact.organisation,
            provider="test",
            amount=Decimal("10"),
            currency="EUR",
            contact=contact,
        )
        for status in ("draft", "issued"):
            made[f"i_{key}_{status}"] = Invoice.objects.create(
                organisation=contact.organisation,
                contact=contact,
                currency="EUR",
                status=status,
                number=None if status == "draft" else Invoice.objects.count() + 1,
            )
    w.update(made)
    return w


def test_payments_and_invoices_never_cross_orgs_or_siblings(money_world):
    from slotwise.payments.selectors import invoices_for, payments_for

    w = money_world

    def expected(prefix, keys, statuses=("draft", "issued")):
        if prefix == "p":
            return {w[f"p_{k}"].pk for k in keys}
        return {w[f"i_{k}_{s}"].pk for k in keys for s in statuses}

    seen_by = {
        "admin_a": ("c_root", "c1", "c_sub", "c2", "c_own"),
        "mgr1": ("c_root", "c1", "c_sub", "c_own"),
        "mgr2": ("c_root", "c2"),
        "mgr_b": ("c_b",),
        "tech_sub": (),
    }
    for who, keys in seen_by.items():
        user = fresh(w[who].user)
        assert pks(payments_for(user)) == expected("p", keys), who
        assert pks(invoices_for(user)) == expected("i", keys), who
        for key in ("c_root", "c1", "c_sub", "c2", "c_b", "c_own"):
            visible = key in keys
            assert user.has_perm("payments.manage_payment", w[f"p_{key}"]) == visible, (who, key)
            assert user.has_perm("payments.see_invoice", w[f"i_{key}_issued"]) == visible, (
                who,
                key,
            )
    customer = fresh(w["customer"])
    assert pks(payments_for(customer)) == set()
    assert pks(invoices_for(customer)) == {w["i_c_own_issued"].pk}
    assert customer.has_perm("payments.see_invoice", w["i_c_own_issued"])
    assert not customer.has_perm("payments.see_invoice", w["i_c_own_draft"])
    for key in ("c_root", "c1", "c2", "c_b"):
        assert not customer.has_perm("payments.see_invoice", w[f"i_{key}_issued"]), key
        assert not customer.has_perm("payments.manage_payment", w[f"p_{key}"]), key


# --- contact card, conversations and timelines (messaging API) ---------------------------------


@pytest.fixture
def chat_world(world):
    from slotwise.messaging.chat import chat_message_post

    w = world
    for key in ("c_root", "c1", "c_sub", "c2", "c_b", "c_own"):
        w[f"conv_{key}"] = chat_message_post(contact=w[key], author=None, body=key).conversation
    return w


CARD_SEEN_BY = {
    "admin_a": ("c_root", "c1", "c_sub", "c2", "c_own"),
    "mgr1": ("c_root", "c1", "c_sub", "c_own"),
    "mgr2": ("c_root", "c2"),
    "tech_sub": ("c_root", "c_sub"),
    "mgr_b": ("c_b",),
}
CONTACT_KEYS = ("c_root", "c1", "c_sub", "c2", "c_b", "c_own")


@pytest.mark.parametrize("who", sorted(CARD_SEEN_BY))
def test_contact_card_and_timeline_never_cross_orgs_or_siblings(chat_world, client, who):
    w = chat_world
    client.force_login(w[who].user)
    for key in CONTACT_KEYS:
        visible = key in CARD_SEEN_BY[who]
        public_id = w[key].public_id
        assert client.get(f"/customers/{public_id}/").status_code == (200 if visible else 404), (
            who,
            key,
        )
        timeline = client.get(f"/api/contacts/{public_id}/timeline/")
        assert timeline.status_code == (200 if visible else 404), (who, key)


def test_contact_card_and_timeline_closed_to_the_customer(chat_world, client):
    w = chat_world
    client.force_login(w["customer"])
    for key in CONTACT_KEYS:  # their own card too: it holds staff notes
        assert client.get(f"/customers/{w[key].public_id}/").status_code == 404, key
        assert client.get(f"/api/contacts/{w[key].public_id}/timeline/").status_code == 404, key


@pytest.mark.parametrize("who", [*sorted(CARD_SEEN_BY), "customer"])
def test_api_conversations_never_cross_orgs_or_siblings(chat_world, client, who):
    w = chat_world
    user = w["customer"] if who == "customer" else w[who].user
    expected = ("c_own",) if who == "customer" else CARD_SEEN_BY[who]
    client.force_login(user)
    listed = {row["id"] for row in client.get("/api/conversations/").json()["results"]}
    assert listed == {str(w[f"conv_{key}"].public_id) for key in expected}
    for key in CONTACT_KEYS:
        url = f"/api/conversations/{w[f'conv_{key}'].public_id}/messages/"
        assert client.get(url).status_code == (200 if key in expected else 404), (who, key)
