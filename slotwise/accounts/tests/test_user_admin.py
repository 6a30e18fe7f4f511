"""The user admin: managers issue logins for their own organisation and units only, and can't
hand out superuser rights."""

import pytest

from slotwise.org.roles import Role
from slotwise.tests_factories import OrganisationFactory, StaffFactory, UserFactory, make_unit

PASSWORD = "pw-Slotwise-123"


@pytest.fixture
def world(db):
    org_a, org_b = OrganisationFactory(), OrganisationFactory()
    root = make_unit(org_a, "Root")
    dept1, dept2 = make_unit(org_a, "Dept 1", root), make_unit(org_a, "Dept 2", root)
    return {
        "manager": StaffFactory(unit=dept1, roles=[Role.MANAGER]),
        "admin": StaffFactory(unit=root, roles=[Role.ORG_ADMIN]),
        "own": StaffFactory(unit=dept1, roles=[Role.TECHNICIAN]),
        "sibling": StaffFactory(unit=dept2, roles=[Role.TECHNICIAN]),
        "other_org": StaffFactory(unit=make_unit(org_b, "B"), roles=[Role.TECHNICIAN]),
        "superuser": UserFactory(is_superuser=True, is_staff=True),
    }


def _names(client, who):
    client.login(username=who.user.username, password=PASSWORD)
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 200
    return {u.username for u in response.context["cl"].result_list}


def test_manager_sees_own_units_only(client, world):
    seen = _names(client, world["manager"])
    assert world["own"].user.username in seen
    assert world["sibling"].user.username not in seen
    assert world["other_org"].user.username not in seen
    assert world["superuser"].username not in seen


def test_org_admin_sees_the_whole_organisation_not_others(client, world):
    seen = _names(client, world["admin"])
    assert {world["own"].user.username, world["sibling"].user.username} <= seen
    assert world["other_org"].user.username not in seen


def test_other_org_user_page_is_not_reachable(client, world):
    client.login(username=world["manager"].user.username, password=PASSWORD)
    response = client.get(f"/admin/accounts/user/{world['other_org'].user.pk}/change/")
    assert response.status_code in (302, 404)


def test_manager_cannot_grant_superuser(client, world):
    client.login(username=world["manager"].user.username, password=PASSWORD)
    page = client.get(f"/admin/accounts/user/{world['own'].user.pk}/change/")
    assert page.status_code == 200
    assert "is_superuser" not in page.context["adminform"].form.fields
    assert "user_permissions" not in page.context["adminform"].form.fields
