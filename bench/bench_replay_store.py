"""Cost per call of the shared JWT replay record (`StoreReplayGuard`) against the per-host table.

Every authenticated call checks its ``jti`` once. This prints, for a new jti
(insert: every accepted call) and a replayed one (a refused replay), the median
wall time and process CPU time per check, in microseconds, over ``--rounds``
rounds of ``--checks`` checks: the store record on SQLite (a file in a
temporary directory), on PostgreSQL when ``--postgres URL`` is given (a fresh
schema, dropped afterwards), and the local `ReplayTable` for comparison.

    PYTHONPATH=src python bench/bench_replay_store.py [--postgres postgresql+psycopg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from cds.service.replay import ReplayTable, StoreReplayGuard
from cds.store import AuditStore
from cds.store.testing import postgres_schema_url, sqlite_file_url

ISS = "https://arena.sykehuset-innlandet.example"


def rounds(check: Callable[[str], bool], *, rounds: int, checks: int, replay: bool) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(rounds):
        jtis = [uuid.uuid4().hex for _ in range(checks)]
        if replay:
            for jti in jtis:
                check(jti)
        wall, cpu = time.perf_counter(), time.process_time()
        for jti in jtis:
            check(jti)
        walls.append((time.perf_counter() - wall) / checks * 1e6)
        cpus.append((time.process_time() - cpu) / checks * 1e6)
    return statistics.median(walls), statistics.median(cpus)


def report(name: str, seen: Callable[[str, str, float], bool], args: argparse.Namespace) -> None:
    expires = time.time() + 600
    for replay in (False, True):
        wall, cpu = rounds(lambda jti: seen(ISS, jti, expires), rounds=args.rounds, checks=args.checks, replay=replay)
        print(f"{name:28s} {'replayed' if replay else 'new':8s} jti: {wall:8.1f} us wall, {cpu:8.1f} us CPU per check")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--checks", type=int, default=500)
    parser.add_argument("--postgres", help="a PostgreSQL URL (a schema is created and dropped)")
    args = parser.parse_args()
    key = b"bench-key-for-the-replay-record"
    with tempfile.TemporaryDirectory() as tmp:
        table = ReplayTable(Path(tmp) / "jti-replay.bin", 100_000)
        report("local ReplayTable", table.seen, args)
        with AuditStore.open(sqlite_file_url(Path(tmp)), pseudonym_key=key) as store:
            report("store record, SQLite", StoreReplayGuard(store, table).seen, args)
        if args.postgres:
            with postgres_schema_url(args.postgres) as url, AuditStore.open(url, pseudonym_key=key) as store:
                report("store record, PostgreSQL", StoreReplayGuard(store, table).seen, args)


if __name__ == "__main__":
    main()
