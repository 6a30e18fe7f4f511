"""`manage.py demo_data`: five organisations, every role, idempotent."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from slotwise.bookings.models import Booking
from slotwise.customers.models import Contact
from slotwise.org.models import Location, Organisation, OrgUnit, Staff, StaffRole
from slotwise.org.roles import Role
from slotwise.scheduling.models import AppointmentType, SchedulingPolicy, WorkingHours

pytestmark = pytest.mark.django_db


def test_demo_data_is_complete_and_idempotent():
    out = io.StringIO()
    call_command("demo_data", stdout=out)
    counts = (
        Organisation.objects.count(),
        Staff.objects.count(),
        Contact.objects.count(),
        Location.objects.count(),
        AppointmentType.objects.count(),
        Booking.objects.count(),
    )
    call_command("demo_data", stdout=io.StringIO())
    assert counts == (
        Organisation.objects.count(),
        Staff.objects.count(),
        Contact.objects.count(),
        Location.objects.count(),
        AppointmentType.objects.count(),
        Booking.objects.count(),
    )
    assert counts[0] == 5
    # upcoming visits, each one bookable under the rules (check_bookable ran when making it);
    # the visit of the work-orders demo's closed order is done
    done = Booking.objects.filter(status="done", work_order__status="closed").count()
    assert Booking.objects.filter(status="confirmed").count() == counts[-1] - done > 0
    assert SchedulingPolicy.objects.count() == 5
    advies = AppointmentType.objects.get(organisation__slug="adviesgroep", slug="advies")
    assert advies.needs_travel and {r.name for r in advies.allowed_regions.all()} == {
        "Amsterdam",
        "Utrecht",
    }
    assert {(s.skill.code, s.min_level) for s in advies.skill_requirements.all()} == {
        ("hypotheek", 3)
    }
    for org in Organisation.objects.all():
        assert AppointmentType.objects.filter(organisation=org, active=True).exists(), org
    users = get_user_model().objects.all()
    for prefix in ("se", "la", "msk", "fleet", "nl"):
        for suffix in ("admin", "manager", "rep", "tech", "customer"):
            user = users.get(username=f"{prefix}-{suffix}")
            assert user.check_password("slotwise-demo")
            assert f"{prefix}-{suffix}" in out.getvalue()
    remstroy = Organisation.objects.get(slug="remstroy")
    assert set(
        StaffRole.objects.filter(staff__organisation=remstroy).values_list("role", flat=True)
    ) == set(Role.values)
    for org in Organisation.objects.all():
        customer = Contact.objects.get(organisation=org, user__username__endswith="-customer")
        assert customer.user.phone and customer.user.language == org.default_language
    nl_units = OrgUnit.objects.filter(organisation__slug="adviesgroep")
    assert max(u.depth for u in nl_units) >= 2
    femke = Staff.objects.get(user__username="nl-rep")
    assert WorkingHours.objects.filter(staff=femke, weekday=0).count() == 2  # a split day
    assert {r.name for r in femke.regions.all()} == {"Amsterdam", "Utrecht"}
