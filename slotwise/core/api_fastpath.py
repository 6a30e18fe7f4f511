"""A lean path for token-authenticated REST API calls (`/api/…` with `Authorization: Token …`).

An API client that authenticates with a token needs nothing most of the middleware chain does
for pages — sessions, CSRF (token authentication has none), messages, htmx, allauth — yet the
chain and its per-request logging were about an eighth of the server's CPU per booking (bench
booking_http, `py-spy --gil`). `ApiFastPath`, mixed into the ASGI handler (slotwise/asgi.py),
sends these calls straight to the URL's view and keeps what an API call relies on:

- the request Django builds from the ASGI scope (ALLOWED_HOSTS, SECURE_PROXY_SSL_HEADER);
- `request_started` / `request_finished` (database connections go back to the pool);
- exceptions answered as everywhere (`convert_exception_to_response`: 404 for an unknown path,
  400 for a bad host, 500 logged with `got_request_exception`);
- the language from `Accept-Language` (translated field errors), with `Content-Language` and
  `Vary: Accept-Language` on the answer, as LocaleMiddleware does;
- the history's request (`simple_history`): changes are recorded as made by the token's user;
- the security headers of SecurityMiddleware and XFrameOptionsMiddleware;
- a request id and the access log line (`request_finished`, the event
  django-structlog writes, a warning from 400 up; the peer address stands for the client IP).

Anything else goes the full way: another path, a call with cookies (session authentication,
CSRF), no token, a path without its trailing slash (CommonMiddleware redirects), a script
prefix, or plain HTTP where HTTPS is required (SecurityMiddleware redirects).
"""

from __future__ import annotations

import uuid

import structlog
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core import signals
from django.core.handlers.exception import convert_exception_to_response
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import resolve
from django.utils import translation
from django.utils.cache import patch_vary_headers
from simple_history.models import HistoricalRecords

from slotwise.core.asgi_scope import scope_is_secure

API_PREFIX = "/api/"
logger = structlog.get_logger("django_structlog.middlewares.request")


def api_fast_path_allowed(scope) -> bool:
    """Whether an ASGI HTTP scope is a token-authenticated API call the lean path may serve."""
    if scope.get("type") != "http" or scope.get("root_path"):
        return False
    path = scope.get("path", "")
    if not path.startswith(API_PREFIX) or not path.endswith("/"):
        return False
    token = False
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            return False
        if key == b"authorization" and value[:6].lower() == b"token ":
            token = True
    if not token:
        return False
    return not (settings.SECURE_SSL_REDIRECT and not scope_is_secure(scope))


def _no_response(request):  # the middlewares below are used for their response hooks only
    raise AssertionError("not called")


_security = SecurityMiddleware(_no_response)
_frame_options = XFrameOptionsMiddleware(_no_response)


def _view(request):
    match = resolve(request.path_info)
    request.resolver_match = match
    response = match.func(request, *match.args, **match.kwargs)
    if hasattr(response, "render") and callable(response.render):
        response = response.render()  # DRF's Response (a template response), as Django does
    return response


_handle = convert_exception_to_response(_view)


def api_respond(request):
    """The view's answer to a token-authenticated API request, with what the chain would add."""
    request.user = AnonymousUser()  # DRF's token authentication sets the real user
    language = translation.get_language_from_request(request)
    request_id = request.headers.get("X-Request-ID") or str(uuid.uuid4())
    structlog.contextvars.bind_contextvars(
        request_id=request_id, ip=request.META.get("REMOTE_ADDR", "")
    )
    HistoricalRecords.context.request = request
    try:
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = _handle(request)
            patch_vary_headers(response, ("Accept-Language",))
            response.headers.setdefault("Content-Language", language)
        response = _security.process_response(request, response)
        response = _frame_options.process_response(request, response)
        user = getattr(request, "user", None)
        log = logger.warning if response.status_code >= 400 else logger.info
        log(
            "request_finished",
            code=response.status_code,
            request=f"{request.method} {request.get_full_path()}",
            user_id=getattr(user, "pk", None),
        )
        return response
    finally:
        del HistoricalRecords.context.request
        structlog.contextvars.clear_contextvars()


class ApiFastPath:
    """Mixed into an `OneHopASGIHandler` before it: its `_respond` (run on the request's
    thread) serves token-authenticated API calls without the middleware chain."""

    def lean(self, scope) -> bool:
        return api_fast_path_allowed(scope) or super().lean(scope)

    def _respond(self, scope, body_file):
        if not api_fast_path_allowed(scope):
            return super()._respond(scope, body_file)
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = api_respond(request)
            response._handler_class = self.__class__
        if not response.streaming:
            response.close()  # request_finished: the connection goes back to the pool
        return response
