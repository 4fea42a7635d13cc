"""Benchmark: parsing a realistic persona (~200 resources) with fhir.resources.R4B and building its snapshot.

Prints medians and p99 for: plain json.loads of the bundle (the baseline), cold
R4B parsing (cache cleared every round), warm parsing (resources seen before:
the content-keyed caches) of the same dicts and of fresh dicts with the same
content (what a service call sees: its request was just parsed), parsing the
bundle with one resource changed (the Bundle cache misses, one resource is
validated), build_snapshot on the parsed set (at one clock, and at a clock a
few seconds later every round, as calls do), and score_all on a fresh snapshot;
each with its ratio to the baseline measured in the same run.

build_snapshot keeps what it derives from the same parsed models across calls
(see docs/fhir-conventions.md, "Parsing and performance"); the "clock moving"
line shows that nothing of it depends on a fixed `now`.

    python bench/bench_facts.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from cds.facts import build_snapshot
from cds.scores import score_all
from cds.fhir.resources import ENGINE_RESOURCE_TYPES, ResourceSet, clear_parse_cache
from cds.terminology import Terminology

REPO = Path(__file__).resolve().parents[1]


def measure(fn: Callable[[], object], rounds: int, before: Callable[[], None] | None = None) -> list[float]:
    times = []
    for _ in range(rounds):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(name: str, times: list[float], baseline: float) -> str:
    times = sorted(times)
    median = statistics.median(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return f"{name:<34} median {median:8.3f} ms   p99 {p99:8.3f} ms   x{median / baseline:7.1f} json.loads"


def _with_one_change(bundle: dict, n: int) -> dict:
    """A copy of ``bundle`` whose first Observation carries a new note (a resource never seen before)."""
    changed = copy.deepcopy(bundle)
    for entry in changed["entry"]:
        if entry["resource"]["resourceType"] == "Observation":
            entry["resource"]["note"] = [{"text": f"bench {n}"}]
            break
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    index = {row["key"]: row for row in json.loads((REPO / "fhir_examples/personas.json").read_text())}
    row = index["a"]
    text = (REPO / "fhir_examples" / row["bundle"]).read_text(encoding="utf-8")
    bundle = json.loads(text)
    terminology = Terminology.load(REPO / "rules/valuesets")
    now = datetime.fromisoformat(row["now"])

    baseline_times = measure(lambda: json.loads(text), args.rounds)
    baseline = statistics.median(baseline_times)
    cold = measure(lambda: ResourceSet.from_bundle(bundle), max(20, args.rounds // 10), before=clear_parse_cache)
    ResourceSet.from_bundle(bundle)
    warm = measure(lambda: ResourceSet.from_bundle(bundle), args.rounds)
    fresh = iter([json.loads(text) for _ in range(args.rounds)])
    warm_fresh = measure(lambda: ResourceSet.from_bundle(next(fresh)), args.rounds)
    changed = iter([_with_one_change(bundle, n) for n in range(args.rounds)])
    one_changed = measure(lambda: ResourceSet.from_bundle(next(changed)), args.rounds)
    resources = ResourceSet.from_bundle(bundle)

    def build(at: datetime = now) -> object:
        return build_snapshot(
            resources,
            patient_id=row["patient_id"],
            encounter_id=row["encounter_id"],
            now=at,
            terminology=terminology,
            patient_key="bench",
            searched=ENGINE_RESOURCE_TYPES,
        )

    snapshot_times = measure(build, args.rounds)
    clocks = iter([now + timedelta(seconds=7 * n) for n in range(args.rounds)])
    moving_times = measure(lambda: build(next(clocks)), args.rounds)
    snapshots = iter([build() for _ in range(args.rounds)])
    score_times = measure(lambda: score_all(next(snapshots)), args.rounds)  # type: ignore[arg-type]
    both = measure(lambda: (ResourceSet.from_bundle(bundle), build()), args.rounds)

    print(f"persona {row['key']} ({row['name']}): {len(bundle['entry'])} resources, {len(text) / 1024:.0f} KiB JSON")
    print(summary("json.loads (baseline)", baseline_times, baseline))
    print(summary("R4B parse, cold (no cache)", cold, baseline))
    print(summary("R4B parse, warm (content cache)", warm, baseline))
    print(summary("R4B parse, warm, fresh dicts", warm_fresh, baseline))
    print(summary("R4B parse, one resource changed", one_changed, baseline))
    print(summary("build_snapshot", snapshot_times, baseline))
    print(summary("build_snapshot, clock moving", moving_times, baseline))
    print(summary("score_all (fresh snapshot)", score_times, baseline))
    print(summary("warm parse + build_snapshot", both, baseline))
    print(f"cold R4B validation per resource: {statistics.median(cold) / len(bundle['entry']) * 1000:.0f} us")


if __name__ == "__main__":
    main()
