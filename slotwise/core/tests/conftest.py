"""Test settings shared by the core, org and customers tests."""

import pytest


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # Production defaults (DEBUG off) redirect to HTTPS; the test client speaks plain HTTP.
    settings.SECURE_SSL_REDIRECT = False
    # Hashing passwords properly is slow and beside the point of these tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
