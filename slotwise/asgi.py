"""The ASGI application (uvicorn / gunicorn with uvicorn workers).

Every view of the project is synchronous. Django's own ASGI handler runs a sync middleware chain
"async": each `process_request` / `process_response` of each middleware hops to a worker thread
and back (about 15 hops per request here), the `request_started` signal and the response's
`close()` (`request_finished`, which returns the database connection) take one hop each more,
and every request starts a thread of its own (and one more to join it when it ends).

`OneHopASGIHandler` instead:
- does `request_started`, the middleware chain, the view and (for a response with its body in
  memory, which needs nothing after) `close()` in ONE hop, as under WSGI: the same middleware,
  signals, connection handling and request context. A streaming response is closed after
  sending, as Django does, in the same thread;
- runs that hop on one of a fixed set of request threads (`WEB_THREADS` per process, default
  16), reused from request to request: each request still has all its sync work on one thread
  (`ThreadSensitiveContext` with that thread's executor), more requests wait for a free thread.
  Keep the database pool (`DB_POOL_MAX_SIZE`) at least this large.
Each hop is a hand-off between the event loop's thread and a request thread (GIL and wake-up
costs); a new thread per request costs its start and join. bench booking_http, the previous
handler against this one on the same machine: server CPU per request 15.7 -> 11.0 ms (4
threads per process gave fewer bookings per second than 16 when the machine is shared: fewer
runnable threads get less of the CPU).
"""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slotwise.settings")


class OneHopASGIHandler(ASGIHandler):
    def __init__(self, threads: int = 16):
        super().__init__()
        self.threads = max(1, threads)
        self._executors_made: list[ThreadPoolExecutor] = []
        self._idle: asyncio.LifoQueue | None = None
        self._loop = None

    def load_middleware(self, is_async=False):
        # The chain is built for sync calls (async-only middleware would be adapted by Django).
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    def _executors(self) -> asyncio.LifoQueue:
        # The queue belongs to the running event loop (one per server process; tests may run
        # several in turn); the most recently used thread comes first (its caches are warm).
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if not self._executors_made:
                self._executors_made = [
                    ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"slotwise-request-{i}")
                    for i in range(self.threads)
                ]
            self._idle = asyncio.LifoQueue()
            for executor in self._executors_made:
                self._idle.put_nowait(executor)
            self._loop = loop
        return self._idle

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        idle = self._executors()
        executor = await idle.get()
        try:
            # Every thread-sensitive call of this request runs on this one thread.
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            idle.put_nowait(executor)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        with closing(body_file):
            set_script_prefix(get_script_prefix(scope))
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
            try:
                await self.send_response(response, send)
            finally:
                if response.streaming:
                    await sync_to_async(response.close, thread_sensitive=True)()

    def _respond(self, scope, body_file):
        """On the request's thread: `request_started`, the request, the middleware chain and
        the view; a response with its body in memory is closed here (`request_finished`)."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            response._handler_class = self.__class__
            # Larger chunks for file responses (the ASGI server chunks further).
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            response.close()
        return response


def get_application() -> OneHopASGIHandler:
    import django

    django.setup(set_prefix=False)
    return OneHopASGIHandler(threads=int(os.environ.get("WEB_THREADS", "16")))


application = get_application()
