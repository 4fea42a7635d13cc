"""``cds serve --workers 2`` with real worker processes: connections are spread evenly, replays refused everywhere.

Linux only, as the service is: connections and mappings are read from /proc.
tests/service/test_balance.py specifies the balancing itself,
tests/service/test_replay.py the shared jti replay table.
"""

from __future__ import annotations

import http.client
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


def open_and_ask(port: int, n: int) -> list[http.client.HTTPConnection]:
    """``n`` keep-alive connections opened at once, each then answered a ``GET /health``."""
    opened = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(n)]
    for connection in opened:
        connection.connect()
    for connection in opened:
        connection.request("GET", "/health")
        assert connection.getresponse().read() == b'{"status":"ok"}'
    return opened


class TwoWorkers:
    """A real ``cds serve --workers 2`` on a free port; connections opened through it are closed at the end."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = tmp_path / "serve.log"
        environment = dict(os.environ) | {"CDS_DATA_DIR": str(tmp_path / "data"), "CDS_MODEL_DIR": "none"} | (env or {})
        with self.log.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from cds.cli import main; main()", "serve", *args, "--port", str(self.port),
                 "--workers", "2"], stdout=subprocess.DEVNULL, stderr=err, env=environment)
        self.clients: list[http.client.HTTPConnection] = []

    def workers(self) -> set[int]:
        return worker_pids(self.process.pid)

    def started(self, n: int) -> bool:
        """At least ``n`` workers have started since the service did (restarts count)."""
        return self.log.read_text(errors="replace").count("Application startup complete") >= n

    def wait_for(self, condition, what: str) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not condition():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"waiting for {what}: {self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)

    def connect(self, n: int) -> list[http.client.HTTPConnection]:
        """`open_and_ask` ``n`` new connections, after closing the ones opened before."""
        for connection in self.clients:
            connection.close()
        self.clients = open_and_ask(self.port, n)
        return self.clients

    def replace_workers(self, old: set[int]) -> set[int]:
        """SIGHUP: uvicorn brings up a new worker for each and stops the old; the new workers' pids."""
        self.process.send_signal(signal.SIGHUP)
        self.wait_for(lambda: self.started(4) and len(self.workers() - old) == 2, "two new workers")
        self.wait_for(lambda: not self.workers() & old, "the old workers to exit")
        return self.workers()

    def __enter__(self) -> TwoWorkers:
        self.wait_for(lambda: self.started(2), "two workers")
        return self

    def __exit__(self, *exc: object) -> None:
        for connection in self.clients:
            connection.close()
        self.process.terminate()
        self.process.wait(timeout=60)
        assert "Traceback" not in self.log.read_text(errors="replace")


def test_two_workers_each_take_half_of_the_connections_opened_at_once_also_after_sighup(tmp_path):
    with TwoWorkers(tmp_path) as served:
        first = served.workers()
        served.connect(8)
        assert len(first) == 2 and established_by_worker(served.port, first) == [4, 4]
        assert all(b"/cds-connections-" in _read(Path(f"/proc/{pid}/maps")) for pid in first)  # the shared table

        second = served.replace_workers(first)  # new rows in the shared table
        served.connect(8)
        assert established_by_worker(served.port, second) == [4, 4]


def test_a_client_jwt_replayed_to_the_other_worker_or_after_a_restart_is_refused(tmp_path):
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

    def discover(connection: http.client.HTTPConnection) -> int:
        connection.request("GET", "/cds-services", headers={"Host": "cds.test", "Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        return response.status

    with TwoWorkers(tmp_path, "--config", str(tmp_path / "cds.toml"),
                    env={"CDS_PSEUDONYM_KEY": "test-pseudonym-key-0123456789"}) as served:
        workers = served.workers()
        clients = served.connect(8)
        assert established_by_worker(served.port, workers) == [4, 4]  # so some of clients[1:] are on the other worker
        assert discover(clients[0]) == 200
        assert [discover(connection) for connection in clients[1:]] == [401] * 7

        served.replace_workers(workers)
        assert [discover(connection) for connection in served.connect(2)] == [401] * 2
    assert token.encode() not in (tmp_path / "data" / "jti-replay.bin").read_bytes()


def test_metrics_of_both_workers_are_answered_by_either(tmp_path):
    import json

    from prometheus_client.parser import text_string_to_metric_families

    body = json.dumps({"hook": "patient-view", "hookInstance": "h-1", "context": {
        "userId": "Practitioner/p", "patientId": "p1"}, "prefetch": {"patient": {
            "resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1942-03-14"}}})

    def calls_counted(text: str) -> float:
        return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
                   if sample.name == "cds_hook_calls_total")

    with TwoWorkers(tmp_path, env={"CDS_AUTH__METRICS_TOKEN": "scrape-0123456789"}) as served:
        served.connect(8)  # four connections on each worker (the balancer spreads them)
        for connection in served.clients:
            connection.request("POST", "/cds-services/frailty-patient-view", body=body,
                               headers={"Content-Type": "application/json"})
            connection.getresponse().read()
        for connection in served.clients[:2]:
            connection.request("GET", "/metrics", headers={"Authorization": "Bearer scrape-0123456789"})
            answer = connection.getresponse()
            assert answer.status == 200
            assert calls_counted(answer.read().decode()) == 8
