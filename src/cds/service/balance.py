"""Spread connections evenly over the workers of ``cds serve --workers N``.

uvicorn's workers share one listening socket, and a worker that wakes up
accepts every connection pending at that moment (libuv accepts until the queue
is empty). A pool of keep-alive connections opened at once, which is what an
EPJ's HTTP client or a reverse proxy holds, can therefore all land on one
worker while the other idles, which then serves about half the requests per
second the two could (docs/performance.md has the measurement).

With more than one worker, ``cds serve`` runs each worker on `BalancedLoop`.
Its server accepts one connection at a time, and only while no other live
worker holds fewer open connections ("least connections"). The workers see
each other's counts in a `ConnectionTable`: a small memory-mapped file that the
supervising process creates (`connection_table`) and names to the workers in
``$CDS_CONNECTION_TABLE``. A worker that holds more connections leaves a
pending connection to the others, checking again every `RECHECK_SECONDS`.
After `MAX_WAIT_SECONDS` it accepts anyway, so a worker that is busy with a
long call (or hung) holds up a new connection for at most that long.

A worker's count is exact: it goes up when the worker accepts and down when
uvicorn's protocol reports the connection lost. A worker that exits
gracefully frees its row; the row of a worker that was killed is freed by the
next worker that finds its process gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import mmap
import os
import select
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

try:  # uvicorn[standard] brings uvloop on Linux and macOS
    from uvloop import Loop as _BaseLoop
except ImportError:  # pragma: no cover - the plain asyncio loop has the same API
    _BaseLoop = asyncio.SelectorEventLoop  # type: ignore[misc,assignment]

__all__ = ["TABLE_ENV", "BalancedLoop", "BalancedServer", "ConnectionTable", "connection_table"]

log = logging.getLogger(__name__)

#: Names the shared table to the workers (set by `connection_table`).
TABLE_ENV = "CDS_CONNECTION_TABLE"
#: How often a worker holding more connections than another checks again whether it should accept.
RECHECK_SECONDS = 0.001
#: How long a pending connection is left to a worker holding fewer, before any worker accepts it.
MAX_WAIT_SECONDS = 0.05
#: How long a worker stops accepting after the system refused it resources (too many open files).
OUT_OF_RESOURCES_PAUSE_SECONDS = 0.5

_CELLS_PER_ROW = 2  # process id, open connections


class ConnectionTable:
    """Rows of (worker process id, open connections), shared by the workers through a mapped file.

    Each worker writes only its own row; rows are claimed under a file lock.
    A row with process id 0 is free.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("r+b") as file:
            self._map = mmap.mmap(file.fileno(), 0)
        self._cells = memoryview(self._map).cast("q")
        self.rows = len(self._cells) // _CELLS_PER_ROW

    @classmethod
    def create(cls, path: Path, rows: int) -> ConnectionTable:
        path.write_bytes(bytes(8 * _CELLS_PER_ROW * rows))
        return cls(path)

    def claim(self) -> int:
        """Take a free row (or one whose process is gone) for this process; its row number."""
        with self.path.open("r+b") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            for row in range(self.rows):
                pid = self._cells[row * _CELLS_PER_ROW]
                if pid == 0 or not _alive(pid):
                    self._cells[row * _CELLS_PER_ROW + 1] = 0
                    self._cells[row * _CELLS_PER_ROW] = os.getpid()
                    return row
        raise RuntimeError(f"connection table {self.path} has no free row ({self.rows} rows)")

    def publish(self, row: int, open_connections: int) -> None:
        self._cells[row * _CELLS_PER_ROW + 1] = open_connections

    def release(self, row: int) -> None:
        self._cells[row * _CELLS_PER_ROW + 1] = 0
        self._cells[row * _CELLS_PER_ROW] = 0

    def fewest_elsewhere(self, row: int) -> int | None:
        """The fewest open connections any other live worker holds (None: no other worker)."""
        fewest: int | None = None
        for other in range(self.rows):
            pid = self._cells[other * _CELLS_PER_ROW]
            if other == row or pid == 0:
                continue
            if not _alive(pid):
                continue  # killed without freeing its row; `claim` reuses it
            count = self._cells[other * _CELLS_PER_ROW + 1]
            fewest = count if fewest is None else min(fewest, count)
        return fewest

    def workers(self) -> list[tuple[int, int]]:
        """(process id, open connections) of each claimed row, dead or alive."""
        return [(self._cells[r * _CELLS_PER_ROW], self._cells[r * _CELLS_PER_ROW + 1])
                for r in range(self.rows) if self._cells[r * _CELLS_PER_ROW] != 0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user: not ours, but not provably gone either
        return True
    return True


@contextlib.contextmanager
def connection_table(rows: int) -> Iterator[Path]:
    """Create a table in the temporary directory, name it in ``$CDS_CONNECTION_TABLE``, remove it after."""
    handle, name = tempfile.mkstemp(prefix="cds-connections-")
    os.close(handle)
    path = Path(name)
    ConnectionTable.create(path, rows)
    os.environ[TABLE_ENV] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(TABLE_ENV, None)
        path.unlink(missing_ok=True)


class BalancedServer:
    """Accepts connections on a shared listening socket, one at a time, least connections first.

    Stands in for the ``asyncio.Server`` that uvicorn keeps: it has the two
    methods uvicorn calls at shutdown, `close` and `wait_closed`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol_factory: Callable[[], Any],
                 table: ConnectionTable, *, ssl: Any = None, backlog: int = 100,
                 recheck: float = RECHECK_SECONDS, max_wait: float = MAX_WAIT_SECONDS) -> None:
        self._loop = loop
        self._sock = sock
        self._factory = protocol_factory
        self._table = table
        self._ssl = ssl
        self._recheck = recheck
        self._max_wait = max_wait
        self._row = table.claim()
        self._open = 0
        self._waiting_since: float | None = None  # when this worker began leaving a connection to others
        self._paused: asyncio.TimerHandle | None = None
        self._pending = select.poll()
        self._pending.register(sock.fileno(), select.POLLIN)
        self._tcp = sock.family in (socket.AF_INET, socket.AF_INET6)
        sock.setblocking(False)
        sock.listen(backlog)  # uvicorn binds the socket; the server listens (as asyncio's does)
        loop.add_reader(sock.fileno(), self._on_pending)

    def _on_pending(self) -> None:
        fewest = self._table.fewest_elsewhere(self._row)
        if fewest is not None and self._open > fewest:
            now = self._loop.time()
            if self._waiting_since is None:
                self._waiting_since = now
            if now - self._waiting_since < self._max_wait:
                self._pause(self._recheck)
                return
        self._waiting_since = None
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError):
            return  # another worker took it
        except OSError as exc:  # EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays queued
            log.warning("cannot accept a connection (%s); pausing %.1f s", exc.strerror or exc,
                        OUT_OF_RESOURCES_PAUSE_SECONDS)
            self._pause(OUT_OF_RESOURCES_PAUSE_SECONDS)
            return
        self._opened()
        self._loop.create_task(self._serve(conn))

    def _pause(self, seconds: float) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._paused = self._loop.call_later(seconds, self._resume)

    def _resume(self) -> None:
        self._paused = None
        if not self._pending.poll(0):
            self._waiting_since = None  # another worker accepted it
        self._loop.add_reader(self._sock.fileno(), self._on_pending)

    async def _serve(self, conn: socket.socket) -> None:
        try:
            conn.setblocking(False)
            if self._tcp:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await self._loop.connect_accepted_socket(self._protocol, conn, ssl=self._ssl)
        except Exception as exc:  # e.g. a TLS handshake that failed: the connection is dropped, not the worker
            log.warning("dropped an accepted connection: %s", type(exc).__name__)
            conn.close()
            self._closed()

    def _protocol(self) -> Any:
        protocol = self._factory()
        lost = protocol.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            try:
                lost(exc)
            finally:
                self._closed()

        protocol.connection_lost = connection_lost
        return protocol

    @property
    def open_connections(self) -> int:
        return self._open

    def _opened(self) -> None:
        self._open += 1
        self._table.publish(self._row, self._open)

    def _closed(self) -> None:
        self._open -= 1
        if self._row >= 0:  # connections can outlive `close`
            self._table.publish(self._row, self._open)

    def close(self) -> None:
        """Stop accepting and free this worker's row (the listening socket is the caller's to close)."""
        if self._row < 0:
            return
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        else:
            self._loop.remove_reader(self._sock.fileno())
        self._table.release(self._row)
        self._row = -1

    async def wait_closed(self) -> None:
        """Nothing to wait for: uvicorn has waited for the connections before it calls this."""


class BalancedLoop(_BaseLoop):  # type: ignore[misc,valid-type]
    """The event loop of a worker: `create_server` on an inherited socket balances through the shared table.

    uvicorn takes it as its loop factory (``loop="cds.service.balance:BalancedLoop"``).
    Without ``$CDS_CONNECTION_TABLE``, or for a server it binds itself, it is the plain loop.
    """

    async def create_server(self, protocol_factory: Any, host: Any = None, port: Any = None, *,
                            sock: socket.socket | None = None, ssl: Any = None, backlog: int = 100,
                            **kwargs: Any) -> Any:
        table = os.environ.get(TABLE_ENV)
        if sock is None or not table:
            return await super().create_server(protocol_factory, host, port, sock=sock, ssl=ssl, backlog=backlog,
                                               **kwargs)
        return BalancedServer(self, sock, protocol_factory, ConnectionTable(Path(table)), ssl=ssl, backlog=backlog)
