"""`cds rules explain` reports exactly the rules behind the cards `cds evaluate` (and the service) serves.

Every persona of fhir_examples, as a Bundle at every hook and as each of its
CDS Hooks requests, and 500 generated patients: the rules explain calls
"fired" are the rules whose cards evaluate printed (rules without a card are
compared with the evaluation's findings).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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


def _key(rule_id: str, variant: str | None) -> str:
    return rule_id + (f"@{variant}" if variant else "")


def test_explain_fires_exactly_the_rules_evaluate_serves_for_500_generated_patients(
    tmp_path: Path, carded_rules: frozenset[str]
) -> None:
    """Each generated patient's Bundle through the commands' shared call (`cds.cli._call.run_call`): the
    cards it serves and its explanation name the same rules, at discharge and in the patient view."""
    from cds.cli._call import CallOptions, run_call

    patients = _cohort_bundles(tmp_path)
    assert len(patients) > COHORT_PATIENTS * 0.9
    disagreements: list[str] = []
    fired_somewhere: set[str] = set()
    for patient_id, encounter_id, now, path in patients:
        for hook, encounter in (("encounter-discharge", encounter_id), ("patient-view", None)):
            if hook != "patient-view" and encounter is None:
                continue
            result = run_call(CallOptions(path, hook, patient_id, encounter, "Practitioner/x", now.isoformat()))
            served = {c["extension"]["no.cds-frailty.provenance"]["ruleId"] for c in result.response["cards"]}
            fired = {_key(r.rule_id, r.variant) for r in result.evaluation.explain().rules if r.status == "fired"}
            found = {_key(f.rule_id, f.variant) for f in result.evaluation.findings}  # rules without a card too
            explained = {key.split("@")[0] for key in fired} & carded_rules
            fired_somewhere |= served
            if served != explained or fired != found:
                disagreements.append(f"{path.name} {hook}: served {sorted(served)}, explained {sorted(fired)}")
    assert disagreements == []
    assert len(fired_somewhere) >= 8  # the cohort exercises many rules, not an empty agreement
