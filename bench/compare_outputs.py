"""Dump everything the evaluation produces, to compare two versions of the code for identical output.

Run once per version (``PYTHONPATH`` pointing at each version's ``src``) into
two files, then compare them:

    PYTHONPATH=/tmp/old/src python bench/compare_outputs.py dump old.json --cohort /tmp/cohort
    PYTHONPATH=$PWD/src     python bench/compare_outputs.py dump new.json --cohort /tmp/cohort
    python bench/compare_outputs.py diff old.json new.json

The dump holds, for every request under ``fhir_examples/requests/`` in nb and
en, the full response JSON of `cds.service.calls.process_call` (card and
suggestion uuids normalised: they are random per call) and every finding; for
every patient of a generated cohort (``cds cohort generate -o DIR``) and every
hook, the findings, the rule outcome (fired, lost, derived), the suggestion
decisions and the normalised cards in nb and en. A fixed clock and pseudonym
key make the rest deterministic.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime.fromisoformat("2026-11-20T11:00:00+01:00")
HOOKS = ("patient-view", "encounter-start", "encounter-discharge")
KEY = b"compare-key-0123456789abcdef0123"


def _normalise(response: Any) -> Any:
    """Card uuids become their position; suggestion uuids their card's position and suggestion index."""
    for i, card in enumerate(response.get("cards", [])):
        card["uuid"] = f"card-{i}"
        for j, suggestion in enumerate(card.get("suggestions") or []):
            if "uuid" in suggestion:
                suggestion["uuid"] = f"card-{i}-suggestion-{j}"
    return response


def _cards_json(cards: list[Any]) -> dict[str, Any]:
    """The cards as a response carries them: CDS Hooks JSON dicts, or (older versions) `Card` models."""
    from cds.hooks.models import to_json_dict

    wire = [card if isinstance(card, dict) else to_json_dict(card) for card in cards]
    return _normalise(json.loads(json.dumps({"cards": wire}, default=str)))


def _findings(findings: list[Any]) -> list[Any]:
    return [json.loads(json.dumps(f.model_dump() if hasattr(f, "model_dump") else vars(f), default=str)) for f in findings]


async def _requests(evaluator: Any) -> dict[str, Any]:
    import orjson

    from cds.hooks.services import SERVICES
    from cds.service.calls import process_call

    out: dict[str, Any] = {}
    for path in sorted((ROOT / "fhir_examples" / "requests").glob("*.json")):
        payload = orjson.loads(path.read_bytes())
        service = next(s for s in SERVICES if s.hook == payload["hook"])
        for language in ("nb", "en"):
            result = await process_call(
                service, payload, evaluator=evaluator, sources=lambda _: None, now=NOW, language=language
            )
            out[f"{path.name}/{language}"] = {
                "response": _normalise(json.loads(json.dumps(result.response, default=str))),
                "findings": _findings(result.evaluation.findings),
                "issues": result.evaluation.issues,
            }
    return out


def _cohort(evaluator: Any, directory: Path, limit: int | None) -> dict[str, Any]:
    from cds.cards import render_cards
    from cds.evaluation import EvaluationCall
    from cds.quality.batch import prepare_patient, service_for_hook
    from cds.quality.export import BulkExport

    export = BulkExport(directory)
    ruleset = evaluator.rules.current()
    out: dict[str, Any] = {}
    for n, (patient_id, resources) in enumerate(export.patients()):
        if limit is not None and n >= limit:
            break
        for hook in HOOKS:
            encounter_id, now, parsed = prepare_patient(resources, hook, None)
            if now is None:
                out[f"{patient_id}/{hook}"] = "not-admitted"
                continue
            call = EvaluationCall(
                service_id=service_for_hook(hook),
                hook=hook,
                patient_id=patient_id,
                encounter_id=encounter_id,
                user_id=None,
                now=now,
                resources=parsed,
            )
            evaluation = evaluator.evaluate(call)
            snapshot = evaluation.snapshot
            outcome = ruleset.run(hook, snapshot)
            derived: dict[str, Any] = {}
            for finding in evaluation.findings:
                derived.update(finding.derived)
            offered = {}
            for finding in evaluation.findings:
                rule = next(r for r in ruleset.rules if r.id == finding.rule_id and r.variant == finding.variant)
                offered[finding.rule_id] = ruleset.suggestions_offered(rule, snapshot, derived)
            out[f"{patient_id}/{hook}"] = {
                "findings": _findings(evaluation.findings),
                "fired": outcome.fired,
                "lost": outcome.lost,
                "derived": json.loads(json.dumps(outcome.derived, default=str)),
                "offered": offered,
                "cards": {
                    language: _cards_json(
                        render_cards(evaluation.findings, ruleset, snapshot, language=language, patient_id=patient_id)
                    )
                    for language in ("nb", "en")
                },
                "evaluate_cards": _cards_json(evaluation.cards),
            }
    return out


def dump(args: argparse.Namespace) -> None:
    from cds.evaluation import Evaluator

    evaluator = Evaluator.from_paths(
        rules_dir=ROOT / "rules", model_dir=ROOT / "models" / "readmission", pseudonym_key=KEY
    )
    result: dict[str, Any] = {"requests": asyncio.run(_requests(evaluator))}
    if args.cohort is not None:
        result["cohort"] = _cohort(evaluator, args.cohort, args.limit)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True, ensure_ascii=False))
    cohort = result.get("cohort", {})
    print(f"{len(result['requests'])} request/language responses, {len(cohort)} cohort patient/hook evaluations -> {args.out}")


def diff(args: argparse.Namespace) -> None:
    old = json.loads(args.old.read_text())
    new = json.loads(args.new.read_text())
    problems = 0
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section, {}), new.get(section, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                problems += 1
                if problems <= 20:
                    print(f"DIFFERS: {section} {key}")
        print(f"{section}: {len(a)} vs {len(b)} entries")
    print("identical" if problems == 0 else f"{problems} entries differ")
    sys.exit(1 if problems else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(required=True)
    p = commands.add_parser("dump")
    p.add_argument("out", type=Path)
    p.add_argument("--cohort", type=Path, default=None, help="a generated cohort directory")
    p.add_argument("--limit", type=int, default=None, help="at most this many cohort patients")
    p.set_defaults(run=dump)
    p = commands.add_parser("diff")
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.set_defaults(run=diff)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
