"""Explain shows, rule by rule and condition by condition, why a card did or did not fire."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cds.facts.snapshot import PatientSnapshot
from cds.rules import RuleSet


def test_fired_rule_shows_each_fact_operator_threshold_and_parameter(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    ruleset = RuleSet.load(make_rules({"s.yaml": screening(70)}))
    trace = ruleset.explain("encounter-start", patient(age=78)).rule("screening")
    assert trace.status == "fired"
    age, cfs, alive = trace.conditions
    assert (age.fact, age.value, age.op, age.threshold, age.parameter, age.result) == ("age", 78, ">=", 70, "min_age", True)
    assert (cfs.fact, cfs.value, cfs.op, cfs.result) == ("cfs.score", None, "unknown", True)
    # the rule set's living guard comes last, at the rule's id line (docs/clinical-safety.md, HAZ-01)
    assert (alive.fact, alive.value, alive.op, alive.threshold, alive.line) == ("not_deceased", True, "==", True, 1)


def test_rule_that_did_not_fire_shows_the_false_condition(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    trace = RuleSet.load(make_rules({"s.yaml": screening(70)})).explain("encounter-start", patient(age=64)).rule("screening")
    assert trace.status == "not-fired"
    assert [(c.fact, c.value, c.result) for c in trace.conditions][0] == ("age", 64, False)


def test_a_missing_fact_is_shown_as_unknown_not_as_false(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    explanation = RuleSet.load(make_rules({"s.yaml": screening(70)})).explain("encounter-start", patient())
    trace = explanation.rule("screening")
    assert trace.status == "unknown"
    assert trace.conditions[0].result is None
    assert "age = unknown  >= 70 ($min_age)  -> UNKNOWN" in explanation.to_text()


def test_rules_of_other_hooks_are_listed_as_not_for_this_hook(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    explanation = RuleSet.load(make_rules({"s.yaml": screening(70)})).explain("encounter-discharge", patient(age=80))
    assert explanation.rule("screening").status == "not-for-hook"


def test_explanation_serialises_to_json_friendly_dict(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    data = RuleSet.load(make_rules({"s.yaml": screening(70)})).explain("encounter-start", patient(age=78)).to_dict()
    assert data["rules"][0]["conditions"][0] == {
        "fact": "age", "value": 78, "op": ">=", "threshold": 70, "parameter": "min_age", "result": True, "line": 9, "negated": False,
    }
