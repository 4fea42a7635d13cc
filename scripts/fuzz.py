"""Fuzz the running service against its own OpenAPI document with schemathesis: 0 server errors expected.

    python scripts/fuzz.py [--max-examples 200] [--seed 15] [--schemathesis PATH/TO/st]

Starts ``cds serve`` on a free loopback port (development mode, a fresh data
directory, the bundled rules and model), runs ``st run api/openapi.json``
against it with the ``not_a_server_error`` check (every generated call must be
answered below 500) for every operation, and stops the server. The seed makes
the run reproducible. schemathesis is not a project dependency: install the
``fuzz`` extra (``pip install -e '.[fuzz]'``) or name an ``st`` executable from
another virtualenv with ``--schemathesis``. Exits non-zero when any call got a
5xx or the server wrote a traceback; prints the number of generated calls.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "api" / "openapi.json"
METRICS_TOKEN = "fuzz-metrics-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, server: subprocess.Popen[bytes], seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("cds serve exited before it answered")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("cds serve did not answer within 240 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=200, help="generated cases per operation and phase")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--schemathesis", default=shutil.which("st") or "st", help="the schemathesis `st` executable")
    args = parser.parse_args()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="cds-fuzz-") as tmp:
        log = Path(tmp) / "serve.log"
        env = dict(os.environ) | {"CDS_DATA_DIR": str(Path(tmp) / "data"), "CDS_AUTH__METRICS_TOKEN": METRICS_TOKEN,
                                  "CDS_AUTH__ADMIN_TOKEN": "fuzz-admin-token"}
        with log.open("w") as err:
            server = subprocess.Popen([sys.executable, "-c", "from cds.cli import main; main()", "serve",
                                       "--port", str(port)], stdout=subprocess.DEVNULL, stderr=err, env=env)
        try:
            _wait_until_up(base, server)
            started = time.monotonic()
            run = subprocess.run(
                [args.schemathesis, "run", str(OPENAPI), "--url", base, "--checks", "not_a_server_error",
                 "--max-examples", str(args.max_examples), "--seed", str(args.seed), "--workers", "1",
                 "--request-timeout", "30", "--continue-on-failure", "--suppress-health-check", "all",
                 "--header", f"Authorization: Bearer {METRICS_TOKEN}"],  # /metrics answers; admin stays 401
                capture_output=True, text=True, check=False)
            elapsed = time.monotonic() - started
        finally:
            server.terminate()
            server.wait(timeout=60)
        output = run.stdout + run.stderr
        print(output[-6000:])
        served = log.read_text(errors="replace")
    generated = sum(int(n) for n in re.findall(r"(\d+) generated", output))
    tracebacks = served.count("Traceback")
    print(f"fuzz: {generated} generated calls in {elapsed:.0f} s, schemathesis exit {run.returncode}, "
          f"{tracebacks} tracebacks in the server log")
    return 0 if run.returncode == 0 and tracebacks == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
