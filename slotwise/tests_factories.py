"""factory_boy factories shared by the tests of every app.

Units are created through `org_unit_create` so their materialised path is right; use
`make_unit(org, name, parent)` or `OrgUnitFactory(parent=...)`.
"""

from __future__ import annotations

import datetime

import factory
from django.contrib.auth import get_user_model

from slotwise.customers.models import Contact
from slotwise.messaging.models import Message
from slotwise.org import services as org_services
from slotwise.org.models import Location, Organisation, OrgUnit, Region, Skill, Staff, StaffRole


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.Sequence(lambda n: f"user{n}@example.test")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = "Tester"
    password = factory.django.Password("pw-Slotwise-123")


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    country = "NL"
    time_zone = "Europe/Amsterdam"
    currency = "EUR"
    default_language = "en"


class OrgUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrgUnit

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Unit {n}")
    parent = None
    kind = "department"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return org_services.org_unit_create(
            organisation=kwargs["organisation"],
            name=kwargs["name"],
            parent=kwargs.get("parent"),
            kind=kwargs.get("kind", "department"),
        )


def make_unit(organisation, name, parent=None) -> OrgUnit:
    return OrgUnitFactory(organisation=organisation, name=name, parent=parent)


class SkillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Skill

    organisation = factory.SubFactory(OrganisationFactory)
    code = factory.Sequence(lambda n: f"skill-{n}")
    name = factory.Sequence(lambda n: f"Skill {n}")


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Region {n}")
    country = "NL"
    postcodes = "1000-1099"


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location

    organisation = factory.SubFactory(OrganisationFactory)
    postcode = "1012 AB"
    country = "NL"
    lat = 52.37
    lng = 4.89


class StaffFactory(factory.django.DjangoModelFactory):
    """A staff member; pass `roles=[Role.MANAGER, ...]` to give roles."""

    class Meta:
        model = Staff
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory, is_staff=True)
    unit = factory.SubFactory(OrgUnitFactory)
    organisation = factory.LazyAttribute(lambda o: o.unit.organisation)
    active_from = datetime.date(2020, 1, 1)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            StaffRole.objects.bulk_create(StaffRole(staff=self, role=r) for r in extracted)
            self.__dict__.pop("_role_set", None)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    organisation = factory.SubFactory(OrganisationFactory)
    unit = None
    first_name = factory.Sequence(lambda n: f"Customer{n}")
    last_name = "Example"


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    channel = "sms"
    provider = "console"
    to = "+31612345678"
    body = "Hello"
