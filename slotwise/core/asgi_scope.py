"""What the lean ASGI paths (messaging, payments and API fast paths) read from a raw scope."""

from __future__ import annotations

from django.conf import settings


def scope_is_secure(scope) -> bool:
    """Whether the request came over HTTPS, directly or behind the TLS proxy that
    SECURE_PROXY_SSL_HEADER names (as `HttpRequest.is_secure()` decides it)."""
    if scope.get("scheme") in ("https", "wss"):
        return True
    header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not header:
        return False
    name, value = header
    wanted = name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")
    for key, raw in scope.get("headers", ()):
        if key.lower() == wanted:
            return raw.decode("latin-1").split(",")[0].strip() == value
    return False
