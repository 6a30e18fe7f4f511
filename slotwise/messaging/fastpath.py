"""A lean path for the channels' inbound webhooks (`/messaging/inbound/<kind>/<key>/`).

A webhook needs nothing the middleware chain does for pages — sessions, authentication, CSRF,
the language from the browser, messages, htmx, allauth, history, the per-request log lines —
yet the chain was a third of what a webhook cost the server (bench inbound on one machine:
server CPU per request 3.8 ms through the chain, 2.9 ms past it, 1.6 ms with the cached channel
lookup of `inbound._config_for`). `InboundFastPath`, mixed into the ASGI handler
(slotwise/asgi.py), sends these paths straight to the view and keeps what matters:

- the request Django builds from the ASGI scope, so `build_absolute_uri()` (Twilio signs the URL)
  checks ALLOWED_HOSTS and honours SECURE_PROXY_SSL_HEADER exactly as on the full path;
- `request_started` / `request_finished` (database connections go back to the pool);
- exceptions answered as everywhere (`convert_exception_to_response`: 400 for a bad host, 500
  with the error logged and `got_request_exception` sent);
- the site's default language active (LocaleMiddleware would pick one from the caller);
- SECURE_SSL_REDIRECT: a plain-HTTP call where HTTPS is required goes the full way and gets its
  redirect, as before.

Anything else — another path, another method, a script prefix — takes the full chain.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core import signals
from django.core.handlers.exception import convert_exception_to_response
from django.utils import translation

from slotwise.core.asgi_scope import scope_is_secure

INBOUND_PATH = re.compile(r"^/messaging/inbound/(?P<kind>[-a-zA-Z0-9_]+)/(?P<key>[^/]+)/$")


def inbound_match(scope) -> re.Match | None:
    """The inbound webhook route of an ASGI HTTP scope, if the lean path may serve it."""
    if scope.get("type") != "http" or scope.get("method") not in ("GET", "POST"):
        return None
    if scope.get("root_path"):
        return None
    match = INBOUND_PATH.match(scope.get("path", ""))
    if match is None:
        return None
    if settings.SECURE_SSL_REDIRECT and not scope_is_secure(scope):
        return None  # the full chain answers with its redirect
    return match


def _view(request):
    from .views import inbound

    kind, key = request.inbound_route
    with translation.override(settings.LANGUAGE_CODE):
        return inbound(request, kind=kind, key=key)


_handle = convert_exception_to_response(_view)


class InboundFastPath:
    """Mixed into an `OneHopASGIHandler` before it: its `_respond` (run on the request's
    thread) serves inbound webhooks without the middleware chain."""

    def lean(self, scope) -> bool:
        return inbound_match(scope) is not None or super().lean(scope)

    def _respond(self, scope, body_file):
        match = inbound_match(scope)
        if match is None:
            return super()._respond(scope, body_file)
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            request.inbound_route = (match["kind"], match["key"])
            response = _handle(request)
            response._handler_class = self.__class__
        response.close()  # request_finished: the connection goes back to the pool
        return response
