"""What the customer hears when a visit is released, and where an order without a unit goes."""

import pytest
from django.db.models import Q

from slotwise.messaging.models import Message
from slotwise.org.roles import Role
from slotwise.tests_factories import ContactFactory
from slotwise.workorders import services
from slotwise.workorders.models import Source

from .fixtures import World, local, make_staff, next_day

pytestmark = pytest.mark.django_db


def _to_customer(w):
    return Message.objects.filter(
        Q(contact=w.contact) | Q(to__in=[w.contact.email, w.contact.phone])
    ).count()


def _assigned(w):
    order = services.work_order_create(
        organisation=w.org,
        contact=w.contact,
        source=Source.PHONE,
        title="Leak",
        type=w.type,
        location=w.location,
    )
    return services.work_order_assign(order=order, technician=w.tech, start=local(next_day(), 11))


def test_a_decline_does_not_tell_the_customer_the_visit_is_cancelled():
    w = World()
    order = _assigned(w)
    before = _to_customer(w)
    services.work_order_act(
        order=order, action="decline", reason="Van broke down", actor=w.tech.user
    )
    order.refresh_from_db()
    assert order.booking is None
    assert _to_customer(w) == before


def test_a_cancelled_order_tells_the_customer():
    w = World()
    order = _assigned(w)
    before = _to_customer(w)
    services.work_order_act(
        order=order, action="cancel", reason="Customer fixed it", actor=w.manager.user
    )
    assert _to_customer(w) > before


def test_an_order_without_unit_goes_to_the_highest_unit_with_a_manager():
    w = World()  # the manager sits in "Field team", below the top unit
    stranger = ContactFactory(organisation=w.org, unit=None)
    order = services.work_order_create(
        organisation=w.org, contact=stranger, source=Source.WEB_FORM, title="Gutter"
    )
    assert order.unit_id == w.team.pk
    assert services.intake_unit(w.org) == w.team


def test_without_managers_the_top_unit_takes_the_order():
    w = World()
    w.manager.roles.all().delete()
    make_staff(w.org, unit=w.root, roles=(Role.ORG_ADMIN,), hours=())
    assert services.intake_unit(w.org) == w.root
