"""Test helpers shared by the apps' tests."""

from __future__ import annotations


async def asgi_http(
    method: str,
    path: str,
    headers=(),
    body: bytes = b"",
    *,
    scheme: str = "http",
    host: bytes = b"testserver",
    application=None,
):
    """One HTTP request through an ASGI application (default: `slotwise.asgi.application`, the
    real handler with its lean paths); returns (status, headers as a dict, body)."""
    from asgiref.testing import ApplicationCommunicator

    if application is None:
        from slotwise.asgi import application
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", host),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
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
