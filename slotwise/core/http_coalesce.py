"""Status line, headers and body of a response in one socket write (uvicorn's httptools server).

uvicorn writes a response's status line and headers the moment the application sends
`http.response.start`, and the body with the next message: two `send()` calls, two TCP segments
and two wake-ups of the client for every response. For a small answer that is a large part of
its cost — the header write alone was a third of the web process's CPU for a payment callback
(bench payment_callbacks, `py-spy --gil`: on the loopback device the kernel delivers the segment
and wakes the receiver inside the sender's `send()`). aiohttp coalesces them the same way
(aio-libs/aiohttp#10991).

`install()` wraps `RequestResponseCycle.send`: when a response announces its length
(`content-length`, so its body follows at once), the status line and headers uvicorn writes are
held and written together with the first body write — or, if none comes (a HEAD request, a
closing connection), before the transport closes or right after the body message. Responses
without a length (streaming) are written as uvicorn writes them, so their headers are never
held back. Nothing else changes: uvicorn builds and validates every byte as before.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http import httptools_impl

_original_send = httptools_impl.RequestResponseCycle.send


class _HoldHead:
    """Stands in for the transport while uvicorn writes the status line and headers."""

    __slots__ = ("transport", "head")

    def __init__(self, transport) -> None:
        self.transport = transport
        self.head = b""

    def write(self, data: bytes) -> None:
        self.head += bytes(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class _HeadFirst:
    """Stands in for the transport while uvicorn writes the body: the held head goes first, in
    the same write; a close without a write still sends the head."""

    __slots__ = ("transport", "head")

    def __init__(self, transport, head: bytes) -> None:
        self.transport = transport
        self.head = head

    def flush(self) -> None:
        if self.head:
            head, self.head = self.head, b""
            self.transport.write(head)

    def write(self, data: bytes) -> None:
        if self.head:
            head, self.head = self.head, b""
            self.transport.write(head + bytes(data))
        else:
            self.transport.write(data)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


def _has_length(message) -> bool:
    return any(name.lower() == b"content-length" for name, _value in message.get("headers", ()))


async def send(self, message) -> None:
    head = self.__dict__.pop("_slotwise_head", None)
    if head is not None:
        transport = self.transport
        self.transport = _HeadFirst(transport, head)
        try:
            await _original_send(self, message)
        finally:
            held, self.transport = self.transport, transport
            if not self.disconnected:
                held.flush()
        return
    if (
        message.get("type") == "http.response.start"
        and not self.response_started
        and not self.disconnected
        and _has_length(message)
    ):
        transport = self.transport
        self.transport = _HoldHead(transport)
        try:
            await _original_send(self, message)
        finally:
            held, self.transport = self.transport, transport
        if held.head:
            self._slotwise_head = held.head
        return
    await _original_send(self, message)


def install() -> None:
    """Called once by `slotwise.asgi.get_application`."""
    cycle = httptools_impl.RequestResponseCycle
    if cycle.send is _original_send:
        cycle.send = send
