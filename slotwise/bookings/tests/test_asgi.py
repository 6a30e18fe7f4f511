"""The real ASGI application (slotwise.asgi) serves the API: the middleware chain and the view
run in one thread hop, with token authentication and the database working as under WSGI."""

import asyncio
import json

import pytest
from rest_framework.authtoken.models import Token

from slotwise.core.testing import asgi_http
from slotwise.org.roles import Role
from slotwise.tests_factories import StaffFactory, make_unit

pytestmark = pytest.mark.django_db(transaction=True)


def test_api_through_the_asgi_application(org, settings):
    from slotwise.asgi import OneHopASGIHandler, application

    # HTTP goes to the one-hop handler (websockets and lifespan elsewhere: slotwise.asgi).
    assert isinstance(application.application_mapping["http"], OneHopASGIHandler)
    settings.ALLOWED_HOSTS = ["testserver"]
    staff = StaffFactory(unit=make_unit(org, "Branch"), roles=[Role.CALL_CENTRE])
    key = Token.objects.create(user=staff.user).key
    auth = [(b"authorization", f"Token {key}".encode())]
    status, headers, content = asyncio.run(
        asgi_http("GET", "/api/me/", auth, application=application)
    )
    assert status == 200, content
    assert json.loads(content)["username"] == staff.user.username
    # The middleware still runs (X-Frame-Options) and bad credentials are refused.
    assert headers[b"X-Frame-Options"] == b"DENY"
    status, _h, _c = asyncio.run(
        asgi_http(
            "POST",
            "/api/bookings/",
            [(b"authorization", b"Token nope")],
            application=application,
        )
    )
    assert status in (401, 403)
