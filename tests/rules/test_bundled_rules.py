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
