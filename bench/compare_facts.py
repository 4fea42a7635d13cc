"""Snapshots, issues and scores of many builds, written to (or checked against) a reference file.

For changes to `cds.facts` and `cds.scores` that must not change their
output: run it on the old code with ``--write``, then on the new code with
``--check`` (each with its own ``PYTHONPATH``). Cases:

* every request under ``fhir_examples/requests/`` (prefetch resolved and
  parsed as the service does), at the request's own clock and at several
  other ``now`` values;
* the patients of a generated cohort (`cds.quality.cohort.patient_resources`),
  with each of their encounters as the current one and with none, at several
  ``now`` values.

Every case is built twice, the second time after all the others (shared parsed
models, warm memos), and both results are recorded: a memo that leaks one
case's context into another shows as a difference.

    PYTHONPATH=/old/src python bench/compare_facts.py --write /tmp/facts-ref.pickle
    PYTHONPATH=src      python bench/compare_facts.py --check /tmp/facts-ref.pickle
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cds.facts import build_snapshot
from cds.fhir.prefetch import resolve_prefetch
from cds.fhir.resources import ResourceIssue, ResourceSet
from cds.hooks.services import SERVICES
from cds.quality.cohort import patient_resources
from cds.scores import score_all
from cds.service.calls import validate_request
from cds.terminology import Terminology

ROOT = Path(__file__).resolve().parents[1]
REQUEST_NOW = datetime.fromisoformat("2026-11-20T11:00:00+01:00")
OSLO = ZoneInfo("Europe/Oslo")


def _nows(anchor: datetime) -> list[datetime]:
    return [
        anchor,
        anchor - timedelta(days=3, hours=5),
        anchor + timedelta(hours=7, minutes=13),
        anchor + timedelta(days=45),
        anchor.astimezone(ZoneInfo("America/New_York")),
        anchor.astimezone(ZoneInfo("UTC")) - timedelta(days=400),
    ]


def request_cases() -> Iterator[tuple[str, ResourceSet, str, str | None, datetime, frozenset[str]]]:
    for path in sorted((ROOT / "fhir_examples" / "requests").glob("*.json")):
        body = json.loads(path.read_bytes())
        service = next(s for s in SERVICES if s.hook == body["hook"])
        request = validate_request(service, body)
        resolved = asyncio.run(resolve_prefetch(service.prefetch, request.context, request.prefetch, None))
        resources = ResourceSet.from_json(resolved.resources)
        resources.searched.update(resolved.searched)
        patient_id = request.context["patientId"]
        encounter_id = request.context.get("encounterId")
        for now in _nows(REQUEST_NOW):
            yield path.name, resources, patient_id, encounter_id, now, frozenset(resolved.searched)


def cohort_cases(patients: int, seed: int) -> Iterator[tuple[str, ResourceSet, str, str | None, datetime, None]]:
    for index in range(patients):
        raw = patient_resources(index, seed)
        resources = ResourceSet.from_json(raw)
        patient_id = raw[0]["id"]
        encounters = [r for r in raw if r["resourceType"] == "Encounter"]
        choices: list[tuple[str | None, datetime]] = [(None, REQUEST_NOW)]
        for encounter in encounters[-3:]:
            start = datetime.fromisoformat(encounter["period"]["start"])
            choices.append((encounter["id"], start + timedelta(days=2, hours=3)))
            choices.append((encounter["id"], start + timedelta(days=30)))
        for encounter_id, anchor in choices:
            for now in _nows(anchor.astimezone(OSLO))[:4]:
                yield f"cohort {seed}:{index}", resources, patient_id, encounter_id, now, None


def outcome(
    terminology: Terminology,
    resources: ResourceSet,
    patient_id: str,
    encounter_id: str | None,
    now: datetime,
    searched: frozenset[str] | None,
) -> tuple[Any, ...]:
    issues: list[ResourceIssue] = []
    snapshot = build_snapshot(
        resources,
        patient_id=patient_id,
        encounter_id=encounter_id,
        now=now,
        terminology=terminology,
        patient_key="compare",
        searched=searched,
        issues=issues,
    )
    scores = score_all(snapshot)
    return (
        repr(snapshot),
        snapshot.model_dump_json(),
        [(i.resource_type, i.id, i.message) for i in issues],
        {name: (repr(result), result.model_dump_json()) for name, result in scores.items()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, help="write the results to this file")
    mode.add_argument("--check", type=Path, help="compare the results with this file")
    parser.add_argument("--patients", type=int, default=60, help="cohort patients (default 60)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    terminology = Terminology.load(ROOT / "rules" / "valuesets")
    cases = [*request_cases(), *cohort_cases(args.patients, args.seed)]
    first = [outcome(terminology, *case[1:]) for case in cases]
    second = [outcome(terminology, *case[1:]) for case in reversed(cases)][::-1]
    results = {"first": first, "second": second, "names": [c[0] for c in cases]}
    print(f"{len(cases)} cases")
    if args.write:
        args.check = None
        args.write.write_bytes(pickle.dumps(results))
        return
    reference = pickle.loads(args.check.read_bytes())
    differences = 0
    for run in ("first", "second"):
        for name, got, want in zip(results["names"], results[run], reference[run], strict=True):
            if got != want:
                differences += 1
                if differences <= 5:
                    print(f"DIFFERENT ({run} build): {name}")
                    for part, g, w in zip(("repr", "json", "issues", "scores"), got, want, strict=True):
                        if g != w:
                            print(f"  {part}:\n    got  {str(g)[:600]}\n    want {str(w)[:600]}")
    if differences:
        print(f"{differences} differences")
        sys.exit(1)
    print("identical")


if __name__ == "__main__":
    main()
