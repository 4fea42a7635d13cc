"""``cds serve --workers 2`` with real worker processes: connections are spread evenly, replays refused everywhere.

Linux only, as the service is: connections and mappings are read from /proc.
tests/service/test_balance.py specifies the balancing itself,
tests/service/test_replay.py the shared jti replay table.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

STARTUP_SECONDS = 240


def worker_pids(server: int) -> set[int]:
    pids: set[int] = set()
    for task in Path(f"/proc/{server}/task").glob("*"):
        try:
            pids |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return {p for p in pids if b"resource_tracker" not in _read(Path(f"/proc/{p}/cmdline"))}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def established_by_worker(port: int, pids: set[int]) -> list[int]:
    """How many established connections to ``port`` each worker holds, sorted."""
    inodes: set[str] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":  # local port, ESTABLISHED
            inodes.add(fields[9])
    counts = []
    for pid in pids:
        held = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            held += target.startswith("socket:[") and target[8:-1] in inodes
        counts.append(held)
    return sorted(counts)


def open_and_ask(port: int, n: int) -> list[socket.socket]:
    """``n`` connections opened at once, each then answered a ``GET /health``."""
    clients = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(n)]
    for sock in clients:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    for sock in clients:
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    return clients


def wait_for(condition, what: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not condition():
        if server.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"waiting for {what}: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)


def test_two_workers_each_take_half_of_the_connections_opened_at_once_also_after_sighup(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    env = dict(os.environ) | {"CDS_DATA_DIR": str(tmp_path / "data"), "CDS_MODEL_DIR": "none"}
    with log.open("w") as err:
        server = subprocess.Popen([sys.executable, "-c", "from cds.cli import main; main()", "serve", "--port",
                                   str(port), "--workers", "2"], stdout=subprocess.DEVNULL, stderr=err, env=env)
    clients: list[socket.socket] = []
    try:
        def started(n: int):
            return lambda: log.read_text(errors="replace").count("Application startup complete") >= n

        wait_for(started(2), "two workers", server, log)
        first = worker_pids(server.pid)
        clients = open_and_ask(port, 8)
        assert len(first) == 2 and established_by_worker(port, first) == [4, 4]
        assert all(b"/cds-connections-" in _read(Path(f"/proc/{pid}/maps")) for pid in first)  # the shared table
        for sock in clients:
            sock.close()

        server.send_signal(signal.SIGHUP)  # uvicorn replaces each worker: new rows in the shared table
        wait_for(lambda: started(4)() and len(worker_pids(server.pid) - first) == 2, "two new workers", server,
                 log)
        wait_for(lambda: not worker_pids(server.pid) & first, "the old workers to exit", server, log)
        second = worker_pids(server.pid)
        clients = open_and_ask(port, 8)
        assert established_by_worker(port, second) == [4, 4]
    finally:
        for sock in clients:
            sock.close()
        server.terminate()
        server.wait(timeout=60)
    assert "Traceback" not in log.read_text(errors="replace")


def test_a_client_jwt_replayed_to_the_other_worker_or_after_a_restart_is_refused(tmp_path):
    import http.client
    import json
    import uuid

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    issuer = "https://arena.sykehuset-innlandet.example"
    key = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "arena-jwks.json").write_text(json.dumps(
        {"keys": [ECAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": "arena-1"}]}))
    (tmp_path / "cds.toml").write_text(
        'public_base_url = "http://cds.test"\n[auth]\nprotect_discovery = true\n'
        f'[auth.issuers."{issuer}"]\njwks_file = "{tmp_path / "arena-jwks.json"}"\n')
    now = int(time.time())
    token = jwt.encode({"iss": issuer, "aud": "http://cds.test/cds-services", "iat": now, "exp": now + 240,
                        "jti": str(uuid.uuid4())}, key, algorithm="ES384", headers={"kid": "arena-1"})

    def connections(n: int) -> list[http.client.HTTPConnection]:
        """``n`` keep-alive connections opened at once, each then answered a ``GET /health``."""
        opened = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(n)]
        for connection in opened:
            connection.connect()
        for connection in opened:
            connection.request("GET", "/health")
            assert connection.getresponse().read() == b'{"status":"ok"}'
        return opened

    def discover(connection: http.client.HTTPConnection) -> int:
        connection.request("GET", "/cds-services", headers={"Host": "cds.test", "Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        return response.status

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    env = dict(os.environ) | {"CDS_DATA_DIR": str(tmp_path / "data"), "CDS_MODEL_DIR": "none",
                              "CDS_PSEUDONYM_KEY": "test-pseudonym-key-0123456789"}
    with log.open("w") as err:
        server = subprocess.Popen([sys.executable, "-c", "from cds.cli import main; main()", "serve", "--config",
                                   str(tmp_path / "cds.toml"), "--port", str(port), "--workers", "2"],
                                  stdout=subprocess.DEVNULL, stderr=err, env=env)
    clients: list[http.client.HTTPConnection] = []
    try:
        def started(n: int):
            return lambda: log.read_text(errors="replace").count("Application startup complete") >= n

        wait_for(started(2), "two workers", server, log)
        workers = worker_pids(server.pid)
        clients = connections(8)
        assert established_by_worker(port, workers) == [4, 4]  # so some of clients[1:] are on the other worker
        assert discover(clients[0]) == 200
        assert [discover(connection) for connection in clients[1:]] == [401] * 7
        for connection in clients:
            connection.close()

        server.send_signal(signal.SIGHUP)  # uvicorn replaces both workers
        wait_for(lambda: started(4)() and not worker_pids(server.pid) & workers, "two new workers", server, log)
        clients = connections(2)
        assert [discover(connection) for connection in clients] == [401] * 2
    finally:
        for connection in clients:
            connection.close()
        server.terminate()
        server.wait(timeout=60)
    assert "Traceback" not in log.read_text(errors="replace")
    assert token.encode() not in (tmp_path / "data" / "jti-replay.bin").read_bytes()
