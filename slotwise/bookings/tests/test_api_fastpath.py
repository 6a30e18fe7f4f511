"""Token-authenticated API calls through the real ASGI application skip the middleware chain
(core/api_fastpath.py) and keep what an API call relies on: the booking, its audit trail with
the token's user, translated field errors, the security headers, 404s; anything else (cookies,
no token, a path without its slash, plain HTTP where HTTPS is required) takes the full chain."""

import asyncio
import json
from unittest import mock

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from rest_framework.authtoken.models import Token

from slotwise.bookings.models import Booking
from slotwise.core.api_fastpath import api_fast_path_allowed
from slotwise.core.testing import asgi_http as _call
from slotwise.org.roles import Role
from slotwise.tests_factories import ContactFactory, StaffFactory, make_unit

from .conftest import future_slot, give_hours, make_type

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(org, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.SECURE_SSL_REDIRECT = False
    staff = StaffFactory(unit=make_unit(org, "Branch"), roles=[Role.CALL_CENTRE])
    give_hours(staff)
    w = type("World", (), {})()
    w.staff = staff
    w.type = make_type(org, slug="consult")
    w.contact = ContactFactory(organisation=org)
    w.slot = future_slot(org)
    w.token = Token.objects.create(user=staff.user).key
    return w


def _book(w, *, extra_headers=(), **changes):
    payload = {
        "type": "consult",
        "staff": w.staff.pk,
        "start": w.slot.isoformat(),
        "contact": str(w.contact.public_id),
        **changes,
    }
    headers = [
        (b"authorization", f"Token {w.token}".encode()),
        (b"content-type", b"application/json"),
        *extra_headers,
    ]
    return asyncio.run(_call("POST", "/api/bookings/", headers, json.dumps(payload).encode()))


def _chain_forbidden():
    """The middleware chain's session middleware fails the request if it runs."""
    return mock.patch.object(
        SessionMiddleware, "process_request", side_effect=AssertionError("the chain ran")
    )


def test_booking_without_the_chain_is_audited_with_the_tokens_user(world):
    with _chain_forbidden():
        status, headers, content = _book(world, extra_headers=[(b"accept-language", b"sv")])
    assert status == 201, content
    booking = Booking.objects.get(public_id=json.loads(content)["id"])
    # The audit trail names the token's user (the history middleware did not run).
    record = booking.history.get()
    assert record.history_user == world.staff.user
    # What the chain would have added to the answer.
    assert headers[b"Content-Language"] == b"sv"
    assert b"Accept-Language" in headers[b"Vary"]
    assert headers[b"X-Frame-Options"] == b"DENY"
    assert headers[b"X-Content-Type-Options"] == b"nosniff"
    # A lost race is still a 409 with fresh options.
    with _chain_forbidden():
        status, _headers, content = _book(world)
    assert status == 409, content
    assert json.loads(content)["options"]
    assert Booking.objects.count() == 1


def test_field_errors_are_translated_and_nothing_is_written(world):
    with _chain_forbidden():
        status, headers, content = _book(
            world, type="no-such-type", extra_headers=[(b"accept-language", b"sv")]
        )
    assert status == 400, content
    errors = json.loads(content)
    assert "type" in errors
    assert "Unknown appointment type." not in json.dumps(errors)  # Swedish, not English
    assert headers[b"Content-Language"] == b"sv"
    assert Booking.objects.count() == 0


def test_bad_token_and_unknown_path(world):
    headers = [(b"authorization", b"Token nope"), (b"content-type", b"application/json")]
    with _chain_forbidden():
        status, _h, _c = asyncio.run(_call("POST", "/api/bookings/", headers, b"{}"))
        assert status in (401, 403)
        status, _h, _c = asyncio.run(_call("GET", "/api/no-such-thing/", headers))
        assert status == 404


def test_other_calls_take_the_full_chain(world):
    # With a cookie (session authentication, CSRF) the chain runs: here it fails on purpose.
    with _chain_forbidden():
        status, _h, _c = _book(world, extra_headers=[(b"cookie", b"sessionid=x")])
    assert status == 500
    assert Booking.objects.count() == 0
    # And without the patch the same call is served as before.
    status, _h, content = _book(world, extra_headers=[(b"cookie", b"sessionid=x")])
    assert status == 201, content


@pytest.mark.parametrize(
    ("path", "headers", "scheme", "allowed"),
    [
        ("/api/bookings/", [(b"authorization", b"Token abc")], "http", True),
        ("/api/bookings/", [(b"authorization", b"token abc")], "http", True),
        ("/api/bookings/", [], "http", False),  # no token: session or anonymous
        ("/api/bookings/", [(b"authorization", b"Bearer abc")], "http", False),
        ("/api/bookings", [(b"authorization", b"Token abc")], "http", False),  # APPEND_SLASH
        ("/bookings/", [(b"authorization", b"Token abc")], "http", False),  # not the API
        (
            "/api/bookings/",
            [(b"authorization", b"Token abc"), (b"cookie", b"sessionid=x")],
            "http",
            False,
        ),
    ],
)
def test_which_calls_may_skip_the_chain(path, headers, scheme, allowed, settings):
    settings.SECURE_SSL_REDIRECT = False
    scope = {"type": "http", "path": path, "headers": headers, "scheme": scheme}
    assert api_fast_path_allowed(scope) is allowed


def test_https_redirect_is_kept(settings):
    settings.SECURE_SSL_REDIRECT = True
    token = [(b"authorization", b"Token abc")]
    scope = {"type": "http", "path": "/api/bookings/", "headers": token}
    assert api_fast_path_allowed({**scope, "scheme": "http"}) is False
    assert api_fast_path_allowed({**scope, "scheme": "https"}) is True
    forwarded = [*token, (b"x-forwarded-proto", b"https")]
    assert api_fast_path_allowed({**scope, "scheme": "http", "headers": forwarded}) is True
    assert api_fast_path_allowed({**scope, "root_path": "/prefix", "scheme": "https"}) is False
