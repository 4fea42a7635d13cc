"""Two versions of the service over HTTP give the same answers: status, headers, body, audit rows.

Starts ``cds serve`` once from each source tree (loopback, free ports, a
temporary data directory each, development mode) and sends both the same
requests: every example request in ``fhir_examples/requests`` to every service
of its hook (plain, ``application/fhir+json`` with ``Accept-Language: en``, and
with an ``Origin``), and a set of refusals and other routes (unknown service,
wrong content type, malformed JSON, oversized body, trailing slash, wrong
method, CORS preflight, feedback, discovery, health, admin). Responses are
compared byte for byte after replacing UUIDs (card and suggestion ids are
random per call) and the port in ``Location``; ``date`` is left out. After
both servers stop, their audit tables are compared the same way (ids of rows
and timings aside).

    python bench/compare_http.py --old /path/to/old/src --new src
    python bench/compare_http.py --old ... --new ... --cors    # with CORS on (an allowed origin)

Exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = ROOT / "fhir_examples" / "requests"
ORIGIN = "https://ehr.example"
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_BODY = 400_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(src: str, data_dir: str, cors: bool, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=src, CDS_DATA_DIR=data_dir, CDS_MAX_BODY_BYTES=str(MAX_BODY),
               CDS_PSEUDONYM_KEY="compare-pseudonym-key-0123456789abcdef")
    if cors:
        env["CDS_CORS_ORIGINS"] = json.dumps([ORIGIN])
    process = subprocess.Popen([sys.executable, "-c", "from cds.cli import main; main()", "serve", "--port", str(port)],
                               env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/health")[0] == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server from {src} did not start; see {log}")


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def normalised(answer: tuple[int, list[tuple[str, str]], bytes]) -> tuple[int, list[tuple[str, str]], bytes]:
    status, headers, body = answer
    kept = sorted((name.lower(), re.sub(r"127\.0\.0\.1:\d+", "HOST", value)) for name, value in headers
                  if name.lower() != "date")
    return status, kept, UUID.sub(b"<uuid>", body)


def cases(services_by_hook: dict[str, list[str]]) -> list[tuple[str, str, bytes | None, dict[str, str]]]:
    json_type = {"Content-Type": "application/json"}
    out: list[tuple[str, str, bytes | None, dict[str, str]]] = []
    for file in sorted(glob.glob(str(REQUESTS / "*.json"))):
        body = Path(file).read_bytes()
        for service in services_by_hook.get(json.loads(body)["hook"], []):
            path = f"/cds-services/{service}"
            out.append(("POST", path, body, json_type))
            out.append(("POST", path, body, {"Content-Type": "application/fhir+json; charset=utf-8",
                                             "Accept-Language": "en"}))
            out.append(("POST", path, body, {**json_type, "Origin": ORIGIN}))
    small = (REQUESTS / "b-arne-berg.encounter-start.json").read_bytes()
    service = next(iter(services_by_hook.values()))[0]
    path = f"/cds-services/{service}"
    out += [
        ("POST", "/cds-services/no-such-service", small, json_type),
        ("POST", path, small, {"Content-Type": "text/plain"}),
        ("POST", path, small, {}),
        ("POST", path, b"{not json", json_type),
        ("POST", path, b"[]", json_type),
        ("POST", path, b'{"hook": "patient-view"}', json_type),
        ("POST", path, b"x" * (MAX_BODY + 1), json_type),
        ("POST", path + "/", small, json_type),
        ("POST", path + "?a=1", small, json_type),
        ("POST", "/cds-services/%64ischarge-pathway", small, json_type),
        ("GET", path, None, {}),
        ("PUT", path, small, json_type),
        ("OPTIONS", path, None, {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}),
        ("POST", path + "/feedback", b'{"feedback": []}', json_type),
        ("POST", path + "/feedback", b'{"x": 1}', json_type),
        ("GET", "/cds-services", None, {}),
        ("GET", "/health", None, {}),
        ("GET", "/no-such-path", None, {}),
        ("POST", "/admin/rules/reload", None, {}),
    ]
    return out


def audit_rows(data_dir: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    [database] = [f for f in os.listdir(data_dir) if f.endswith((".sqlite3", ".sqlite", ".db"))]
    with sqlite3.connect(os.path.join(data_dir, database)) as conn:
        calls = conn.execute("select service_id, hook, hook_instance, patient_pseudonym, ruleset_digest, outcome,"
                             " http_status, site from calls order by id").fetchall()
        cards = conn.execute("select rule_id, rule_version, indicator, topic, suggestion_ids from cards"
                             " order by id").fetchall()
    text_uuid = re.compile(UUID.pattern.decode())
    return calls, [tuple(text_uuid.sub("<uuid>", v) if isinstance(v, str) else v for v in row) for row in cards]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="source tree of the old version (the directory holding cds/)")
    parser.add_argument("--new", required=True, help="source tree of the new version")
    parser.add_argument("--cors", action="store_true", help="run both with CORS on for an example origin")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="compare-http-"))
    servers = {}
    dirs = {}
    try:
        for name in ("old", "new"):
            dirs[name] = str(workdir / name)
            servers[name] = start(getattr(args, name), dirs[name], args.cors, workdir / f"{name}.log")
        discovery = json.loads(request(servers["old"][1], "GET", "/cds-services")[2])
        by_hook: dict[str, list[str]] = {}
        for service in discovery["services"]:
            by_hook.setdefault(service["hook"], []).append(service["id"])
        differ = 0
        all_cases = cases(by_hook)
        for method, path, body, headers in all_cases:
            old = normalised(request(servers["old"][1], method, path, body, headers))
            new = normalised(request(servers["new"][1], method, path, body, headers))
            if old != new:
                differ += 1
                print(f"DIFF {method} {path} {headers}\n  old {old[0]} {old[1]} {old[2][:300]!r}\n"
                      f"  new {new[0]} {new[1]} {new[2][:300]!r}")
        print(f"{len(all_cases)} requests: {len(all_cases) - differ} identical, {differ} different")
    finally:
        for process, _ in servers.values():
            os.killpg(process.pid, signal.SIGINT)
        for process, _ in servers.values():
            process.wait(60)
    old_rows, new_rows = audit_rows(dirs["old"]), audit_rows(dirs["new"])
    shutil.rmtree(workdir, ignore_errors=True)
    same_audit = old_rows == new_rows
    print(f"audit: {len(old_rows[0])}/{len(new_rows[0])} calls, {len(old_rows[1])}/{len(new_rows[1])} cards,",
          "identical" if same_audit else "DIFFERENT")
    return 0 if differ == 0 and same_audit else 1


if __name__ == "__main__":
    raise SystemExit(main())
