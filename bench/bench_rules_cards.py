"""CPU time of the rules, cards and evaluation glue of one warm discharge call, per stage.

Loads the bundled rules and model, parses a persona's request once (as a warm
service call finds it) and then times, in CPU time (``time.process_time``,
not disturbed by other processes on a shared machine) and as the best of
five batches:

* rules: `RuleSet.evaluate` on a new snapshot object each time (a
  ``model_copy`` of the scored snapshot, 0.01 ms, included), so the
  projection is computed as in a call, never answered from a previous one;
* cards: `render_cards` of those findings, in nb and in en, after the rules
  ran on the same snapshot (the order of a call);
* rules + cards on a new snapshot, and `Evaluator.evaluate` (the whole call
  without request decoding and FHIR parsing: facts, scores, model, rules,
  cards).

Run it with ``PYTHONPATH`` at two versions' ``src`` to compare them in the same
period; both must be run from the same checkout (same rules and model).

    python bench/bench_rules_cards.py [--calls 3000] [--request FILE]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from cds.cards import render_cards
from cds.evaluation import EvaluationCall, Evaluator
from cds.fhir.resources import ResourceSet

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REQUEST = ROOT / "fhir_examples" / "requests" / "a-ingrid-haugen.encounter-discharge.json"
NOW = datetime.fromisoformat("2026-11-20T11:00:00+01:00")


def cpu_ms(fn: Callable[[], Any], calls: int) -> float:
    """Best of five batches of CPU time per call, in ms."""
    batch = max(1, calls // 5)
    best = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(batch):
            fn()
        best.append((time.process_time() - start) / batch * 1000)
    return min(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--request", type=Path, default=DEFAULT_REQUEST)
    args = parser.parse_args()

    body = json.loads(args.request.read_text())
    evaluator = Evaluator.from_paths(
        rules_dir=ROOT / "rules", model_dir=ROOT / "models" / "readmission", pseudonym_key=b"bench-key-0123456789abcdef"
    )
    resources = [e["resource"] for v in body["prefetch"].values() if v for e in v.get("entry") or []]
    call = EvaluationCall(
        service_id="bench",
        hook=body["hook"],
        patient_id=body["context"]["patientId"],
        encounter_id=body["context"].get("encounterId"),
        user_id=None,
        now=NOW,
        resources=ResourceSet.from_json(resources),
    )
    ruleset = evaluator.rules.current()
    snapshot = evaluator.snapshot(call, ruleset)
    for _ in range(50):  # warm-up: card plans, caches
        evaluator.evaluate(call)
    gc.freeze()
    findings = ruleset.evaluate(call.hook, snapshot)

    def rules() -> None:
        ruleset.evaluate(call.hook, snapshot.model_copy())

    def rules_and_cards(language: str) -> Callable[[], None]:
        def run() -> None:
            fresh = snapshot.model_copy()
            render_cards(ruleset.evaluate(call.hook, fresh), ruleset, fresh, language=language, patient_id=call.patient_id)

        return run

    def cards(language: str) -> Callable[[], None]:
        return lambda: render_cards(findings, ruleset, snapshot, language=language, patient_id=call.patient_id)

    cards_nb = render_cards(findings, ruleset, snapshot, language="nb", patient_id=call.patient_id)
    print(f"request: {args.request.name}; {len(findings)} findings, {len(cards_nb)} cards; CPU ms per call, best of 5 batches")
    stages: list[tuple[str, Callable[[], Any]]] = [
        ("snapshot copy (included below)", lambda: snapshot.model_copy()),
        ("rules (new snapshot)", rules),
        ("cards nb", cards("nb")),
        ("cards en", cards("en")),
        ("rules + cards nb (new snapshot)", rules_and_cards("nb")),
        ("rules + cards en (new snapshot)", rules_and_cards("en")),
        ("Evaluator.evaluate", lambda: evaluator.evaluate(call)),
    ]
    for name, fn in stages:
        print(f"  {name:34s}{cpu_ms(fn, args.calls):9.3f}")


if __name__ == "__main__":
    main()
