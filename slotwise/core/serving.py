"""Balanced accepting for a web server with several worker processes (uvicorn `--workers`).

The worker processes share one listening socket, and each one's event loop accepts whatever is
waiting the moment the socket turns readable (uvloop and asyncio both accept in a loop until the
queue is empty). Clients keep their connections open (HTTP keep-alive), so whichever process
won a burst of new connections keeps their requests for as long as they last: measured with 50
keep-alive clients connecting at once against `uvicorn --workers 2`, one process held 30 to 43
of the 50 connections in nine of ten tries. That process's clients then queue behind each other
while the other process idles: higher latency for most clients (docs/scaling.md, "Balanced
accepting").

`new_event_loop` (uvicorn `--loop slotwise.core.serving:new_event_loop`) gives each worker
process an event loop whose `create_server(sock=…)` — the call uvicorn's workers make with the
shared socket — serves it with `BalancedServer`, least-connections balancing:

- each process writes how many connections it holds into a small shared ledger (`Ledger`: a
  file in /dev/shm named after the socket's inode, one slot per process, so only the processes
  sharing that socket meet there);
- when the socket turns readable, a process that holds no more than the fewest held elsewhere
  accepts ONE connection at once; one holding more waits `ACCEPT_STEP_S` per connection of its
  lead (at most `ACCEPT_MAX_DELAY_S`), giving the others the first chance, then accepts if the
  connection is still there — a busy or stuck process never keeps a connection waiting long;
- a slot whose process is gone (killed, restarted) is skipped and taken over.
The wait is paid once per connection, not per request, and only by a process that is ahead.

Everything else — the protocol, TLS, keep-alive, shutdown — is the server's own: a connection
accepted here is handed to the loop's `connect_accepted_socket`, as an accepted connection of the
loop's own server would be. Any other `create_server` call (host and port, a Unix socket path)
is the loop's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import mmap
import os
import socket
import struct
import tempfile
from collections.abc import Callable

logger = logging.getLogger("slotwise.core.serving")

# A process ahead by n connections waits n × ACCEPT_STEP_S (at most ACCEPT_MAX_DELAY_S) before
# accepting. The event loops' timers count whole milliseconds (libuv): one step is one tick.
ACCEPT_STEP_S = 0.001
ACCEPT_MAX_DELAY_S = 0.01
# Out of file descriptors (or memory): stop accepting for a moment, as asyncio does.
_RESOURCE_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_RESOURCE_BACKOFF_S = 1.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Ledger:
    """Connections held by each server on one listening socket, shared between processes.

    `SLOTS` slots of (pid, held) in a memory-mapped file; each server claims a free slot (or one
    whose process is gone) under a file lock and writes only its own. Reads of the others' slots
    take no lock: a count a moment old only makes one accept less balanced."""

    SLOTS = 64
    _SLOT = struct.Struct("ii")

    def __init__(self, sock: socket.socket, directory: str | None = None):
        if directory is None:
            directory = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        inode = os.fstat(sock.fileno()).st_ino
        self.path = os.path.join(directory, f"slotwise-accept-{os.getuid()}-{inode}")
        size = self.SLOTS * self._SLOT.size
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
            self.slot = self._claim()
        finally:
            # The mapping keeps a duplicate of the descriptor (and so the lock): unlock first.
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _claim(self) -> int | None:
        pid = os.getpid()
        for slot in range(self.SLOTS):
            other, _held = self._SLOT.unpack_from(self._map, slot * self._SLOT.size)
            if other == 0 or (other != pid and not _alive(other)):
                self._SLOT.pack_into(self._map, slot * self._SLOT.size, pid, 0)
                return slot
        logger.warning("no free slot in %s: this process accepts unbalanced", self.path)
        return None

    def record(self, held: int) -> None:
        if self.slot is not None:
            self._SLOT.pack_into(self._map, self.slot * self._SLOT.size, os.getpid(), held)

    def fewest_elsewhere(self) -> int | None:
        """The fewest connections another live server holds (None: no other server)."""
        fewest = None
        for slot in range(self.SLOTS):
            if slot == self.slot:
                continue
            pid, held = self._SLOT.unpack_from(self._map, slot * self._SLOT.size)
            if pid and (fewest is None or held < fewest) and _alive(pid):
                fewest = held
        return fewest

    def release(self) -> None:
        """Free this server's slot; the last server on the socket removes the file."""
        if self.slot is None:
            return
        self._SLOT.pack_into(self._map, self.slot * self._SLOT.size, 0, 0)
        self.slot = None
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if self.fewest_elsewhere() is None:
                # Two servers stopping together may both find the other gone: one removes it.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class BalancedServer(asyncio.AbstractServer):
    """Serves a shared listening socket: one connection per readiness, least-connections first
    among the servers sharing it."""

    def __init__(
        self, loop, sock: socket.socket, protocol_factory: Callable, *, ssl=None, backlog=100
    ):
        self._loop = loop
        self._backlog = backlog
        self._sock = sock
        self._protocol_factory = protocol_factory
        self._ssl = ssl
        self._serving = False
        self._closed: asyncio.Future | None = None
        self._held = 0
        self._tasks: set[asyncio.Task] = set()
        self._retry: asyncio.TimerHandle | None = None
        self._ledger: Ledger | None = None

    # -- asyncio.AbstractServer ------------------------------------------------------------
    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._sock is None else (self._sock,)

    def get_loop(self):
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    @property
    def held(self) -> int:
        """Connections accepted here and not yet closed."""
        return self._held

    async def start_serving(self) -> None:
        if self._serving or self._sock is None:
            return
        self._serving = True
        self._sock.setblocking(False)
        self._sock.listen(self._backlog)  # as the loop's own server does (uvicorn only binds)
        try:
            self._ledger = Ledger(self._sock)
        except OSError as exc:  # no shared memory: still one connection per readiness
            logger.warning("no accept ledger (%s): this process accepts unbalanced", exc)
        self._loop.add_reader(self._sock.fileno(), self._readable)

    def close(self) -> None:
        """Stop accepting (open connections are the server's to shut down, as with the loop's
        own server). The socket stays open: the server that passed it in closes it."""
        if self._sock is None:
            return
        if self._serving:
            self._loop.remove_reader(self._sock.fileno())
        self._serving = False
        if self._retry is not None:
            self._retry.cancel()
        self._sock = None
        if self._ledger is not None:
            self._ledger.release()
        if self._closed is None:
            self._closed = self._loop.create_future()
        if not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._closed is not None:
            await self._closed

    async def serve_forever(self) -> None:
        if self._closed is None:
            self._closed = self._loop.create_future()
        await self.start_serving()
        await self._closed

    # -- accepting --------------------------------------------------------------------------
    def _readable(self) -> None:
        """A connection is waiting: accept it now if no other server holds fewer connections,
        else after a wait that gives them the first chance."""
        self._loop.remove_reader(self._sock.fileno())
        fewest = self._ledger.fewest_elsewhere() if self._ledger is not None else None
        lead = 0 if fewest is None else self._held - fewest
        if lead > 0:
            delay = min(lead * ACCEPT_STEP_S, ACCEPT_MAX_DELAY_S)
            self._retry = self._loop.call_later(delay, self._accept)
        else:
            self._accept()

    def _accept(self) -> None:
        self._retry = None
        if not self._serving:
            return
        try:
            conn, _address = self._sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            pass  # another process took it, or the client gave up
        except OSError as exc:
            if exc.errno in _RESOURCE_ERRORS:
                logger.error("accepting a connection failed (%s); retrying in a second", exc)
                self._retry = self._loop.call_later(_RESOURCE_BACKOFF_S, self._listen)
                return
            # Anything else concerns that one connection: log it and go on listening.
            logger.exception("accepting a connection failed")
        else:
            self._count(+1)
            task = self._loop.create_task(self._connect(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._listen()

    def _listen(self) -> None:
        self._retry = None
        if self._serving:
            self._loop.add_reader(self._sock.fileno(), self._readable)

    def _count(self, change: int) -> None:
        self._held += change
        if self._ledger is not None:
            self._ledger.record(self._held)

    async def _connect(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        if conn.family in (socket.AF_INET, socket.AF_INET6):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        factory = self._protocol_factory
        counted = True

        def release() -> None:  # once per connection, however it ends
            nonlocal counted
            if counted:
                counted = False
                self._count(-1)

        def protocol():
            made = factory()
            lost = made.connection_lost

            def connection_lost(exc):
                release()
                lost(exc)

            made.connection_lost = connection_lost
            return made

        try:
            await self._loop.connect_accepted_socket(protocol, conn, ssl=self._ssl)
        except Exception:
            logger.exception("setting up an accepted connection failed")
            release()
            conn.close()


class _BalancedMixin:
    """`create_server` with an already listening socket (the multi-process servers' call) is
    served by `BalancedServer`; everything else is the loop's own."""

    async def create_server(self, protocol_factory, host=None, port=None, *, sock=None, **kw):
        if sock is None or host is not None or port is not None or sock.type != socket.SOCK_STREAM:
            return await super().create_server(protocol_factory, host, port, sock=sock, **kw)
        server = BalancedServer(
            self, sock, protocol_factory, ssl=kw.get("ssl"), backlog=kw.get("backlog", 100)
        )
        if kw.get("start_serving", True):
            await server.start_serving()
        return server


def _loop_class() -> type:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in the lock file
        base = asyncio.SelectorEventLoop
    else:
        base = uvloop.Loop
    return type(f"Balanced{base.__name__}", (_BalancedMixin, base), {})


BalancedLoop = _loop_class()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's `--loop slotwise.core.serving:new_event_loop` (a custom loop is named by its
    factory): uvloop (asyncio's own loop without it) with balanced accepting."""
    return BalancedLoop()
