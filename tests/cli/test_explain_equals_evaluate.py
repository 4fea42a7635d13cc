"""`cds rules explain` reports exactly the rules behind the cards `cds evaluate` (and the service) serves.

Every persona of fhir_examples, as a Bundle at every hook and as each of its
CDS Hooks requests, and 500 generated patients: the rules explain calls
"fired" are the rules whose cards evaluate printed (rules without a card are
compared through the evaluation's findings).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cds import bundled
from cds.cli import app
from cds.hooks.services import SERVICES
from cds.rules import RuleSet

EXAMPLES = bundled.EXAMPLES_DIR
PERSONAS: list[dict[str, Any]] = json.loads((EXAMPLES / "personas.json").read_text(encoding="utf-8"))
HOOKS = [service.hook for service in SERVICES]
COHORT_PATIENTS = 500

pytestmark = pytest.mark.usefixtures("shared_evaluator")


@pytest.fixture(scope="module")
def carded_rules() -> frozenset[str]:
    """Ids of the bundled rules that render a card (the others show only in explain)."""
    return frozenset(rule.id for rule in RuleSet.load(bundled.RULES_DIR).rules if rule.card is not None)


def _invoke(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _served(args: Sequence[str]) -> set[str]:
    response = _invoke("evaluate", "--json", *args)
    return {card["extension"]["no.cds-frailty.provenance"]["ruleId"] for card in response["cards"]}


def _explained(args: Sequence[str], carded: frozenset[str]) -> set[str]:
    explanation = _invoke("rules", "explain", "--json", *args)
    return {rule["ruleId"] for rule in explanation["rules"] if rule["status"] == "fired" and rule["ruleId"] in carded}


def _bundle_cases() -> list[Any]:
    cases = []
    for persona in PERSONAS:
        for hook in HOOKS:
            args = ["--hook", hook, "--patient", persona["patient_id"], "--now", persona["now"]]
            if hook != "patient-view":
                args += ["--encounter", persona["encounter_id"]]
            cases.append(pytest.param([*args, str(EXAMPLES / persona["bundle"])], id=f"{persona['key']}-bundle-{hook}"))
    return cases


def _request_cases() -> list[Any]:
    cases = []
    for persona in PERSONAS:
        for hook, path in sorted(persona["requests"].items()):
            cases.append(pytest.param(["--now", persona["now"], str(EXAMPLES / path)], id=f"{persona['key']}-request-{hook}"))
    return cases


@pytest.mark.parametrize("args", _bundle_cases() + _request_cases())
def test_explain_fires_exactly_the_rules_evaluate_serves_for_every_persona(args: list[str], carded_rules: frozenset[str]) -> None:
    assert _explained(args, carded_rules) == _served(args)


def test_the_persona_cases_cover_every_bundle_and_request() -> None:
    bundles = {p.name for p in (EXAMPLES / "bundles").glob("*.json")}
    requests = {p.name for p in (EXAMPLES / "requests").glob("*.json")}
    assert {Path(p["bundle"]).name for p in PERSONAS} == bundles
    assert {Path(path).name for p in PERSONAS for path in p["requests"].values()} == requests


def _cohort_bundles(tmp_path: Path) -> list[tuple[str, str | None, datetime, Path]]:
    """(patient id, encounter id, now, Bundle file) per generated patient, at their latest discharge."""
    from cds.quality.batch import as_of, choose_moment
    from cds.quality.cohort import patient_resources

    out = []
    for index in range(COHORT_PATIENTS):
        resources = patient_resources(index, seed=12)
        encounter_id, now = choose_moment(resources, "encounter-discharge", None)
        if now is None:
            continue
        entries = [{"resource": dict(r)} for r in as_of(resources, now)]
        path = tmp_path / f"p{index}.json"
        path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}), encoding="utf-8")
        out.append((str(resources[0]["id"]), encounter_id, now, path))
    return out


def test_explain_fires_exactly_the_rules_evaluate_serves_for_500_generated_patients(
    tmp_path: Path, carded_rules: frozenset[str]
) -> None:
    patients = _cohort_bundles(tmp_path)
    assert len(patients) > COHORT_PATIENTS * 0.9
    disagreements: list[str] = []
    fired_somewhere: set[str] = set()
    for patient_id, encounter_id, now, path in patients:
        for hook in ("encounter-discharge", "patient-view"):
            args = ["--hook", hook, "--patient", patient_id, "--now", now.isoformat()]
            if hook != "patient-view" and encounter_id is not None:
                args += ["--encounter", encounter_id]
            elif hook != "patient-view":
                continue
            served, explained = _served([*args, str(path)]), _explained([*args, str(path)], carded_rules)
            fired_somewhere |= served
            if served != explained:
                disagreements.append(f"{path.name} {hook}: served {sorted(served)}, explained {sorted(explained)}")
    assert disagreements == []
    assert len(fired_somewhere) >= 8  # the cohort exercises many rules, not an empty agreement


def test_evaluation_explain_calls_fired_exactly_the_findings(carded_rules: frozenset[str]) -> None:
    """Rules without a card too: explain's "fired" is the evaluation's findings, rule by rule."""
    from cds.fhir.resources import ResourceSet
    from cds.evaluation import EvaluationCall, Evaluator
    from cds.quality.batch import as_of, choose_moment
    from cds.quality.cohort import patient_resources

    evaluator = Evaluator.from_paths(rules_dir=bundled.RULES_DIR, model_dir=bundled.MODEL_DIR, pseudonym_key=b"k" * 32)
    checked = 0
    for index in range(COHORT_PATIENTS):
        resources = patient_resources(index, seed=13)
        encounter_id, now = choose_moment(resources, "encounter-discharge", None)
        if now is None or encounter_id is None:
            continue
        call = EvaluationCall("discharge", "encounter-discharge", str(resources[0]["id"]), encounter_id, None, now,
                              ResourceSet.from_json(as_of(resources, now)))
        evaluation = evaluator.evaluate(call)
        fired = {r.rule_id + (f"@{r.variant}" if r.variant else "") for r in evaluation.explain().rules if r.status == "fired"}
        assert fired == {f.rule_id + (f"@{f.variant}" if f.variant else "") for f in evaluation.findings}
        checked += 1
    assert checked > COHORT_PATIENTS * 0.9
