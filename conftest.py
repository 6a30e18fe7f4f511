"""Project-wide pytest configuration."""

import os

os.environ.setdefault("SLOTWISE_TESTING", "1")

from hypothesis import HealthCheck, settings  # noqa: E402

# Property tests check behaviour, not wall-clock speed (that is bench/'s job): on a two-core CI
# machine shared with a browser and PostgreSQL, deadlines and "too slow" health checks only
# produce noise.
settings.register_profile("slotwise", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("slotwise")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _language_reset():
    """Every test starts and ends in the default language. A view that activates a language
    for its request (as LocaleMiddleware does, and the public booking pages for the
    organisation's language) leaves it active in the thread that ran it — with the test client,
    the test's own thread — and a later test in the same process would see Swedish strings."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()
