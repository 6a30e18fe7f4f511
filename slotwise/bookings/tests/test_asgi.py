"""The real ASGI application (slotwise.asgi) serves the API: the middleware chain and the view
run in one thread hop, with token authentication and the database working as under WSGI."""

import asyncio
import json

import pytest
from asgiref.testing import ApplicationCommunicator
from rest_framework.authtoken.models import Token

from slotwise.org.roles import Role
from slotwise.tests_factories import StaffFactory, make_unit

pytestmark = pytest.mark.django_db(transaction=True)


async def _call(application, method, path, headers=(), body=b""):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(timeout=10)
    content = b""
    while True:
        message = await communicator.receive_output(timeout=10)
        content += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(timeout=10)
    return start["status"], dict(start["headers"]), content


def test_api_through_the_asgi_application(org, settings):
    from slotwise.asgi import OneHopASGIHandler, application

    # HTTP goes to the one-hop handler (websockets and lifespan elsewhere: slotwise.asgi).
    assert isinstance(application.application_mapping["http"], OneHopASGIHandler)
    settings.ALLOWED_HOSTS = ["testserver"]
    staff = StaffFactory(unit=make_unit(org, "Branch"), roles=[Role.CALL_CENTRE])
    key = Token.objects.create(user=staff.user).key
    auth = [(b"authorization", f"Token {key}".encode())]
    status, headers, content = asyncio.run(_call(application, "GET", "/api/me/", auth))
    assert status == 200, content
    assert json.loads(content)["username"] == staff.user.username
    # The middleware still runs (X-Frame-Options) and bad credentials are refused.
    assert headers[b"X-Frame-Options"] == b"DENY"
    status, _h, _c = asyncio.run(
        _call(application, "POST", "/api/bookings/", [(b"authorization", b"Token nope")])
    )
    assert status in (401, 403)
