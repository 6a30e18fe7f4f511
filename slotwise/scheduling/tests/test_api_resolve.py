"""The API's look-ups of a type (with the organisation's policy) and of a staff member: scoped to
the organisation, the plain-SQL path on PostgreSQL gives what the ORM path gives."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from slotwise.scheduling import api
from slotwise.scheduling.models import AppointmentType, SchedulingPolicy
from slotwise.scheduling.selectors import scheduling_policy_for
from slotwise.tests_factories import OrganisationFactory, StaffFactory, make_unit

pytestmark = pytest.mark.django_db


def _fields(obj):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _type(org, **kw):
    defaults = {"name": "Consult", "slug": "consult", "duration_minutes": 30, "currency": "EUR"}
    return AppointmentType.objects.create(organisation=org, **{**defaults, **kw})


def test_type_by_slug_or_id_with_the_policy_in_one_query():
    org = OrganisationFactory()
    policy = SchedulingPolicy.objects.create(organisation=org, observe_public_holidays=False)
    consult = _type(org)
    for value in ("consult", str(consult.pk)):
        org = type(org).objects.get(pk=org.pk)
        with CaptureQueriesContext(connection) as queries:
            found = api.resolve_type(org, value)
            assert scheduling_policy_for(org).pk == policy.pk
            assert found.organisation is org
        assert len(queries) == 1
        assert _fields(found) == _fields(AppointmentType.objects.get(pk=consult.pk))


def test_type_scoped_active_and_without_policy():
    org, other = OrganisationFactory(), OrganisationFactory()
    _type(org, slug="old", active=False)
    foreign = _type(other, slug="theirs")
    for value in ("old", "theirs", str(foreign.pk), "nope", "99999999999999999999999"):
        with pytest.raises(ValidationError) as exc:
            api.resolve_type(org, value)
        assert "type" in exc.value.message_dict
    assert api.resolve_type(org, "old", active_only=False).slug == "old"
    # No saved policy: the defaults, nothing cached wrongly.
    assert scheduling_policy_for(org).pk is None


def test_staff_scoped_with_user_and_unit():
    org, other = OrganisationFactory(), OrganisationFactory()
    staff = StaffFactory(unit=make_unit(org, "Branch"))
    stranger = StaffFactory(unit=make_unit(other, "Elsewhere"))
    with CaptureQueriesContext(connection) as queries:
        found = api.resolve_staff(org, staff.pk)
        assert found.user.username == staff.user.username
        assert found.unit.name == "Branch"
    assert len(queries) == 1
    assert _fields(found) == _fields(staff.__class__.objects.get(pk=staff.pk))
    for value in (stranger.pk, 0, 2**70):
        with pytest.raises(ValidationError):
            api.resolve_staff(org, value)


def test_contact_access_rule_same_as_contacts_for():
    from django.contrib.auth import get_user_model

    from slotwise.customers.selectors import contacts_for
    from slotwise.org.roles import Role
    from slotwise.tests_factories import ContactFactory

    org, other = OrganisationFactory(), OrganisationFactory()
    hq = make_unit(org, "HQ")
    a = make_unit(org, "A", parent=hq)
    b = make_unit(org, "B", parent=hq)
    below_a = make_unit(org, "A1", parent=a)
    rep_a = StaffFactory(unit=a, roles=[Role.REPRESENTATIVE])
    admin = StaffFactory(unit=hq, roles=[Role.ORG_ADMIN])
    contacts = {
        "none": ContactFactory(organisation=org, unit=None),
        "a": ContactFactory(organisation=org, unit=a),
        "below_a": ContactFactory(organisation=org, unit=below_a),
        "b": ContactFactory(organisation=org, unit=b),
        "hq": ContactFactory(organisation=org, unit=hq),
        "other": ContactFactory(organisation=other),
    }
    User = get_user_model()
    for staff, visible in (
        (rep_a, {"none", "a", "below_a"}),
        (admin, {"none", "a", "below_a", "b", "hq"}),
    ):
        seen = set()
        for name, contact in contacts.items():
            user = User.objects.get(pk=staff.user_id)  # a fresh request's user
            try:
                found = api.resolve_contact(user, str(contact.public_id))
            except ValidationError:
                continue
            assert _fields(found) == _fields(contact.__class__.objects.get(pk=contact.pk))
            assert found.organisation.pk == org.pk
            seen.add(name)
        assert seen == visible
        orm = set(
            contacts_for(User.objects.get(pk=staff.user_id)).values_list("public_id", flat=True)
        )
        assert orm == {contacts[n].public_id for n in visible}
    with pytest.raises(ValidationError):
        api.resolve_contact(User.objects.get(pk=rep_a.user_id), "not-a-uuid")
