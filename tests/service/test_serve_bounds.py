"""A real ``cds serve`` on loopback bounds what slow clients can hold (gap 8 of issue #15).

One server for the module (it loads the bundled rules and model once), with a
1-second header timeout: connections that send their headers slowly, or only
part of them, are closed; a normal client on a kept-alive connection is not.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

SLOW_CONNECTIONS = 30
#: generous: the server closes them after 1 s; this only bounds the test if it does not
WAIT_SECONDS = 30.0


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    tmp = tmp_path_factory.mktemp("serve")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ) | {"CDS_DATA_DIR": str(tmp / "data"), "CDS_MODEL_DIR": "none",
                              "CDS_HEADER_TIMEOUT_SECONDS": "1"}
    with (tmp / "serve.log").open("w") as err:
        process = subprocess.Popen([sys.executable, "-c", "from cds.cli import main; main()", "serve", "--port",
                                    str(port)], stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (tmp / "serve.log").read_text()
            time.sleep(0.5)
        yield port, tmp
    finally:
        process.terminate()
        process.wait(timeout=60)


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """Whether the server closes ``sock`` (reads EOF or a reset) before ``deadline`` (``time.monotonic``)."""
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_connections_that_never_finish_their_headers_are_closed(server):
    port, _ = server
    sockets = []
    try:
        for number in range(SLOW_CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-%d: " % number)  # and nothing more
            sockets.append(sock)
        deadline = time.monotonic() + WAIT_SECONDS
        assert all(_closed_by_server(sock, deadline) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_a_client_trickling_header_bytes_is_closed_too(server):
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        try:
            for _ in range(int(WAIT_SECONDS / 0.2)):  # one byte every 0.2 s: data keeps arriving, headers never end
                sock.sendall(b"X")
                time.sleep(0.2)
            closed = False
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        assert closed or _closed_by_server(sock, time.monotonic() + 1)


def test_a_kept_alive_connection_serves_requests_after_the_header_timeout_has_passed(server):
    port, _ = server
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", limits=httpx.Limits(max_connections=1)) as client:
        assert client.get("/health").status_code == 200
        time.sleep(1.5)  # longer than the header timeout, shorter than uvicorn's keep-alive (5 s)
        assert client.get("/health").status_code == 200
        assert len(client._transport._pool.connections) == 1


def test_every_file_the_running_service_created_in_its_data_directory_is_private(server):
    _, tmp = server
    data = tmp / "data"
    assert oct(data.stat().st_mode & 0o777) == oct(0o700)
    modes = {path.name: oct(path.stat().st_mode & 0o777) for path in data.iterdir()}
    assert "cds.sqlite3" in modes and "pseudonym.key" in modes
    assert modes == {path.name: oct(0o700 if path.is_dir() else 0o600) for path in data.iterdir()}
