"""Fixtures for the payments tests."""

import pytest
from django.core.cache import cache

from slotwise.payments.models import ProviderConfig
from slotwise.tests_factories import ContactFactory, OrganisationFactory


@pytest.fixture
def org():
    return OrganisationFactory(country="SE", time_zone="Europe/Stockholm", currency="SEK")


@pytest.fixture
def contact(org):
    return ContactFactory(organisation=org)


@pytest.fixture
def test_provider(org):
    cache.clear()
    ProviderConfig.objects.create(organisation=org, provider="test")
    from slotwise.payments.services import provider_for

    return provider_for(organisation=org, kind="test")
