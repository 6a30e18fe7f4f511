"""simple-history with its manager class built once (core/history.py): every access still gets a
manager bound to its own instance, and audited saves still write their rows."""

import pytest
from simple_history.manager import HistoryDescriptor

from slotwise.core.history import _get
from slotwise.customers.models import Contact
from slotwise.tests_factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_installed():
    assert HistoryDescriptor.__get__ is _get


def test_one_class_many_managers_each_bound_to_its_instance():
    first, second = ContactFactory(), ContactFactory()
    a, b = first.history, second.history
    assert type(a) is type(b)  # built once
    assert a is not b
    assert a.instance == first and b.instance == second
    first.first_name = "Changed"
    first.save()
    assert first.history.count() == 2
    assert second.history.count() == 1
    assert first.history.first().first_name == "Changed"
    # The model-level manager (no instance) lists every row.
    assert Contact.history.count() == 3
