"""Batch screening throughput: patients per second per core, against plain NDJSON parsing of the same cohort.

Usage: python bench/bench_batch.py [--patients 1000] [--seed 1] [--cohort DIR] [--workers N] [--hook HOOK]

Prints, for one generated cohort (or --cohort):
  baseline   index + orjson parse of every patient's lines (what any reader must do)
  fixed      what one run costs before its first patient (loading the rule set and the model, in CPU-s),
             measured as a run over an empty export after a first one has done the imports
  screen     `cds screen` core in one process: patients per CPU-second (= per core) and per wall-second,
             as a whole run and at steady state (the whole run's CPU minus the fixed cost)
  parallel   the same with --workers processes (default: all CPUs): patients per second in total and per core
  stages     where one patient's time goes (FHIR R4B parsing, snapshot, scores, rules, cards), median
             CPU ms of the evaluating thread (time.thread_time), so other load on the machine does not count
and the ratio of screen to baseline. CPU time (time.process_time) is used for the per-core figure
because these machines are shared and noisy; wall-clock figures are printed next to it.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cds.quality.batch import BatchOptions, EvaluatorSpec, as_of, build_evaluator, choose_moment, run_batch, service_for_hook
from cds.quality.cohort import generate_cohort
from cds.quality.export import BulkExport
from cds.quality.sources import default_rules_dir

KEY = b"benchmark key, thirty-two bytes!"


def _baseline(cohort: Path) -> tuple[float, float, int]:
    cpu, wall = time.process_time(), time.perf_counter()
    export = BulkExport(cohort)
    n = sum(1 for _pid, _resources in export.patients())
    return time.process_time() - cpu, time.perf_counter() - wall, n


def _screen(cohort: Path, hook: str, workers: int) -> tuple[float, float, int]:
    options = BatchOptions(hook=hook, at=None, evaluators=(EvaluatorSpec(default_rules_dir()),), pseudonym_key=KEY)
    cpu, wall = time.process_time(), time.perf_counter()
    summary = run_batch(cohort, options, io.BytesIO(), workers=workers, progress=False)
    return time.process_time() - cpu, time.perf_counter() - wall, summary.evaluated


def _stages(cohort: Path, hook: str, sample: int) -> dict[str, float]:
    from cds.cards import render_cards
    from cds.evaluation import EvaluationCall
    from cds.fhir.resources import ResourceSet, clear_parse_cache

    evaluator = build_evaluator(EvaluatorSpec(default_rules_dir()), KEY)
    ruleset = evaluator.rules.current()
    service = service_for_hook(hook)
    times: dict[str, list[float]] = {"parse (R4B)": [], "snapshot+scores": [], "rules": [], "cards": []}
    clear_parse_cache()
    for i, (pid, resources) in enumerate(BulkExport(cohort).patients()):
        if i >= sample:
            break
        encounter, now = choose_moment(resources, hook, None)
        if now is None:
            continue
        t0 = time.thread_time()
        rs = ResourceSet.from_json(as_of(resources, now), cache=False)  # as the batch runner does
        t1 = time.thread_time()
        call = EvaluationCall(service, hook, pid, encounter, None, now, rs)
        snapshot = evaluator.snapshot(call, ruleset)
        t2 = time.thread_time()
        findings = ruleset.evaluate(hook, snapshot)
        t3 = time.thread_time()
        render_cards(findings, ruleset, snapshot, language="nb")
        t4 = time.thread_time()
        for name, value in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            value_ms = value * 1000
            times[name].append(value_ms)
    return {name: statistics.median(v) for name, v in times.items() if v}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cohort", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--hook", default="encounter-discharge")
    parser.add_argument("--stage-sample", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cohort = args.cohort
        if cohort is None:
            cohort = Path(tmp) / "cohort"
            t = time.perf_counter()
            generate_cohort(args.patients, args.seed, cohort)
            print(f"generated {args.patients} patients in {time.perf_counter() - t:.1f} s")
        b_cpu, b_wall, n = _baseline(cohort)
        print(f"baseline  plain NDJSON index+parse: {n / b_cpu:10.0f} patients/CPU-s   ({n / b_wall:.0f}/s wall)")
        empty = Path(tmp) / "empty"
        empty.mkdir()
        (empty / "Patient.ndjson").write_bytes(b"")
        _screen(empty, args.hook, 1)  # the imports, once per process
        f_cpu, _f_wall, _ = _screen(empty, args.hook, 1)
        print(f"fixed     loading rules and model:  {f_cpu:10.2f} CPU-s per run")
        s_cpu, s_wall, evaluated = _screen(cohort, args.hook, 1)
        steady = n / max(s_cpu - f_cpu, 1e-9)
        print(f"screen    1 process:                {n / s_cpu:10.1f} patients/CPU-s = per core   ({n / s_wall:.1f}/s wall)")
        print(f"          steady state:             {steady:10.1f} patients/CPU-s = per core (run minus fixed cost)")
        if args.workers > 1:
            _p_cpu, p_wall, _ = _screen(cohort, args.hook, args.workers)
            print(
                f"parallel  {args.workers} processes:              {n / p_wall:10.1f} patients/s wall in total, "
                f"{n / p_wall / args.workers:.1f}/s per core (wall, incl. worker start-up)"
            )
        stages = _stages(cohort, args.hook, args.stage_sample)
        total = sum(stages.values())
        print("stages    median CPU ms per patient: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()) + f" (sum {total:.2f})")
        print(f"ratio     steady screen / baseline (per CPU-s): {steady / (n / b_cpu):.4f}; evaluated {evaluated} of {n}")
        parse = stages.get("parse (R4B)")
        if parse:
            print(f"ceiling   R4B validation alone ({parse:.2f} ms per patient) allows at most "
                  f"{1000 / parse:.0f} patients/s per core")
        print("target    >= 1000 patients/s per core (design/architecture.md)")


if __name__ == "__main__":
    sys.exit(main())
