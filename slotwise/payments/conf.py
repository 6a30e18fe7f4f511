"""Operator settings of the payments app that settings.py does not define: each is read from
the Django settings when present, else from the environment variable of the same name, else its
default (documented in docs/operator-guide.md)."""

from __future__ import annotations

import os

from django.conf import settings


def setting(name: str, default: float | int):
    """`name` from the settings, else the environment, as the type of `default`."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, "")
        if value == "":
            return default
    try:
        return type(default)(value)
    except (TypeError, ValueError):
        return default
