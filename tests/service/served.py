"""Helpers for tests that run real ``cds serve`` processes and a private PostgreSQL server.

`Served` starts ``cds serve`` on a free loopback port and waits until it
answers; `PrivatePostgres` creates a throw-away PostgreSQL cluster with
Debian's ``initdb``/``pg_ctl`` (as the ``postgres`` user when the tests run as
root, since ``initdb`` refuses root), which a test can stop and start.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

STARTUP_SECONDS = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """One ``cds serve`` process (one worker) with the given environment; stopped (SIGTERM) on exit."""

    def __init__(self, directory: Path, env: dict[str, str], *args: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = directory / "serve.log"
        environment = dict(os.environ) | {"CDS_DATA_DIR": str(directory / "data"), "CDS_MODEL_DIR": "none"} | env
        with self.log.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from cds.cli import main; main()", "serve", *args, "--port", str(self.port)],
                stdout=subprocess.DEVNULL, stderr=err, env=environment)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def __enter__(self) -> Served:
        deadline = time.monotonic() + STARTUP_SECONDS
        while "Uvicorn running on" not in self.text():  # logged once the socket listens (after the lifespan)
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"cds serve did not start: {self.text()[-2000:]}")
            time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
        """One request on a new connection: status, headers (lower-case names), body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            sent = {"Content-Type": "application/json"} if data is not None else {}
            connection.request(method, path, body=data, headers=sent | (headers or {}))
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own on a free port (trust authentication, user ``postgres``)."""

    def __init__(self) -> None:
        bin_dir = _postgres_bin()
        if bin_dir is None:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin")
        self.bin = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="cds-private-pg-"))
        self.data = self.root / "data"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self._as, str(self.bin / tool), *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stderr.strip()[-500:]}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self, mode: str) -> None:
        """``fast`` (clients disconnected, clean shutdown) or ``immediate`` (as a crash: recovery at start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def close(self) -> None:
        try:
            self.stop("immediate")
        except RuntimeError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)
