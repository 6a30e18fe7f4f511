"""Project-wide pytest configuration."""

import os

os.environ.setdefault("SLOTWISE_TESTING", "1")
