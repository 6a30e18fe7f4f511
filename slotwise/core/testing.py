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


def run_together(target, count: int, *, timeout: float = 60) -> list[BaseException]:
    """Run `target()` in `count` threads released at the same moment (a barrier), each closing
    its database connection when done; returns what they raised (empty when all went well)."""
    import threading

    from django.db import connection

    gate = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            gate.wait()
            target()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return errors
