"""Shared test settings."""

from slotwise.core.tests.conftest import _test_settings  # noqa: F401
