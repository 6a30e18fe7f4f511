"""core/serving.py: balanced accepting on a listening socket shared by several event loops
(uvicorn's worker processes).

- In one loop, two servers on the same socket (as two processes share it): the one holding
  fewer connections takes the next ones; a closed connection is no longer counted; connections
  work (bytes both ways).
- The real uvicorn with two workers and the balanced loop: 40 keep-alive clients connecting at
  once are spread over both processes (greedy accepting left one process 7 of 50 in the
  measurements of docs/scaling.md), every request is answered, and the server stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import collections
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from slotwise.core.serving import ACCEPT_MAX_DELAY_S, BalancedServer, Ledger, new_event_loop

ROOT = Path(__file__).resolve().parents[3]


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data.upper())


def run(coro):
    loop = new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.002)


async def settle() -> None:
    """Past every server's wait: a server that lost the last connection has looked again, so
    the next connection is a fresh race (connections spaced apart, as clients arrive)."""
    await asyncio.sleep(ACCEPT_MAX_DELAY_S * 2)


def listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def test_the_server_holding_fewer_connections_accepts_the_next_ones():
    async def main():
        loop = asyncio.get_running_loop()
        sock = listener()
        port = sock.getsockname()[1]
        first = await loop.create_server(Echo, sock=sock, backlog=64)
        assert isinstance(first, BalancedServer)
        clients = []
        for _ in range(6):
            clients.append(await asyncio.open_connection("127.0.0.1", port))
        await until(lambda: first.held == 6)
        # A second process's server on the same socket (a duplicate of it, as after a fork).
        second = await loop.create_server(Echo, sock=sock.dup(), backlog=64)
        for n in range(1, 7):
            clients.append(await asyncio.open_connection("127.0.0.1", port))
            await until(lambda n=n: first.held + second.held == 6 + n)
            await settle()
        assert (first.held, second.held) == (6, 6)

        # The connections work.
        reader, writer = clients[-1]
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"PING"

        # A closed connection no longer counts: the next one goes back to the first server.
        for _reader, writer in clients[:2]:
            writer.close()
        await until(lambda: first.held == 4)
        await settle()
        clients.append(await asyncio.open_connection("127.0.0.1", port))
        await until(lambda: first.held + second.held == 11)
        assert (first.held, second.held) == (5, 6)

        for _, writer in clients[2:]:
            writer.close()
        for server in (first, second):
            server.close()
            await server.wait_closed()
            assert not server.is_serving()
        sock.close()

    run(main())


def test_the_ledger_skips_and_reuses_the_slots_of_processes_that_are_gone(tmp_path):
    sock = listener()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    gone = int(dead.stdout)
    first = Ledger(sock, directory=str(tmp_path))
    assert first.fewest_elsewhere() is None
    first.record(7)
    # A process that was killed while holding 0 connections left its slot behind.
    Ledger._SLOT.pack_into(first._map, 5 * Ledger._SLOT.size, gone, 0)
    second = Ledger(sock, directory=str(tmp_path))
    assert second.path == first.path and second.slot == 1
    second.record(3)
    assert first.fewest_elsewhere() == 3  # the dead process's 0 does not count
    assert second.fewest_elsewhere() == 7
    # Its slot is taken over when the first two are taken.
    third = Ledger(sock, directory=str(tmp_path))
    fourth = Ledger(sock, directory=str(tmp_path))
    assert (third.slot, fourth.slot) == (2, 3)
    Ledger._SLOT.pack_into(first._map, 4 * Ledger._SLOT.size, os.getpid(), 1)  # fill slot 4
    fifth = Ledger(sock, directory=str(tmp_path))
    assert fifth.slot == 5
    for ledger in (first, second, third, fourth, fifth):
        ledger.release()
    Ledger._SLOT.pack_into(first._map, 4 * Ledger._SLOT.size, 0, 0)
    assert os.path.exists(first.path)  # released before slot 4 was emptied
    sixth = Ledger(sock, directory=str(tmp_path))
    sixth.release()  # the last one out removes the file
    assert not os.path.exists(first.path)
    sock.close()


def test_two_servers_stopping_together_remove_the_ledger_once(tmp_path, monkeypatch):
    sock = listener()
    first = Ledger(sock, directory=str(tmp_path))
    second = Ledger(sock, directory=str(tmp_path))
    first.release()
    assert os.path.exists(second.path)  # the second still holds its slot
    # The other process removes the file between this one opening it and removing it.
    found = Ledger.fewest_elsewhere

    def removed_meanwhile(self):
        os.unlink(self.path)
        return found(self)

    monkeypatch.setattr(Ledger, "fewest_elsewhere", removed_meanwhile)
    second.release()  # no FileNotFoundError
    assert not os.path.exists(second.path)
    sock.close()


def test_one_connection_per_readiness_and_all_are_served():
    """Connections queued before the server starts are all accepted (one at a time) and served."""

    async def main():
        loop = asyncio.get_running_loop()
        sock = listener()
        sock.listen(64)
        port = sock.getsockname()[1]
        pending = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        server = await loop.create_server(Echo, sock=sock, backlog=64)
        await until(lambda: server.held == 5)
        for conn in pending:
            conn.setblocking(False)
            await loop.sock_sendall(conn, b"abc")
            assert await asyncio.wait_for(loop.sock_recv(conn, 3), 5) == b"ABC"
            conn.close()
        await until(lambda: server.held == 0)
        server.close()
        await server.wait_closed()
        sock.close()

    run(main())


def test_host_and_port_servers_are_the_loops_own():
    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, host="127.0.0.1", port=0)
        assert not isinstance(server, BalancedServer)
        server.close()
        await server.wait_closed()

    run(main())


APP = """
import os
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = str(os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""


def test_uvicorn_with_two_workers_spreads_keep_alive_clients(tmp_path):
    (tmp_path / "pidapp.py").write_text(APP)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    cmd = [sys.executable, "-m", "uvicorn", "pidapp:app", "--workers", "2", "--port", str(port)]
    cmd += ["--loop", "slotwise.core.serving:new_event_loop", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, start_new_session=True)
    try:
        workers: set[str] = set()
        deadline = time.monotonic() + 60
        while len(workers) < 2:  # both worker processes are up and answering
            assert time.monotonic() < deadline, "the server did not start"
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/")
                workers.add(conn.getresponse().read().decode())
                conn.close()
            except OSError:
                time.sleep(0.1)

        clients = 40
        gate = threading.Barrier(clients)
        answers: list[list[str]] = [[] for _ in range(clients)]

        def client(i: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            gate.wait()
            conn.connect()
            for _ in range(5):
                conn.request("GET", "/")
                answers[i].append(conn.getresponse().read().decode())
            conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Keep-alive: each client's five requests went to one process.
        assert all(len(a) == 5 and len(set(a)) == 1 for a in answers)
        held = collections.Counter(a[0] for a in answers)
        assert set(held) == workers
        assert min(held.values()) >= clients // 4, held
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_a_failed_accept_is_logged_and_the_server_goes_on(monkeypatch, caplog):
    import errno

    async def main():
        loop = asyncio.get_running_loop()
        sock = listener()
        port = sock.getsockname()[1]
        server = await loop.create_server(Echo, sock=sock, backlog=64)
        real_accept = socket.socket.accept
        failures = iter([OSError(errno.EPROTO, "protocol error")])

        def accept(self):
            failure = next(failures, None)
            if failure is not None:
                raise failure
            return real_accept(self)

        monkeypatch.setattr(socket.socket, "accept", accept)
        first = await asyncio.open_connection("127.0.0.1", port)
        await until(lambda: server.held == 1)  # taken on the next wake-up after the failure
        assert "accepting a connection failed" in caplog.text
        reader, writer = first
        writer.write(b"ok")
        assert await asyncio.wait_for(reader.readexactly(2), 5) == b"OK"
        writer.close()
        server.close()
        await server.wait_closed()
        sock.close()

    run(main())
