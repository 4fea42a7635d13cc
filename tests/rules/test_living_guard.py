"""The living guard: one mechanism, at rule-set level, for every rule that addresses a living patient.

A rule declares `addresses: living` (the default) or `addresses: any`; the
loader adds `not_deceased == true` to every `living` rule, so no rule file can
forget it (docs/clinical-safety.md, HAZ-01). `deceased` unknown never blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cds.facts.snapshot import PatientSnapshot
from cds.rules import RuleSet
from cds.rules.conditions import leaves

REPO = Path(__file__).resolve().parents[2]


def _fired(ruleset: RuleSet, snapshot: PatientSnapshot) -> bool:
    return any(f.rule_id == "screening" for f in ruleset.evaluate("encounter-start", snapshot))


def test_every_bundled_rule_addresses_the_living_and_carries_the_guard() -> None:
    ruleset = RuleSet.load(REPO / "rules")
    assert {rule.definition.addresses for rule in ruleset.rules} == {"living"}
    for rule in ruleset.rules:
        assert any(leaf.expr.text == "not_deceased" for leaf in leaves(rule.condition)), rule.id


def test_a_living_rule_is_silent_for_a_deceased_patient_and_fires_when_deceased_is_unknown(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    ruleset = RuleSet.load(make_rules({"s.yaml": screening(70)}))
    assert not _fired(ruleset, patient(age=80, deceased=True))
    assert _fired(ruleset, patient(age=80, deceased=False))
    assert _fired(ruleset, patient(age=80))  # unknown is not "deceased"


def test_a_rule_that_addresses_anyone_fires_after_death(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    text = screening(70).replace("hooks:", "addresses: any\nhooks:", 1)
    ruleset = RuleSet.load(make_rules({"s.yaml": text}))
    assert _fired(ruleset, patient(age=80, deceased=True))


def test_explain_shows_the_guard_when_it_stops_a_rule(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    ruleset = RuleSet.load(make_rules({"s.yaml": screening(70)}))
    trace = ruleset.explain("encounter-start", patient(age=80, deceased=True)).rule("screening")
    assert trace.status == "not-fired"
    assert str(trace.conditions[-1]) == "not_deceased = false  == true  -> false"


def test_municipality_variants_carry_the_guard_too(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot], tmp_path: Path
) -> None:
    directory = make_rules({"s.yaml": screening(70)})
    override = tmp_path / "o.yaml"
    override.write_text(
        "override: o\ndescription: d\napplies_to: {municipality: ['5001']}\nsource: s\n"
        "parameters:\n  screening:\n    min_age: 75\n",
        encoding="utf-8",
    )
    ruleset = RuleSet.load(directory, [override])
    assert not _fired(ruleset, patient(age=80, municipality="5001", deceased=True))
    assert _fired(ruleset, patient(age=80, municipality="5001"))
