"""Connections are spread over the workers least-connections first (`cds.service.balance`).

Each "worker" here is a `BalancedServer` on its own `BalancedLoop` in a thread,
all on one listening socket and one shared table, as the worker processes of
``cds serve --workers N`` are. tests/service/test_serve_workers.py checks the
same with real worker processes.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cds.service.balance import TABLE_ENV, BalancedLoop, BalancedServer, ConnectionTable, connection_table

NEVER = 3600.0  # a max_wait no test reaches: a worker holding more never accepts


class Quiet(asyncio.Protocol):
    """Keeps the connection open and says nothing."""


class Worker:
    """A `BalancedServer` on its own event loop thread."""

    def __init__(self, listener: socket.socket, table: Path, **options: float) -> None:
        self.loop = BalancedLoop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = BalancedServer(self.loop, listener, Quiet, ConnectionTable(table), **options)
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10)

    @property
    def open_connections(self) -> int:
        return self.server.open_connections

    def close(self) -> None:
        done = threading.Event()
        self.loop.call_soon_threadsafe(lambda: (self.server.close(), done.set()))
        assert done.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "connections"
    ConnectionTable.create(path, rows=4)
    return path


@pytest.fixture
def workers():
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


@pytest.fixture
def clients():
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def connect(listener: socket.socket, clients: list[socket.socket], n: int) -> None:
    for _ in range(n):
        clients.append(socket.create_connection(listener.getsockname(), timeout=10))


def wait_for(condition, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_connections_opened_at_once_are_split_evenly_between_two_workers(listener, table, workers, clients):
    workers += [Worker(listener, table, max_wait=NEVER), Worker(listener, table, max_wait=NEVER)]
    connect(listener, clients, 8)
    wait_for(lambda: sum(w.open_connections for w in workers) == 8, "all 8 connections accepted")
    assert [w.open_connections for w in workers] == [4, 4]


def test_each_worker_publishes_its_open_connections_in_the_shared_table(listener, table, workers, clients):
    workers.append(Worker(listener, table, max_wait=NEVER))
    connect(listener, clients, 3)
    wait_for(lambda: ConnectionTable(table).workers() == [(os.getpid(), 3)], "3 connections in the table")
    clients.pop().close()
    wait_for(lambda: ConnectionTable(table).workers() == [(os.getpid(), 2)], "a closed connection counted off")
    assert workers[0].open_connections == 2


def test_a_worker_that_never_accepts_holds_up_a_connection_only_until_max_wait(listener, table, workers, clients):
    stuck = ConnectionTable(table)
    stuck.claim()  # a live worker holding no connections that never accepts any
    workers.append(Worker(listener, table, max_wait=0.05))
    connect(listener, clients, 3)
    # the first is this worker's turn (0 <= 0); each later one it leaves to the stuck worker for max_wait
    wait_for(lambda: workers[0].open_connections == 3, "the busier worker to accept after max_wait")


CLAIM_AND_DIE = ("import os, sys; from pathlib import Path; from cds.service.balance import ConnectionTable;"
                 "ConnectionTable(Path(sys.argv[1])).claim(); os._exit(0)")


def test_a_killed_workers_row_is_not_counted(listener, table, workers, clients):
    placeholder = ConnectionTable(table)
    placeholder.claim()  # row 0, so that the killed worker's row is row 1
    subprocess.run([sys.executable, "-c", CLAIM_AND_DIE, str(table)], check=True)
    placeholder.release(0)
    workers.append(Worker(listener, table, max_wait=NEVER))  # takes row 0; the killed worker keeps row 1
    assert len(ConnectionTable(table).workers()) == 2
    connect(listener, clients, 2)  # were the killed worker's 0 counted, the second would wait for it forever
    wait_for(lambda: workers[0].open_connections == 2, "both connections accepted by the live worker")


def test_a_killed_workers_row_is_claimed_again(table):
    subprocess.run([sys.executable, "-c", CLAIM_AND_DIE, str(table)], check=True)
    (killed, _), = ConnectionTable(table).workers()
    assert ConnectionTable(table).claim() == 0
    assert ConnectionTable(table).workers() == [(os.getpid(), 0)] and killed != os.getpid()


def test_a_closed_server_frees_its_row_and_leaves_connections_to_the_others(listener, table, workers, clients):
    workers += [Worker(listener, table, max_wait=NEVER), Worker(listener, table, max_wait=NEVER)]
    workers[0].close()
    assert len(ConnectionTable(table).workers()) == 1
    connect(listener, clients, 3)
    wait_for(lambda: workers[1].open_connections == 3, "the open worker to take every connection")
    assert workers[0].open_connections == 0


def test_a_table_with_no_free_row_is_refused_with_its_path(tmp_path):
    table = ConnectionTable.create(tmp_path / "connections", rows=1)
    table.claim()
    with pytest.raises(RuntimeError, match="connections has no free row"):
        table.claim()


def test_connection_table_names_the_table_to_the_workers_and_removes_it_after():
    with connection_table(rows=3) as path:
        assert os.environ[TABLE_ENV] == str(path)
        assert ConnectionTable(path).rows == 3 and ConnectionTable(path).workers() == []
    assert TABLE_ENV not in os.environ and not path.exists()


def test_the_loop_balances_only_an_inherited_socket_named_with_a_table(listener, table, monkeypatch):
    async def servers() -> tuple[object, object]:
        loop = asyncio.get_running_loop()
        monkeypatch.setenv(TABLE_ENV, str(table))
        bound_here = await loop.create_server(Quiet, "127.0.0.1", 0)
        inherited = await loop.create_server(Quiet, sock=listener)
        monkeypatch.delenv(TABLE_ENV)
        without_table = await loop.create_server(Quiet, sock=socket.create_server(("127.0.0.1", 0)))
        for server in (bound_here, inherited, without_table):
            server.close()
            await server.wait_closed()
        return bound_here, inherited, without_table

    with asyncio.Runner(loop_factory=BalancedLoop) as runner:
        bound_here, inherited, without_table = runner.run(servers())
    assert isinstance(inherited, BalancedServer)
    assert not isinstance(bound_here, BalancedServer) and not isinstance(without_table, BalancedServer)
