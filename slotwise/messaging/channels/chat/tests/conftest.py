"""Shared fixtures of the chat tests: an organisation with two units, a manager in each, a
technician, and a customer with a login."""

import pytest

from slotwise.core.tests.conftest import _test_settings  # noqa: F401
from slotwise.org.roles import Role
from slotwise.tests_factories import (
    ContactFactory,
    OrganisationFactory,
    StaffFactory,
    UserFactory,
    make_unit,
)


@pytest.fixture
def world(db):
    org = OrganisationFactory(country="SE", time_zone="Europe/Stockholm")
    root = make_unit(org, "Root")
    north = make_unit(org, "North", root)
    south = make_unit(org, "South", root)
    customer_user = UserFactory(first_name="Cecilia")
    other_user = UserFactory()
    return {
        "org": org,
        "root": root,
        "north": north,
        "south": south,
        "admin": StaffFactory(unit=root, roles=[Role.ORG_ADMIN]),
        "mgr_north": StaffFactory(unit=north, roles=[Role.MANAGER]),
        "mgr_south": StaffFactory(unit=south, roles=[Role.MANAGER]),
        "tech_north": StaffFactory(unit=north, roles=[Role.TECHNICIAN]),
        "rep_north": StaffFactory(unit=north, roles=[Role.REPRESENTATIVE]),
        "customer": ContactFactory(
            organisation=org, first_name="Cecilia", user=customer_user, phone="+46701234567"
        ),
        "customer_user": customer_user,
        "other_customer": ContactFactory(organisation=org, user=other_user),
        "other_user": other_user,
        "other_org_admin": StaffFactory(
            unit=make_unit(OrganisationFactory(), "B"), roles=[Role.ORG_ADMIN]
        ),
    }
