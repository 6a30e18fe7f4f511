"""The ASGI application (uvicorn / gunicorn with uvicorn workers).

`application` routes by protocol (Channels' `ProtocolTypeRouter`):
- "http" → `OneHopASGIHandler` (below): every page, the API and the webhooks;
- "websocket" → the live pages' sockets (`slotwise.messaging.routing`), behind
  `AllowedHostsOriginValidator` (a page of another site can't open one with our cookies) and
  `AuthMiddlewareStack` (the session's user, as in a view);
- "lifespan" → `Lifespan`: with `MESSAGING_PUMP_IN_WEB` on (the demo: `make demo`) it runs the
  messaging pump — inbound events and the outbox, otherwise the worker's job — the payments
  pump (stored payment callbacks, `slotwise.payments.pump`) and the bookings pump (the API's
  bookings' follow-ups, `slotwise.bookings.pump`) inside this process. The demo has no
  Redis, so its channel layer lives in the web process's memory: live events published by
  another process (the worker) would never reach a browser. The pump in the web process
  publishes them where the sockets are (a payment applied there updates the pay page live).
  Production runs the pumps in the workers and shares Redis between all processes; there this
  setting stays off.

Three kinds of requests skip the middleware chain (`HTTPHandler` in `get_application`): the
channels' inbound webhooks (`slotwise/messaging/fastpath.py`), the payment providers'
callbacks (`slotwise/payments/fastpath.py`) and token-authenticated REST API calls
(`slotwise/core/api_fastpath.py`).

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
- runs that hop on one of a fixed set of request threads, reused from request to request: each
  request still has all its sync work on one thread (`ThreadSensitiveContext` with that
  thread's executor), more requests wait for a free thread. Two sets per process: the lean
  paths' requests (below: short, CPU-bound, the hot paths — `WEB_LEAN_THREADS`, default 3) and
  everything else (pages, which may wait on a provider — `WEB_THREADS`, default 16). Fewer
  threads for the lean paths mean fewer requests sharing the GIL and the database at once: in
  bench booking_http and payment_callbacks (50 closed-loop clients on two cores) 3–4 instead
  of 16 lowered p95 by a quarter to a third at the same throughput (docs/scaling.md); pages
  keep their threads for slow providers, and a burst of API calls or callbacks does not take
  every thread from them.
  Keep the database pool (`DB_POOL_MAX_SIZE`) at least `WEB_THREADS + WEB_LEAN_THREADS`.
Each hop is a hand-off between the event loop's thread and a request thread (GIL and wake-up
costs); a new thread per request costs its start and join. bench booking_http, the previous
handler against this one on the same machine: server CPU per request 15.7 -> 11.0 ms (4
threads per process gave fewer bookings per second than 16 when the machine is shared: fewer
runnable threads get less of the CPU).
"""

import asyncio
import logging
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

logger = logging.getLogger("slotwise.asgi")


class OneHopASGIHandler(ASGIHandler):
    def __init__(self, threads: int = 16, lean_threads: int = 3):
        super().__init__()
        self.threads = max(1, threads)
        self.lean_threads = max(1, lean_threads)
        self._executors_made: dict[bool, list[ThreadPoolExecutor]] = {}
        self._idle: dict[bool, asyncio.LifoQueue] = {}
        self._loop = None

    def lean(self, scope) -> bool:
        """Whether a lean path (a mixin below) serves this request: it then runs on the lean
        paths' own threads. Mixins extend it."""
        return False

    def load_middleware(self, is_async=False):
        # The chain is built for sync calls (async-only middleware would be adapted by Django).
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    def _executors(self, lean: bool) -> asyncio.LifoQueue:
        # The queues belong to the running event loop (one per server process; tests may run
        # several in turn); the most recently used thread comes first (its caches are warm).
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if not self._executors_made:
                for kind, count, prefix in (
                    (False, self.threads, "slotwise-request"),
                    (True, self.lean_threads, "slotwise-lean"),
                ):
                    self._executors_made[kind] = [
                        ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{prefix}-{i}")
                        for i in range(count)
                    ]
            self._idle = {}
            for kind, executors in self._executors_made.items():
                self._idle[kind] = asyncio.LifoQueue()
                for executor in executors:
                    self._idle[kind].put_nowait(executor)
            self._loop = loop
        return self._idle[lean]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        idle = self._executors(self.lean(scope))
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
            if not response.streaming and not response.has_header("Content-Length"):
                # The lean paths skip CommonMiddleware, which sets it: with a length the answer
                # is not chunked, and uvicorn writes it in one piece (core/http_coalesce.py).
                response.headers["Content-Length"] = str(len(response.content))
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


