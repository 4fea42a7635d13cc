"""In-process CDS Hooks evaluation: the discharge hook for a realistic persona.

Runs the service's own call path (the body decoded by
`cds.hooks.wire.decode_hook_request` as the service's route does, prefetch
values kept as bytes, then `cds.service.calls.process_call`: request
validation, prefetch resolution, FHIR parsing, facts, scores, model, rules,
cards, response JSON) without HTTP, on Ingrid Haugen's discharge request
(~200 prefetched resources), and prints the median and p99 per call. All
calls run in one long-lived event loop, as in the service (the evaluation's
worker thread is reused between calls, not started per call).

Two figures, because `cds.fhir.resources` keeps a content-keyed cache of parsed
resources and the readmission model a cache of scored feature rows: "cold"
clears both before every call (every resource parsed and validated again, every
row scored, the worst case), "warm" keeps them (a chart opened again).
The baseline is `json.loads` of the same request body, measured in the same
run, so the ratio survives a noisy machine.

Then a per-stage breakdown of one warm call (median per stage, same run):
request body skimming, request validation, prefetch checks, FHIR parsing (warm), snapshot, scores, model, rules,
cards, response JSON.

``--gc-freeze`` sets up the garbage collector after loading and warming up as
the service does (`cds.service.gcfreeze.GcFreezer`: the loaded engine frozen,
then the survivors of every full collection; code from before it: one
``gc.collect(); gc.freeze()``). Without it, full collections over the ~250k
long-lived objects of a loaded engine, and in cold mode over the models the
facts memos keep, dominate the p99.

Targets (docs/architecture.md): median <= 5 ms, p99 <= 25 ms.

    python bench/bench_hook.py [--calls 500] [--request FILE] [--gc-freeze]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from cds.cards import render_cards
from cds.evaluation import EvaluationCall, Evaluator
from cds.facts import build_snapshot
from cds.fhir.prefetch import resolve_prefetch
from cds.fhir.resources import ResourceSet, clear_parse_cache
from cds.hooks.services import SERVICES, ServiceDefinition
from cds.hooks.wire import decode_hook_request
from cds.scores import score_all
from cds.service.calls import process_call, validate_request

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REQUEST = ROOT / "fhir_examples" / "requests" / "a-ingrid-haugen.encounter-discharge.json"
NOW = datetime.fromisoformat("2026-11-20T11:00:00+01:00")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: Callable[[], Any], calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def timed_async(fn: Callable[[], Any], calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def stage_breakdown(
    service: ServiceDefinition, body: bytes, evaluator: Evaluator, calls: int
) -> dict[str, list[float]]:
    """Timings of each stage of one warm call, through the same public functions."""
    request = validate_request(service, decode_hook_request(body))
    ruleset = evaluator.rules.current()
    stages: dict[str, list[float]] = {}

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = fn()
        stages.setdefault(name, []).append((time.perf_counter() - start) * 1000)
        return result

    for _ in range(calls):
        stage("json.loads (baseline)", lambda: json.loads(body))
        payload = stage("request body (skimmed)", lambda: decode_hook_request(body))
        request = stage("request validation", lambda p=payload: validate_request(service, p))
        start = time.perf_counter()
        resolved = await resolve_prefetch(service.prefetch, request.context, request.prefetch, None)
        stages.setdefault("prefetch checks", []).append((time.perf_counter() - start) * 1000)
        resources = stage("FHIR parsing (warm)", lambda: ResourceSet.from_json(resolved.resources))
        resources.searched.update(resolved.searched)
        call = EvaluationCall(
            service_id=service.id,
            hook=request.hook,
            patient_id=request.context["patientId"],
            encounter_id=request.context.get("encounterId"),
            user_id=None,
            now=NOW,
            resources=resources,
        )
        snapshot = stage(
            "snapshot (facts)",
            lambda c=call: build_snapshot(
                c.resources,
                patient_id=c.patient_id,
                encounter_id=c.encounter_id,
                now=c.now,
                terminology=ruleset.terminology,
                patient_key="bench",
            ),
        )
        scores = stage("scores", lambda s=snapshot: score_all(s))
        model = evaluator.model
        risk = stage("model (cached rows)", lambda s=snapshot: model.try_predict(s) if model else None)
        if model is not None:
            model.clear_cache()
            stage("model (uncached)", lambda s=snapshot: model.try_predict(s))
        full = snapshot.model_copy(update={"scores": scores, "readmission_risk": risk})
        findings = stage("rules", lambda s=full: ruleset.evaluate(call.hook, s))
        cards = stage(
            "cards", lambda f=findings, s=full: render_cards(f, ruleset, s, language="nb", patient_id=call.patient_id)
        )
        stage("response JSON (bytes)", lambda c=cards: orjson.dumps({"cards": list(c)}))  # as the service answers
        stage("Evaluator.evaluate (all of the above)", lambda c=call: evaluator.evaluate(c))
    return stages


async def run(args: argparse.Namespace) -> None:
    body = args.request.read_bytes()
    hook = json.loads(body)["hook"]
    service = next(s for s in SERVICES if s.hook == hook)
    evaluator = Evaluator.from_paths(
        rules_dir=ROOT / "rules", model_dir=ROOT / "models" / "readmission", pseudonym_key=b"bench-key-0123456789abcdef"
    )

    async def call() -> dict[str, Any]:
        result = await process_call(service, decode_hook_request(body), evaluator=evaluator, sources=lambda _r: None, now=NOW)
        return result.response

    async def cold_call() -> None:
        clear_parse_cache()
        if evaluator.model is not None:
            evaluator.model.clear_cache()
        await call()

    cards = (await call())["cards"]
    resources = sum(
        len(v.get("entry", [])) if isinstance(v, dict) and v.get("resourceType") == "Bundle" else 1
        for v in json.loads(body)["prefetch"].values()
        if v
    )
    for _ in range(20):  # warm up imports, engine registration, caches
        await call()
    freezer = None
    if args.gc_freeze:
        try:
            from cds.service.gcfreeze import GcFreezer
        except ImportError:  # code from before the freezer
            gc.collect()
            gc.freeze()
        else:
            freezer = GcFreezer()
            freezer.start()

    baseline = timed(lambda: json.loads(body), args.calls)
    cold = await timed_async(cold_call, args.calls)
    warm = await timed_async(call, args.calls)

    base_median = statistics.median(baseline)
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"request: {args.request.name} ({resources} resources, {len(body) / 1024:.0f} KiB), {len(cards)} cards")
    setup = "GcFreezer" if freezer is not None else "gc.freeze() once" if args.gc_freeze else "none"
    print(f"load average {load}; garbage collector set up after warm-up: {setup}")
    print(f"{'measurement':<40}{'median ms':>10}{'p99 ms':>10}{'x baseline':>12}")
    for name, values in (
        ("baseline: json.loads(request)", baseline),
        ("hook call, caches cold", cold),
        ("hook call, caches warm", warm),
    ):
        median = statistics.median(values)
        print(f"{name:<40}{median:>10.3f}{percentile(values, 0.99):>10.3f}{median / base_median:>12.1f}")
    print("targets: median <= 5 ms, p99 <= 25 ms")
    if args.stages:
        print("\nper stage, one warm call (median ms, same run):")
        stages = await stage_breakdown(service, body, evaluator, max(50, args.calls // 5))
        for name, values in stages.items():
            median = statistics.median(values)
            print(f"  {name:<40}{median:>10.3f}{median / base_median:>12.1f}x")
    if freezer is not None:
        freezer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per measurement (default 500)")
    parser.add_argument("--request", type=Path, default=DEFAULT_REQUEST, help="CDS Hooks request JSON")
    parser.add_argument("--gc-freeze", action="store_true", help="set up the garbage collector as the service does, after warming up")
    parser.add_argument("--no-stages", dest="stages", action="store_false", help="skip the per-stage breakdown")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
