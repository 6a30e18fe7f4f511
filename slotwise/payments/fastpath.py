"""A lean path for the payment providers' callbacks (`/payments/callback/<provider>/<org>/`).

A callback needs nothing the middleware chain does for pages — sessions, authentication, CSRF
(the view is exempt), the language from the browser, messages, htmx, allauth, history, the
per-request log lines — and the chain cost more than storing the callback does. As the
channels' webhooks (`slotwise/messaging/fastpath.py`), `PaymentCallbackFastPath`, mixed into the
ASGI handler (slotwise/asgi.py), sends a POST to this path straight to the view and keeps what
matters:

- the request Django builds from the ASGI scope (ALLOWED_HOSTS is checked when the view reads
  the host, SECURE_PROXY_SSL_HEADER is honoured);
- `request_started` / `request_finished` (database connections go back to the pool);
- exceptions answered as everywhere (`convert_exception_to_response`: 404 for an unknown
  organisation, 400 for a bad host, 500 with the error logged and `got_request_exception` sent);
- the site's default language active (LocaleMiddleware would pick one from the caller);
- SECURE_SSL_REDIRECT: a plain-HTTP call where HTTPS is required goes the full way and gets its
  redirect, as before.

Anything else — another path, another method (a GET gets its 405 from the full chain), a script
prefix — takes the full chain.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core import signals
from django.core.handlers.exception import convert_exception_to_response
from django.utils import translation

from slotwise.core.asgi_scope import scope_is_secure

CALLBACK_PATH = re.compile(
    r"^/payments/callback/(?P<provider>[-a-zA-Z0-9_]+)/(?P<org_slug>[-a-zA-Z0-9_]+)/$"
)


def callback_match(scope) -> re.Match | None:
    """The payment callback route of an ASGI HTTP scope, if the lean path may serve it."""
    if scope.get("type") != "http" or scope.get("method") != "POST":
        return None
    if scope.get("root_path"):
        return None
    match = CALLBACK_PATH.match(scope.get("path", ""))
    if match is None:
        return None
    if settings.SECURE_SSL_REDIRECT and not scope_is_secure(scope):
        return None  # the full chain answers with its redirect
    return match


def _view(request):
    from .views import callback

    # The host is checked as the full chain's CommonMiddleware would (400 for a bad one).
    request.get_host()
    provider, org_slug = request.payment_callback_route
    with translation.override(settings.LANGUAGE_CODE):
        return callback(request, provider=provider, org_slug=org_slug)


_handle = convert_exception_to_response(_view)


class PaymentCallbackFastPath:
    """Mixed into an `OneHopASGIHandler` before it: its `_respond` (run on the request's
    thread) serves payment callbacks without the middleware chain."""

    def lean(self, scope) -> bool:
        return callback_match(scope) is not None or super().lean(scope)

    def _respond(self, scope, body_file):
        match = callback_match(scope)
        if match is None:
            return super()._respond(scope, body_file)
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            request.payment_callback_route = (match["provider"], match["org_slug"])
            response = _handle(request)
            response._handler_class = self.__class__
        response.close()  # request_finished: the connection goes back to the pool
        return response
