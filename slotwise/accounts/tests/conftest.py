import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _local_cache(settings):
    """Rate-limit counters live in the cache: use a private in-memory one, empty per test."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "slotwise-tests",
        }
    }
    settings.SMS_PROVIDER = "console"
    settings.SECURE_SSL_REDIRECT = False
    cache.clear()
    yield
    cache.clear()
