"""A worker under patient churn: full garbage-collection pauses, call latency and memory until the caches are full.

A hospital's CDS service mostly sees charts it has not parsed yet, mixed with
charts opened again (the same stay at patient-view, then discharge). This
runs the service's in-process call path (as ``bench/bench_hook.py`` does:
`cds.hooks.wire.decode_hook_request`, then `cds.service.calls.process_call`)
on a stream of calls built from every request under ``fhir_examples/requests/``:

* a **new patient** is a persona request whose ids are rewritten (every
  ``"<persona letter>-...`` id, reference and full URL gets a per-patient
  number, and so does each identifier value), so each of its resources is new
  content for the parse cache, exactly as a chart of another patient would be;
* a **repeat** (``--repeat``, default 0.5 of the calls) sends one of the last
  ``--recent`` patients again, in either of its persona's requests (same
  resources, possibly another hook).

The worker is set up as the service sets itself up: evaluator loaded, a few
calls to warm up, then `cds.service.gcfreeze.GcFreezer` with the default
settings (``CDS_GC__...`` variables apply), or, for code from before it or with
``--no-freezer``, ``gc.collect(); gc.freeze()`` once as the service did then.
Until the parse cache reaches its bound and for ``--steady`` calls after that,
it records every generation-2 collection (``gc.callbacks``: wall and thread
CPU time of each pause; wall time suffers from a loaded machine, CPU time much
less), per-call wall time, the CPU time of the steady-state calls and the
process's RSS. At the end it counts the GC-tracked objects the memos alone
and the parse cache hold (by clearing them), then unfreezes and collects once:
the objects found then are garbage the frozen generation had kept. Prints one
line per ``--window`` calls and a steady-state summary; ``--json FILE`` writes
the figures for comparing two versions of the code (run each with its own
``PYTHONPATH`` in the same period: wall-clock figures follow the machine's
load, so compare CPU times).

    python bench/bench_churn.py [--steady 3000] [--repeat 0.5] [--seed 1] [--count-objects] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import re
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from cds.evaluation import Evaluator
from cds.fhir import resources as fhir_resources
from cds.hooks.services import SERVICES
from cds.hooks.wire import decode_hook_request
from cds.service.calls import process_call

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = ROOT / "fhir_examples" / "requests"
NOW = datetime.fromisoformat("2026-11-20T11:00:00+01:00")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Personas:
    """The persona requests, and new patients made from them."""

    def __init__(self) -> None:
        self.requests: dict[str, list[bytes]] = {}
        for path in sorted(REQUESTS.glob("*.json")):
            self.requests.setdefault(path.name.split("-", 1)[0], []).append(path.read_bytes())

    def patient(self, letter: str, number: int) -> list[bytes]:
        """Every request of persona ``letter`` for its ``number``-th distinct patient (0: the persona itself)."""
        if number == 0:
            return self.requests[letter]
        ids = re.compile(rb'(?<=["/])' + letter.encode() + rb"-")
        new_id = letter.encode() + b"%d-" % number
        identifier = re.compile(rb'("value": ")(\d{6,})(")')
        out = []
        for body in self.requests[letter]:
            body = ids.sub(new_id, body)
            body = identifier.sub(lambda m: m[1] + str(int(m[2]) + number).encode() + m[3], body)
            out.append(body)
        return out


class GcPauses:
    """Generation-2 collections seen through ``gc.callbacks``: wall and thread CPU ms of each."""

    def __init__(self, count_objects: bool = False) -> None:
        self.count_objects = count_objects
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.collected = 0
        self.sizes: list[int] = []
        self._start: tuple[float, float] | None = None

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            if self.count_objects:
                self.sizes.append(sum(len(gc.get_objects(g)) for g in range(3)))
            self._start = (time.perf_counter(), time.thread_time())
        elif self._start is not None:
            self.wall.append((time.perf_counter() - self._start[0]) * 1000)
            self.cpu.append((time.thread_time() - self._start[1]) * 1000)
            self.collected += info["collected"]
            self._start = None


def held_objects() -> int:
    return gc.get_freeze_count() + len(gc.get_objects())


def items_memos() -> list[Any]:
    """The facts and scores memos that hold parsed models (`cds.facts.memo.ItemsMemo` at module level)."""
    from cds.facts import context
    from cds.facts.memo import ItemsMemo
    from cds.scores import comorbidity, labs

    return [value for module in (context, comorbidity, labs) for value in vars(module).values()
            if isinstance(value, ItemsMemo)]


def cache_state() -> dict[str, int]:
    cache = fhir_resources._RESOURCE_CACHE
    return {"parse_cache_entries": len(cache), "parse_cache_bytes": cache.size_bytes}


def caches_full() -> bool:
    cache = fhir_resources._RESOURCE_CACHE
    return len(cache) >= 0.97 * cache.max_entries or cache.size_bytes >= 0.97 * cache.max_bytes


async def run(args: argparse.Namespace) -> dict[str, Any]:
    evaluator = Evaluator.from_paths(
        rules_dir=ROOT / "rules", model_dir=ROOT / "models" / "readmission", pseudonym_key=b"bench-key-0123456789abcdef"
    )
    services = {s.hook: s for s in SERVICES}
    personas = Personas()
    letters = sorted(personas.requests)
    rng = random.Random(args.seed)

    async def call(body: bytes) -> int:
        payload = decode_hook_request(body)
        service = services[payload["hook"]]
        result = await process_call(service, payload, evaluator=evaluator, sources=lambda _r: None, now=NOW)
        return len(result.response["cards"])

    # Same cards for a rewritten patient as for its persona (the rewrite keeps the charts' meaning).
    for letter in letters:
        for original, rewritten in zip(personas.patient(letter, 0), personas.patient(letter, 999_999), strict=True):
            assert await call(original) == await call(rewritten), letter
    for _ in range(3):
        for letter in letters:
            for body in personas.patient(letter, 0):
                await call(body)
    freezer = None
    if args.freezer:
        try:
            from cds.service.gcfreeze import GcFreezer
            from cds.service.settings import Settings
        except ImportError:  # code from before the freezer
            pass
        else:
            freezer = GcFreezer.from_settings(Settings().gc)
    if freezer is not None:
        freezer.start()
    else:  # as the service starts without it: long-lived startup objects out of the collector's generations
        gc.collect()
        gc.freeze()

    pauses = GcPauses(args.count_objects)
    gc.callbacks.append(pauses)
    recent: list[tuple[str, int]] = []
    latencies: list[float] = []
    windows: list[dict[str, Any]] = []
    new_patients = 0
    full_at: int | None = None
    rss_start = rss_mib()
    window_start = (0, 0)
    print(f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}; freezer: {'on' if freezer else 'off'}")
    print(
        f"{'calls':>6}{'new pts':>8}{'cache':>8}{'MiB json':>9}{'RSS MiB':>9}{'gen2':>6}"
        f"{'gen2 max':>10}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
    )
    i = 0
    while full_at is None or i < full_at + args.steady:
        if recent and rng.random() < args.repeat:
            letter, number = rng.choice(recent)
        else:
            new_patients += 1
            letter, number = rng.choice(letters), new_patients
            recent.append((letter, number))
            if len(recent) > args.recent:
                recent.pop(0)
        body = rng.choice(personas.patient(letter, number))
        start = time.perf_counter()
        await call(body)
        latencies.append((time.perf_counter() - start) * 1000)
        i += 1
        if full_at is None and caches_full():
            full_at = i
            steady_cpu = time.process_time()
        if i % args.window == 0:
            window = latencies[window_start[0] :]
            gen2 = pauses.wall[window_start[1] :]
            row = {
                "calls": i,
                "new_patients": new_patients,
                **cache_state(),
                "rss_mib": rss_mib(),
                "gen2": len(gen2),
                "gen2_max_ms": max(gen2, default=0.0),
                "p50_ms": percentile(window, 0.5),
                "p99_ms": percentile(window, 0.99),
                "max_ms": max(window),
            }
            windows.append(row)
            print(
                f"{i:>6}{new_patients:>8}{row['parse_cache_entries']:>8}{row['parse_cache_bytes'] / 2**20:>9.1f}"
                f"{row['rss_mib']:>9.0f}{len(gen2):>6}{row['gen2_max_ms']:>10.1f}{row['p50_ms']:>8.1f}"
                f"{row['p99_ms']:>8.1f}{row['max_ms']:>8.1f}"
            )
            window_start = (len(latencies), len(pauses.wall))
    gc.callbacks.remove(pauses)

    assert full_at is not None
    steady_cpu = (time.process_time() - steady_cpu) * 1000 / (i - full_at)
    steady = latencies[full_at:]
    steady_pauses = pauses.wall  # every full collection of the run (startup ones happen before the callback)
    summary = {
        "calls": i,
        "caches_full_at_call": full_at,
        "new_patients": new_patients,
        "gen2_collections": len(pauses.wall),
        "gen2_per_1000_calls": 1000 * len(pauses.wall) / i,
        "gen2_max_ms": max(steady_pauses, default=0.0),
        "gen2_p99_ms": percentile(steady_pauses, 0.99),
        "gen2_median_ms": statistics.median(steady_pauses) if steady_pauses else 0.0,
        "gen2_cpu_max_ms": max(pauses.cpu, default=0.0),
        "gen2_cpu_p99_ms": percentile(pauses.cpu, 0.99),
        "gen2_cpu_median_ms": percentile(pauses.cpu, 0.5),
        "gen2_total_ms": sum(pauses.wall),
        "gen2_collected_objects": pauses.collected,
        "steady_p50_ms": percentile(steady, 0.5),
        "steady_p99_ms": percentile(steady, 0.99),
        "steady_max_ms": max(steady),
        "steady_cpu_per_call_ms": steady_cpu,
        "rss_start_mib": rss_start,
        "rss_end_mib": rss_mib(),
        "rss_max_mib": max(w["rss_mib"] for w in windows),
        "freeze_count_end": gc.get_freeze_count(),
        "freezes": getattr(freezer, "freezes", 0),
    }
    if pauses.sizes:
        print(f"objects scanned per full collection: max {max(pauses.sizes)}, median {statistics.median(pauses.sizes)}")
        worst = sorted(zip(pauses.cpu, pauses.sizes, strict=True))[-5:]
        print("the 5 longest (CPU ms, objects):", [(round(c, 1), n) for c, n in worst])
    # What the caches hold, in GC-tracked objects (frozen or not): the memos' own share first (what
    # they keep beyond the parse cache), then the parse cache's.
    held = held_objects()
    for memo in items_memos():
        memo.clear()
    summary["objects_held_by_memos_alone"] = held - (held := held_objects())
    fhir_resources.clear_parse_cache()
    summary["objects_held_by_parse_cache"] = held - held_objects()
    # Garbage the frozen generation kept (reference cycles that died after they were frozen).
    if freezer is not None:
        freezer.stop()
    gc.unfreeze()
    summary["cycles_found_after_unfreeze"] = gc.collect()
    print("\nsummary (steady state: the calls after the parse cache reached its bound):")
    for key, value in summary.items():
        print(f"  {key:<32}{value:>12.1f}" if isinstance(value, float) else f"  {key:<32}{value:>12}")
    return {"summary": summary, "windows": windows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steady", type=int, default=3000, help="calls after the caches are full (default 3000)")
    parser.add_argument("--repeat", type=float, default=0.5, help="share of calls for a recent patient (default 0.5)")
    parser.add_argument("--recent", type=int, default=200, help="patients a repeat is drawn from (default 200)")
    parser.add_argument("--window", type=int, default=500, help="calls per printed line (default 500)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-freezer", dest="freezer", action="store_false", help="without cds.service.gcfreeze.GcFreezer")
    parser.add_argument("--count-objects", action="store_true",
                        help="count the objects each full collection scans (slow: lists them before each)")
    parser.add_argument("--json", type=Path, help="write the summary and per-window figures here")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