def _pump_pass() -> int:
    """One pass of the bookings, messaging and payments pumps on the pump's own thread (its
    live events are sent on the server's event loop: the thread runs under `sync_to_async`)."""
    from django.db import close_old_connections, connection

    from slotwise.bookings.pump import pump_once as bookings_pump_once
    from slotwise.messaging.pump import pump_once
    from slotwise.payments.pump import pump_once as payments_pump_once

    passes = (
        (bookings_pump_once, "bookings"),
        (pump_once, "messaging"),
        (payments_pump_once, "payments"),
    )
    done = 0
    try:
        for one_pass, name in passes:
            try:
                done += one_pass()
            except Exception:  # the database may be restarting: wait and go on
                logger.exception("%s pump pass failed", name)
                connection.close()
        return done
    finally:
        close_old_connections()


def _close_connection() -> None:
    from django.db import connection

    connection.close()


class MessagingPumpInWeb:
    """The messaging and payments pumps as a task on the web server's event loop; each pass
    runs on one dedicated thread. Started and stopped by `Lifespan`."""

    def __init__(self) -> None:
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._stop = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slotwise-pump")
        self._task = asyncio.create_task(self._run(), name="messaging-pump")
        logger.info("messaging and payments pumps running in the web process")

    async def _run(self) -> None:
        from django.conf import settings

        idle = getattr(settings, "MESSAGING_PUMP_IDLE_SECONDS", 0.2)
        one_pass = sync_to_async(_pump_pass, thread_sensitive=False, executor=self._executor)
        while not self._stop.is_set():
            if not await one_pass():
                try:
                    await asyncio.wait_for(self._stop.wait(), idle)
                except TimeoutError:
                    pass

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, 30)
        except TimeoutError:
            self._task.cancel()
        # The pump thread's own connection (looked up on that thread).
        await sync_to_async(_close_connection, thread_sensitive=False, executor=self._executor)()
        self._executor.shutdown(wait=False)
        self._task = None


class Lifespan:
    """ASGI lifespan: starts the in-web messaging and payments pumps when
    `MESSAGING_PUMP_IN_WEB` is on."""

    def __init__(self) -> None:
        self.pump = MessagingPumpInWeb()

    async def __call__(self, scope, receive, send):
        from django.conf import settings

        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if getattr(settings, "MESSAGING_PUMP_IN_WEB", False):
                        await self.pump.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.pump.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def get_application():
    import django

    django.setup(set_prefix=False)
    from slotwise.core.http_coalesce import install

    install()  # a response's head and body in one write under uvicorn (core/http_coalesce.py)
    from channels.auth import AuthMiddlewareStack
    from channels.routing import ProtocolTypeRouter, URLRouter
    from channels.security.websocket import AllowedHostsOriginValidator

    from slotwise.core.api_fastpath import ApiFastPath
    from slotwise.messaging.fastpath import InboundFastPath
    from slotwise.messaging.routing import websocket_urlpatterns
    from slotwise.payments.fastpath import PaymentCallbackFastPath

    class HTTPHandler(ApiFastPath, PaymentCallbackFastPath, InboundFastPath, OneHopASGIHandler):
        """The channels' inbound webhooks (messaging/fastpath.py), the payment callbacks
        (payments/fastpath.py) and token-authenticated API calls (core/api_fastpath.py) skip
        the middleware chain."""

    return ProtocolTypeRouter(
        {
            "http": HTTPHandler(
                threads=int(os.environ.get("WEB_THREADS", "16")),
                lean_threads=int(os.environ.get("WEB_LEAN_THREADS", "3")),
            ),
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
            "lifespan": Lifespan(),
        }
    )


application = get_application()
