"""staff_of: one query per request, with organisation, unit and roles; the plain-SQL path on
PostgreSQL gives exactly what the ORM path gives."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from slotwise.org import selectors
from slotwise.org.roles import Role
from slotwise.tests_factories import OrganisationFactory, StaffFactory, UserFactory, make_unit

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    return OrganisationFactory()


def _fields(obj):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_staff_of_one_query_with_roles(org):
    staff = StaffFactory(unit=make_unit(org, "Branch"), roles=[Role.MANAGER, Role.CALL_CENTRE])
    staff.languages = ["nl", "en"]
    staff.save()
    user = staff.user
    with CaptureQueriesContext(connection) as queries:
        found = selectors.staff_of(user)
        assert found.pk == staff.pk
        assert found.organisation.pk == org.pk and found.unit.pk == staff.unit_id
        assert found.role_set == {Role.MANAGER, Role.CALL_CENTRE}
        assert found.has_role(Role.MANAGER) and not found.has_role(Role.ORG_ADMIN)
        assert found.languages == ["nl", "en"]
        assert selectors.staff_of(user) is found  # cached for the request
    assert len(queries) == 1


def test_staff_without_roles_and_non_staff(org):
    staff = StaffFactory(unit=make_unit(org, "Branch"))
    assert selectors.staff_of(staff.user).role_set == frozenset()
    assert selectors.staff_of(UserFactory()) is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plain-SQL path is PostgreSQL's")
def test_postgres_path_equals_orm_path(org):
    staff = StaffFactory(unit=make_unit(org, "Branch"), roles=[Role.ORG_ADMIN])
    raw = selectors._staff_of_postgres(staff.user.pk)
    orm = selectors._staff_of_orm(staff.user)
    assert _fields(raw) == _fields(orm)
    assert _fields(raw.organisation) == _fields(orm.organisation)
    assert _fields(raw.unit) == _fields(orm.unit)
    assert raw.role_set == orm.role_set == {Role.ORG_ADMIN}
    assert selectors._staff_of_postgres(UserFactory().pk) is None
