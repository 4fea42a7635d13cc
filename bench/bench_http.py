"""HTTP benchmark: the discharge hook over loopback with 2 uvicorn workers.

Starts ``cds serve --workers 2`` on 127.0.0.1 (a free port, a temporary data
directory, development mode), then drives it with a bounded load from an
asynchronous httpx client:

* **baseline**: ``GET /health`` on the same server, same concurrency (the cost
  of HTTP + uvicorn + FastAPI with no work), measured in the same run;
* **discharge**: ``POST /cds-services/discharge-pathway`` with a realistic
  persona request (Ingrid Haugen, 84, ~200 prefetched resources).

It prints requests/s, p50/p99 latency, the error count, the ratio to the
baseline, and the resident memory (RSS) of the workers after warm-up and at the
end. Targets (docs/architecture.md): >= 300 requests/s, p99 <= 50 ms, zero
errors, RSS growth < 10 % over 100,000 calls.

    python bench/bench_http.py                       # 100,000 calls (several minutes)
    python bench/bench_http.py --calls 5000          # a quick look
    python bench/bench_http.py --max-seconds 120     # stop earlier if the time runs out

Loopback only; nothing leaves the machine. RSS is read from /proc (Linux).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
REQUEST = ROOT / "fhir_examples" / "requests" / "a-ingrid-haugen.encounter-discharge.json"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def workers_rss(server: subprocess.Popen[bytes]) -> int:
    """Summed RSS (KiB) of the server's worker processes (and the supervisor's own)."""
    pids = children(server.pid)
    return sum(rss_kib(p) for p in pids) or rss_kib(server.pid)


def start_server(port: int, workers: int, data_dir: str, log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update({"CDS_DATA_DIR": data_dir, "CDS_PSEUDONYM_KEY": "bench-pseudonym-key-0123456789abcdef"})
    env.pop("CDS_CONFIG_FILE", None)
    command = [sys.executable, "-c", "from cds.cli import main; main()", "serve", "--host", HOST,
               "--port", str(port), "--workers", str(workers)]
    with log_path.open("wb") as log:  # a file, not a pipe: an unread pipe would block the server
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)


def wait_ready(base: str, server: subprocess.Popen[bytes], log_path: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                # every worker must have loaded; a few discovery calls spread over them
                for _ in range(8):
                    httpx.get(f"{base}/cds-services", timeout=30.0)
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("server did not become ready")


async def drive(base: str, method: str, path: str, body: bytes | None, calls: int, concurrency: int,
                max_seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.monotonic() + max_seconds
    headers = {"Content-Type": "application/json"} if body is not None else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            nonlocal issued, errors
            while issued < calls and time.monotonic() < deadline:
                issued += 1
                started = time.perf_counter()
                try:
                    response = await client.request(method, path, content=body, headers=headers)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += 0 if ok else 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    n = len(latencies)
    return {
        "calls": n,
        "seconds": elapsed,
        "rps": n / elapsed if elapsed else 0.0,
        "p50_ms": statistics.median(latencies) * 1000 if n else 0.0,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else 0.0,
        "errors": errors,
    }


def show(name: str, r: dict[str, float]) -> None:
    print(f"{name:<10} {int(r['calls']):>8} calls  {r['rps']:8.1f} req/s  p50 {r['p50_ms']:6.2f} ms  "
          f"p99 {r['p99_ms']:6.2f} ms  errors {int(r['errors'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100_000, help="discharge calls (default 100000)")
    parser.add_argument("--baseline-calls", type=int, default=5000, help="GET /health calls (default 5000)")
    parser.add_argument("--warmup", type=int, default=500, help="discharge calls before measuring (default 500)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="time bound per phase (default 1800)")
    parser.add_argument("--request", type=Path, default=REQUEST, help="CDS Hooks request to send")
    args = parser.parse_args()

    body = json.dumps(json.loads(args.request.read_text(encoding="utf-8"))).encode()
    port = free_port()
    base = f"http://{HOST}:{port}"
    with tempfile.TemporaryDirectory(prefix="cds-bench-") as data_dir:
        log_path = Path(data_dir) / "server.log"
        server = start_server(port, args.workers, data_dir, log_path)
        try:
            wait_ready(base, server, log_path)
            print(f"server: {base}, {args.workers} workers, request {args.request.name} ({len(body)} bytes)")
            warm = asyncio.run(drive(base, "POST", "/cds-services/discharge-pathway", body, args.warmup,
                                     args.concurrency, args.max_seconds))
            if warm["errors"]:
                print(f"warm-up had {int(warm['errors'])} errors; is the request valid for the current engine?")
            rss_start = workers_rss(server)
            baseline = asyncio.run(drive(base, "GET", "/health", None, args.baseline_calls, args.concurrency,
                                         args.max_seconds))
            run = asyncio.run(drive(base, "POST", "/cds-services/discharge-pathway", body, args.calls,
                                    args.concurrency, args.max_seconds))
            rss_end = workers_rss(server)
            log_lines = log_path.read_text(errors="replace").splitlines()
            problems = [i for i, line in enumerate(log_lines)
                        if line.startswith(("ERROR", "WARNING", "Traceback")) and "development mode" not in line]
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()

    if problems:
        first = problems[0]
        print(f"server log: {len(problems)} warnings/errors; the first:")
        print("\n".join("    " + line[:200] for line in log_lines[first:first + 25]))
    show("baseline", baseline)
    show("discharge", run)
    ratio = run["rps"] / baseline["rps"] if baseline["rps"] else 0.0
    growth = (rss_end - rss_start) / rss_start * 100 if rss_start else 0.0
    p99_ratio = run["p99_ms"] / max(baseline["p99_ms"], 1e-9)
    print(f"ratio      discharge/baseline throughput {ratio:.2f}, p99 {p99_ratio:.1f}x")
    print(f"memory     workers RSS {rss_start / 1024:.1f} MiB after warm-up -> {rss_end / 1024:.1f} MiB after "
          f"{int(run['calls'])} calls ({growth:+.1f} %)")
    checks = {
        ">= 300 req/s": run["rps"] >= 300,
        "p99 <= 50 ms": run["p99_ms"] <= 50,
        "zero errors": run["errors"] == 0,
        "RSS growth < 10 %": growth < 10,
    }
    print("targets    " + ", ".join(f"{name}: {'ok' if ok else 'MISSED'}" for name, ok in checks.items()))
    if run["calls"] < 100_000:
        print(f"note       RSS growth measured over {int(run['calls'])} calls; the target is stated for 100,000")
    return 0


if __name__ == "__main__":
    sys.exit(main())
