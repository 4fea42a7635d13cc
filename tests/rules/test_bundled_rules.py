"""The bundled rule set in rules/: loads, every rule is tested, every embedded test passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds.rules import RuleSet
from cds.rules.schema import OverrideFile, RuleFile
from cds.rules.testing import run_embedded_tests

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules"


@pytest.fixture(scope="module")
def bundled() -> RuleSet:
    return RuleSet.load(RULES)


def test_every_bundled_rule_has_embedded_tests(bundled: RuleSet) -> None:
    assert [p.model.id for p in bundled.loaded.parsed if not p.model.tests] == []


def test_every_embedded_test_case_passes(bundled: RuleSet) -> None:
    failures = [f"{r.nodeid}: {'; '.join(r.failures)}" for r in run_embedded_tests(bundled, REPO) if not r.ok]
    assert failures == []


def test_exported_json_schema_matches_the_rule_language() -> None:
    for name, model in (("rule", RuleFile), ("override", OverrideFile)):
        exported = json.loads((RULES / "schema" / f"{name}.schema.json").read_text(encoding="utf-8"))
        exported.pop("$schema")
        exported.pop("$id")
        assert exported == model.model_json_schema(by_alias=True), f"run `cds rules schema` to refresh {name}.schema.json"


def test_reference_rules_cite_their_seed_lines(bundled: RuleSet) -> None:
    for rule_id in ("cfs-screening-due", "frailty-status"):
        assert bundled.rule(rule_id).definition.source.seed


def test_embedded_tests_flag_a_summary_of_140_characters_or_more(tmp_path: Path) -> None:
    import shutil

    (tmp_path / "codesystems").mkdir()
    shutil.copy(RULES / "codesystems" / "card-topic.yaml", tmp_path / "codesystems" / "card-topic.yaml")
    (tmp_path / "long.yaml").write_text(
        'id: long\nversion: "1.0"\ntitle: {nb: L, en: L}\nhooks: [encounter-start]\n'
        'when: {fact: age, op: ">=", value: 70}\n'
        "card: {topic: frailty-status, indicator: info, summary: {nb: \"{{ 'ord ' * 40 }}\", en: kort}}\n"
        "source: {paper: test}\n"
        "tests: [{name: old, hook: encounter-start, given: {age: 80}, expect: {cards: [frailty-status]}}]\n",
        encoding="utf-8",
    )
    (result,) = run_embedded_tests(RuleSet.load(tmp_path), REPO)
    assert result.failures == ["long summary (nb) has 159 characters; keep it under 140"]


def test_embedded_persona_case_runs_through_the_fhir_to_facts_pipeline(tmp_path: Path) -> None:
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(RULES / "codesystems", rules / "codesystems")
    shutil.copytree(RULES / "valuesets", rules / "valuesets")
    (tmp_path / "fhir_examples").mkdir()
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "kari", "birthDate": "1946-05-01"}}],
    }
    (tmp_path / "fhir_examples" / "kari.json").write_text(json.dumps(bundle), encoding="utf-8")
    rule = (RULES / "frailty" / "cfs-screening-due.yaml").read_text(encoding="utf-8")
    rule = rule.split("tests:")[0] + (
        "tests:\n"
        "  - name: Kari's bundle, 78 and no CFS\n    hook: encounter-start\n    persona: fhir_examples/kari.json\n"
        "    expect: {cards: [cfs-screening-due]}\n"
        "  - name: Kari's bundle at 69 (in 2015)\n    hook: encounter-start\n    now: 2015-06-01T12:00:00+00:00\n"
        "    persona: fhir_examples/kari.json\n    patient: kari\n    expect: {no_card: true}\n"
    )
    (rules / "cfs.yaml").write_text(rule, encoding="utf-8")
    results = run_embedded_tests(RuleSet.load(rules))
    assert [(r.name, r.failures) for r in results] == [
        ("Kari's bundle, 78 and no CFS", []),
        ("Kari's bundle at 69 (in 2015)", []),
    ]


def test_a_persona_bundle_with_nan_fails_its_case_as_not_json(tmp_path: Path) -> None:
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(RULES / "codesystems", rules / "codesystems")
    shutil.copytree(RULES / "valuesets", rules / "valuesets")
    (tmp_path / "nan.json").write_text('{"resourceType": "Bundle", "type": "collection", "total": NaN}', encoding="utf-8")
    rule = (RULES / "frailty" / "cfs-screening-due.yaml").read_text(encoding="utf-8")
    rule = rule.split("tests:")[0] + (
        "tests:\n  - name: NaN bundle\n    hook: encounter-start\n    persona: nan.json\n    expect: {no_card: true}\n"
    )
    (rules / "cfs.yaml").write_text(rule, encoding="utf-8")
    (result,) = run_embedded_tests(RuleSet.load(rules), tmp_path)
    # refused as the service refuses it (NaN is not JSON), not read as a bundle without a patient
    assert result.failures == ["cannot build the patient: unexpected character, expected a JSON value: "
                               "line 1 column 59 (char 58)"]
