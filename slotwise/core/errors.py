"""Errors that services raise and views/API translate into responses."""

from django.core.exceptions import ValidationError  # re-exported: services raise it field by field


class Conflict(Exception):
    """A write lost a race or collides with existing state (HTTP 409)."""

    def __init__(self, message: str, *, detail: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or {}


class NotAllowed(Exception):
    """The user may not do this to this object (HTTP 403, or 404 where existence must not leak)."""


__all__ = ["Conflict", "NotAllowed", "ValidationError"]
