"""Project-wide pytest configuration."""

import os

os.environ.setdefault("SLOTWISE_TESTING", "1")

from hypothesis import HealthCheck, settings  # noqa: E402

# Property tests check behaviour, not wall-clock speed (that is bench/'s job): on a two-core CI
# machine shared with a browser and PostgreSQL, deadlines and "too slow" health checks only
# produce noise.
settings.register_profile("slotwise", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("slotwise")
