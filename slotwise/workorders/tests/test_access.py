"""Who sees and does what (S2.14): the `rules` permissions and `selectors.orders_for` agree, and
a technician sees only their own orders, a manager only their units', an org admin all of the
organisation's, a customer and another organisation nothing."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser

from slotwise.org.roles import Role
from slotwise.tests_factories import ContactFactory, UserFactory, make_unit
from slotwise.workorders import selectors, services

from .fixtures import World, local, make_location, make_org, make_staff, next_day

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Matrix:
    """World + a Valley team with its manager and technician, an org admin, a call-centre agent,
    a customer with a login and a manager of another organisation; four orders."""

    def __init__(self):
        w = self.w = World()
        self.valley_manager = make_staff(w.org, unit=w.other_team, roles=(Role.MANAGER,), hours=())
        self.valley_tech = make_staff(w.org, unit=w.other_team, skills={"plumbing": 3})
        self.admin = make_staff(w.org, unit=w.other_team, roles=(Role.ORG_ADMIN,), hours=())
        self.head = make_staff(w.org, unit=w.root, roles=(Role.MANAGER,), hours=())
        self.agent = make_staff(w.org, unit=w.team, roles=(Role.CALL_CENTRE,), hours=())
        customer_user = UserFactory()
        ContactFactory(organisation=w.org, user=customer_user, phone="+13105550133")
        self.customer = customer_user
        other_org = make_org()
        other_unit = make_unit(other_org, "Elsewhere")
        self.stranger = make_staff(other_org, unit=other_unit, roles=(Role.ORG_ADMIN,), hours=())
        self.stranger_tech = make_staff(other_org, unit=other_unit, skills={"plumbing": 3})

        self.mine = self._order("Tom's job", w.tech, local(next_day(), 10))
        self.ana = self._order("Ana's job", w.tech2, local(next_day(), 10))
        self.valley = self._order("Valley job", self.valley_tech, local(next_day(), 11))
        self.draft = services.work_order_create(
            organisation=w.org,
            contact=w.contact,
            source="phone",
            title="Unassigned in the Valley",
            unit=w.other_team,
        )
        other_contact = ContactFactory(organisation=other_org, phone="+13105550144")
        self.theirs = services.work_order_create(
            organisation=other_org,
            contact=other_contact,
            source="phone",
            title="Their job",
            location=make_location(other_org),
        )
        self.orders = [self.mine, self.ana, self.valley, self.draft, self.theirs]

    def _order(self, title, technician, start):
        w = self.w
        order = services.work_order_create(
            organisation=w.org,
            contact=w.contact,
            source="phone",
            title=title,
            type=w.type,
            location=w.location,
        )
        return services.work_order_assign(
            order=order, technician=technician, start=start, actor=w.manager.user
        )

    def users(self) -> dict:
        w = self.w
        return {
            "tech": w.tech.user,
            "tech2": w.tech2.user,
            "manager": w.manager.user,
            "valley_manager": self.valley_manager.user,
            "valley_tech": self.valley_tech.user,
            "admin": self.admin.user,
            "head": self.head.user,
            "agent": self.agent.user,
            "customer": self.customer,
            "stranger": self.stranger.user,
            "stranger_tech": self.stranger_tech.user,
            "anonymous": AnonymousUser(),
        }


@pytest.fixture
def m():
    return Matrix()


def _titles(user) -> set[str]:
    return set(selectors.orders_for(user).values_list("title", flat=True))


EXPECTED_VIEW = {
    "tech": {"Tom's job"},
    "tech2": {"Ana's job"},
    "valley_tech": {"Valley job"},
    "manager": {"Tom's job", "Ana's job"},
    "agent": {"Tom's job", "Ana's job"},
    "valley_manager": {"Valley job", "Unassigned in the Valley"},
    "head": {"Tom's job", "Ana's job", "Valley job", "Unassigned in the Valley"},
    "admin": {"Tom's job", "Ana's job", "Valley job", "Unassigned in the Valley"},
    "customer": set(),
    "stranger": {"Their job"},
    "stranger_tech": set(),
    "anonymous": set(),
}


def test_orders_for_matrix(m):
    seen = {name: _titles(user) for name, user in m.users().items()}
    assert seen == EXPECTED_VIEW


def test_view_permission_agrees_with_the_selector(m):
    for name, user in m.users().items():
        for order in m.orders:
            allowed = user.has_perm("workorders.view_order", order)
            assert allowed == (order.title in EXPECTED_VIEW[name]), (name, order.title)
            found = selectors.order_for(user, order.public_id)
            assert (found is not None) == allowed, (name, order.title)


def test_only_managers_of_the_unit_manage_and_only_the_assignee_works(m):
    users = m.users()
    manage = {
        name: {o.title for o in m.orders if user.has_perm("workorders.manage_order", o)}
        for name, user in users.items()
    }
    assert manage["manager"] == {"Tom's job", "Ana's job"}
    assert manage["valley_manager"] == {"Valley job", "Unassigned in the Valley"}
    assert manage["admin"] == manage["head"] == EXPECTED_VIEW["admin"]
    assert manage["stranger"] == {"Their job"}
    for name in ("tech", "tech2", "valley_tech", "agent", "customer", "anonymous"):
        assert manage[name] == set(), name
    work = {
        name: {o.title for o in m.orders if user.has_perm("workorders.work_on_order", o)}
        for name, user in users.items()
    }
    assert work == {
        **{name: set() for name in users},
        "tech": {"Tom's job"},
        "tech2": {"Ana's job"},
        "valley_tech": {"Valley job"},
    }


def test_page_level_permissions(m):
    users = m.users()

    def holders(perm):
        return {name for name, user in users.items() if user.has_perm(perm)}

    office = {"manager", "valley_manager", "admin", "head", "agent", "stranger"}
    managers = office - {"agent"}
    assert holders("workorders.create_order") == office
    assert holders("workorders.view_orders") == office
    assert holders("workorders.dispatch") == managers
    assert holders("workorders.manage_catalogue") == managers
    assert holders("workorders.use_tech_app") == {
        "tech",
        "tech2",
        "valley_tech",
        "stranger_tech",
    }


def test_earnings_are_seen_by_oneself_and_the_unit_managers(m):
    w = m.w
    users = m.users()
    see_tom = {
        name for name, user in users.items() if user.has_perm("workorders.view_earnings_of", w.tech)
    }
    assert see_tom == {"tech", "manager", "head", "admin"}
    pay_tom = {
        name for name, user in users.items() if user.has_perm("workorders.manage_pay_of", w.tech)
    }
    assert pay_tom == {"manager", "head", "admin"}


def test_a_declined_or_reassigned_order_leaves_the_technicians_list(m):
    w = m.w
    assert _titles(w.tech.user) == {"Tom's job"}
    services.work_order_assign(
        order=m.mine, technician=w.tech2, start=local(next_day(), 14), actor=w.manager.user
    )
    m.mine.refresh_from_db()
    assert _titles(w.tech.user) == set()
    assert not w.tech.user.has_perm("workorders.view_order", m.mine)
    assert _titles(w.tech2.user) == {"Tom's job", "Ana's job"}
    services.work_order_act(order=m.mine, action="decline", reason="Busy", actor=w.tech2.user)
    assert _titles(w.tech2.user) == {"Ana's job"}
    # reassigned to the Valley: the Field team's manager no longer sees it, the Valley's does
    services.work_order_assign(
        order=m.mine, technician=m.valley_tech, start=local(next_day(), 15), actor=w.manager.user
    )
    assert "Tom's job" not in _titles(w.manager.user)
    assert "Tom's job" in _titles(m.valley_manager.user)


def test_order_for_ignores_bad_ids(m):
    assert selectors.order_for(m.w.manager.user, "not-a-uuid") is None
    assert selectors.order_for(m.w.manager.user, uuid.uuid4()) is None
    assert selectors.order_for(m.w.manager.user, m.mine.public_id).pk == m.mine.pk


def test_superuser_sees_everything(m):
    root = UserFactory(is_superuser=True)
    assert selectors.orders_for(root).count() == len(m.orders)
