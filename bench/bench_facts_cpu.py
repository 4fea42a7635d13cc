"""CPU time of the snapshot and scores stages of a warm discharge call, old code against new.

Builds the snapshot and the scores of a CDS Hooks request as the service does
(prefetch resolved, a fresh `ResourceSet` per call from the warm parse cache,
a new `now` every call: one second later each time) and prints the median
thread CPU time per stage over many calls, after ``gc.freeze()``. CPU time,
not wall-clock, so figures from a shared, loaded machine can be compared; run
it with the old code's ``PYTHONPATH`` and the new one's in the same period:

    PYTHONPATH=/old/src python bench/bench_facts_cpu.py
    PYTHONPATH=src      python bench/bench_facts_cpu.py [--calls 1000] [--request FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path

from cds.facts import build_snapshot
from cds.fhir.prefetch import resolve_prefetch
from cds.fhir.resources import ResourceSet
from cds.hooks.services import SERVICES
from cds.scores import score_all
from cds.service.calls import validate_request
from cds.terminology import Terminology

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REQUEST = ROOT / "fhir_examples" / "requests" / "a-ingrid-haugen.encounter-discharge.json"
NOW = datetime.fromisoformat("2026-11-20T11:00:00+01:00")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--request", type=Path, default=DEFAULT_REQUEST)
    args = parser.parse_args()
    body = json.loads(args.request.read_bytes())
    service = next(s for s in SERVICES if s.hook == body["hook"])
    request = validate_request(service, body)
    resolved = asyncio.run(resolve_prefetch(service.prefetch, request.context, request.prefetch, None))
    terminology = Terminology.load(ROOT / "rules" / "valuesets")
    clock = iter(NOW + timedelta(seconds=n) for n in range(10**9))

    def call() -> tuple[float, float]:
        resources = ResourceSet.from_json(resolved.resources)
        resources.searched.update(resolved.searched)
        start = time.thread_time()
        snapshot = build_snapshot(
            resources,
            patient_id=request.context["patientId"],
            encounter_id=request.context.get("encounterId"),
            now=next(clock),
            terminology=terminology,
            patient_key="bench",
            searched=frozenset(resolved.searched),
        )
        built = time.thread_time()
        score_all(snapshot)
        return built - start, time.thread_time() - built

    for _ in range(50):
        call()
    gc.collect()
    gc.freeze()
    times = [call() for _ in range(args.calls)]
    snapshot_ms = statistics.median(t[0] for t in times) * 1000
    scores_ms = statistics.median(t[1] for t in times) * 1000
    print(f"{args.request.name}: median thread CPU per warm call over {args.calls} calls")
    print(f"  snapshot (build_snapshot) {snapshot_ms:7.3f} ms")
    print(f"  scores (score_all)        {scores_ms:7.3f} ms")


if __name__ == "__main__":
    main()
