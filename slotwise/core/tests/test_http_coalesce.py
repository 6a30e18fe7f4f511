"""core/http_coalesce.py: under uvicorn's httptools server a response with a length leaves in one
socket write (status line, headers and body), byte for byte what uvicorn wrote before; responses
without a length, HEAD requests and closing connections are still answered completely."""

import asyncio
import http.client
import socket
import threading
import time

import pytest
import uvicorn
from uvicorn.protocols.http import httptools_impl

from slotwise.core import http_coalesce


class RecordingTransport:
    def __init__(self):
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data):
        assert not self.closed, "write after close"
        self.writes.append(bytes(data))

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed


class Flow:
    write_paused = False


def _cycle(transport, *, method="GET", keep_alive=True):
    return httptools_impl.RequestResponseCycle(
        scope={"method": method, "http_version": "1.1", "path": "/", "query_string": b""},
        transport=transport,
        flow=Flow(),
        logger=None,
        access_logger=None,
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: None,
    )


async def _respond(cycle, *, length=True, body=b"hello", chunks=None):
    headers = [(b"content-type", b"text/plain")]
    if length:
        headers.append((b"content-length", str(len(body)).encode()))
    await cycle.send({"type": "http.response.start", "status": 200, "headers": headers})
    for chunk in chunks or [body]:
        await cycle.send({"type": "http.response.body", "body": chunk, "more_body": True})
    await cycle.send({"type": "http.response.body", "body": b"", "more_body": False})


def _run(coro):
    return asyncio.run(coro)


@pytest.fixture
def original():
    """What uvicorn itself writes (the patch removed for the call)."""

    def run(**kwargs):
        transport = RecordingTransport()
        cycle = _cycle(
            transport, **{k: kwargs.pop(k) for k in ("method", "keep_alive") if k in kwargs}
        )
        send = http_coalesce._original_send
        patched = httptools_impl.RequestResponseCycle.send
        httptools_impl.RequestResponseCycle.send = send
        try:
            _run(_respond(cycle, **kwargs))
        finally:
            httptools_impl.RequestResponseCycle.send = patched
        return transport

    return run


@pytest.fixture(autouse=True)
def installed():
    http_coalesce.install()
    assert httptools_impl.RequestResponseCycle.send is http_coalesce.send


def test_head_and_body_in_one_write_same_bytes(original):
    transport = RecordingTransport()
    _run(_respond(_cycle(transport), body=b"hello"))
    before = original(body=b"hello")
    assert len(before.writes) >= 2  # uvicorn alone: head, then body
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\nhello")
    assert b"".join(transport.writes) == b"".join(before.writes)
    assert len([w for w in transport.writes if w]) == 1


def test_without_a_length_nothing_is_held(original):
    transport = RecordingTransport()
    _run(_respond(_cycle(transport), length=False, chunks=[b"a", b"bc"]))
    before = original(length=False, chunks=[b"a", b"bc"])
    assert transport.writes == before.writes
    assert transport.writes[0].endswith(b"\r\n\r\n")  # the head went out on its own, at once


def test_head_request_and_closing_connection_still_get_the_head(original):
    transport = RecordingTransport()
    _run(_respond(_cycle(transport, method="HEAD"), body=b"hello"))
    assert b"".join(transport.writes).startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"".join(transport.writes) == b"".join(original(method="HEAD", body=b"hello").writes)

    transport = RecordingTransport()
    _run(_respond(_cycle(transport, keep_alive=False), body=b"bye"))
    assert transport.closed
    data = b"".join(transport.writes)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"bye")
    assert b"connection: close" in data.lower()


def test_disconnected_client_gets_nothing_and_nothing_fails():
    transport = RecordingTransport()
    cycle = _cycle(transport)

    async def go():
        headers = [(b"content-length", b"5")]
        await cycle.send({"type": "http.response.start", "status": 200, "headers": headers})
        cycle.disconnected = True
        await cycle.send({"type": "http.response.body", "body": b"hello", "more_body": False})

    _run(go())
    assert transport.writes == []


def test_a_real_uvicorn_server_answers_keep_alive_head_and_streaming():
    """The whole server with the patch installed: several requests on one connection."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = f"path={scope['path']}".encode()
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for part in (b"one,", b"two"):
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http="httptools", log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for path in ("/a", "/b"):
            conn.request("POST", path, body=b"x")
            response = conn.getresponse()
            assert response.status == 201
            assert response.read() == f"path={path}".encode()
        conn.request("HEAD", "/c")
        response = conn.getresponse()
        assert response.status == 201 and response.getheader("content-length") == "7"
        response.read()
        conn.request("GET", "/stream")
        response = conn.getresponse()
        assert response.read() == b"one,two"
        conn.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
