"""RuleSet evaluation: thresholds from files, derived facts, exclusive groups, counts, overrides."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from cds.facts.snapshot import ConditionFact, Coding, EventFact, PatientSnapshot
from cds.rules import RuleSet

ICD10 = "urn:oid:2.16.578.1.12.4.1.1.7110"

HEAD = """
id: {id}
version: "1.0"
title: {{nb: Tittel, en: Title}}
hooks: [encounter-discharge]
source: {{seed: ["000_ea1be622f5d88811.txt:1-2"]}}
"""


def rule(id: str, body: str) -> str:
    return HEAD.format(id=id) + body


def card(topic: str) -> str:
    return f"card:\n  topic: {topic}\n  indicator: info\n  summary: {{nb: '{topic} nb', en: '{topic} en'}}\n"


FRAIL = rule(
    "frail",
    "when: {fact: cfs.score, op: '>=', value: 5}\nderive: {frail: {type: bool, value: true, description: frail}}\n",
)
CGA = rule("cga", "when: {fact: frail, op: '==', value: true}\n" + card("cga-referral"))
PATHWAYS = {
    "a.yaml": rule("a", "exclusive: {group: pathway, priority: 1, fallback: true}\nwhen: {fact: age, known: true}\n"
                   "derive: {pathway: {type: str, value: A, description: p}}\n" + card("pathway-a")),
    "b.yaml": rule("b", "exclusive: {group: pathway, priority: 2}\nwhen: {fact: home_nursing, op: '==', value: true}\n"
                   "derive: {pathway: {type: str, value: B, description: p}}\n" + card("pathway-b")),
    "c.yaml": rule("c", "exclusive: {group: pathway, priority: 3}\nwhen: {fact: frail, op: '==', value: true}\n"
                   "derive: {pathway: {type: str, value: C, description: p}}\n" + card("pathway-c")),
    "frail.yaml": FRAIL,
}


def topics(ruleset: RuleSet, hook: str, snapshot: PatientSnapshot) -> list[str]:
    return sorted(f.outputs["topic"] for f in ruleset.evaluate(hook, snapshot) if "topic" in f.outputs)


def test_changing_a_threshold_in_the_rule_file_changes_the_cards(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    kari = patient(age=75)
    directory = make_rules({"screening.yaml": screening(70)})
    assert topics(RuleSet.load(directory), "encounter-start", kari) == ["cfs-screening-due"]
    make_rules({"screening.yaml": screening(80)})
    assert topics(RuleSet.load(directory), "encounter-start", kari) == []


def test_finding_names_rule_version_matched_facts_and_parameters(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    (finding,) = RuleSet.load(make_rules({"s.yaml": screening(70)})).evaluate("encounter-start", patient(age=75))
    assert (finding.rule_id, finding.rule_version, finding.hook) == ("screening", "1.0", "encounter-start")
    assert finding.matched == {"age": 75, "cfs.score": None, "not_deceased": True}  # deceased: the living guard
    assert finding.parameters == {"min_age": 70}


def test_a_rule_using_a_derived_fact_fires_when_the_deriving_rule_fired(
    make_rules: Callable[..., Path], patient: Callable[..., PatientSnapshot]
) -> None:
    ruleset = RuleSet.load(make_rules({"frail.yaml": FRAIL, "cga.yaml": CGA}))
    outcome = ruleset.run("encounter-discharge", patient(age=84, cfs={"score": 6}))
    assert [f.rule_id for f in outcome.findings] == ["frail", "cga"]
    assert outcome.derived == {"frail": True}
    assert ruleset.evaluate("encounter-discharge", patient(age=84, cfs={"score": 3})) == []


def test_exclusive_group_keeps_only_the_highest_priority_match(
    make_rules: Callable[..., Path], patient: Callable[..., PatientSnapshot]
) -> None:
    ruleset = RuleSet.load(make_rules(PATHWAYS))
    ingrid = patient(age=84, home_nursing=True, cfs={"score": 6})
    outcome = ruleset.run("encounter-discharge", ingrid)
    assert topics(ruleset, "encounter-discharge", ingrid) == ["pathway-c"]
    assert outcome.derived["pathway"] == "C"
    assert outcome.lost == {"a": "c", "b": "c"}


def test_exclusive_group_falls_back_when_nothing_else_matched(
    make_rules: Callable[..., Path], patient: Callable[..., PatientSnapshot]
) -> None:
    ruleset = RuleSet.load(make_rules(PATHWAYS))
    assert topics(ruleset, "encounter-discharge", patient(age=70, home_nursing=False)) == ["pathway-a"]
    assert topics(ruleset, "encounter-discharge", patient(age=70, home_nursing=True)) == ["pathway-b"]


def test_two_chronic_conditions_in_a_value_set_are_counted(
    make_rules: Callable[..., Path], patient: Callable[..., PatientSnapshot]
) -> None:
    body = ("when: {count: {facts: conditions, value_set: chronic.test, where: {active: true}}, op: '>=', value: 2}\n"
            + card("pathway-c"))
    ruleset = RuleSet.load(make_rules({"m.yaml": rule("multimorbid", body)}))

    def condition(code: str, active: bool = True) -> ConditionFact:
        return ConditionFact(codings=(Coding(system=ICD10, code=code),), active=active)

    heart_and_lungs = patient(conditions=(condition("I50.0"), condition("J44.1")))
    one_inactive = patient(conditions=(condition("I50.0"), condition("E11.9", active=False), condition("S72.0")))
    assert topics(ruleset, "encounter-discharge", heart_and_lungs) == ["pathway-c"]
    assert topics(ruleset, "encounter-discharge", one_inactive) == []
    assert ruleset.evaluate("encounter-discharge", patient()) == []  # conditions unknown -> no card


def test_admissions_are_counted_in_a_window_before_now(
    make_rules: Callable[..., Path], patient: Callable[..., PatientSnapshot]
) -> None:
    body = "parameters:\n  window: {type: int, default: 180, unit: d, description: w}\n" \
           "when: {count: {facts: admissions, within_days: $window, where: {emergency: true}}, op: '>=', value: 2}\n" \
           + card("readmission-risk")
    ruleset = RuleSet.load(make_rules({"r.yaml": rule("readmitted", body)}))
    probe = patient()

    def admission(days_ago: int, emergency: bool = True) -> EventFact:
        return EventFact(start=probe.now - timedelta(days=days_ago), emergency=emergency)

    assert topics(ruleset, "encounter-discharge", patient(admissions=(admission(10), admission(179)))) == ["readmission-risk"]
    assert topics(ruleset, "encounter-discharge", patient(admissions=(admission(10), admission(181)))) == []
    assert topics(ruleset, "encounter-discharge", patient(admissions=(admission(10), admission(20, False)))) == []


def test_days_since_a_date_fact_is_compared_in_whole_days(
    make_rules: Callable[..., Path], patient: Callable[..., PatientSnapshot]
) -> None:
    body = "when: {days_since: last_medication_review, op: '>', value: 365}\n" + card("medication-review")
    ruleset = RuleSet.load(make_rules({"r.yaml": rule("review", body)}))
    now = patient().now.date()
    assert topics(ruleset, "encounter-discharge", patient(last_medication_review=now - timedelta(days=366))) == ["medication-review"]
    assert topics(ruleset, "encounter-discharge", patient(last_medication_review=now - timedelta(days=365))) == []


def test_engine_and_plain_python_agree_on_every_rule(
    make_rules: Callable[..., Path], patient: Callable[..., PatientSnapshot]
) -> None:
    ruleset = RuleSet.load(make_rules({**PATHWAYS, "cga.yaml": CGA}))
    people = [patient(), patient(age=70), patient(age=84, cfs={"score": 6}), patient(age=90, home_nursing=True, cfs={"score": 2})]
    for person in people:
        engine, python = ruleset.run("encounter-discharge", person), ruleset.evaluate_python("encounter-discharge", person)
        assert engine.findings == python.findings and engine.derived == python.derived


def test_a_hook_without_rules_gives_no_findings(
    make_rules: Callable[..., Path], screening: Callable[[int], str], patient: Callable[..., PatientSnapshot]
) -> None:
    assert RuleSet.load(make_rules({"s.yaml": screening(70)})).evaluate("order-sign", patient(age=90)) == []


# -- overrides ----------------------------------------------------------------------------


@pytest.fixture
def screening_dir(make_rules: Callable[..., Path], screening: Callable[[int], str]) -> Path:
    return make_rules({"s.yaml": screening(70)})


def write_override(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_site_override_changes_a_parameter_for_everyone(
    screening_dir: Path, tmp_path: Path, patient: Callable[..., PatientSnapshot]
) -> None:
    site = write_override(tmp_path / "site.yaml", "override: haukeland\ndescription: d\napplies_to: {site: haukeland}\n"
                          "parameters: {screening: {min_age: 65}}\n")
    ruleset = RuleSet.load(screening_dir, [site])
    (finding,) = ruleset.evaluate("encounter-start", patient(age=67))
    assert finding.parameters == {"min_age": 65}


def test_municipality_variant_applies_only_to_that_municipality(
    screening_dir: Path, tmp_path: Path, patient: Callable[..., PatientSnapshot]
) -> None:
    bergen = write_override(tmp_path / "bergen.yaml", "override: bergen\ndescription: d\napplies_to: {municipality: ['4601']}\n"
                            "parameters: {screening: {min_age: 75}}\n")
    ruleset = RuleSet.load(screening_dir, [bergen])
    assert ruleset.evaluate("encounter-start", patient(age=72, municipality="4601")) == []
    (oslo,) = ruleset.evaluate("encounter-start", patient(age=72, municipality="0301"))
    assert oslo.variant is None and oslo.parameters == {"min_age": 70}
    (unknown_home,) = ruleset.evaluate("encounter-start", patient(age=72))
    assert unknown_home.variant is None
    (bergen_finding,) = ruleset.evaluate("encounter-start", patient(age=76, municipality="4601"))
    assert bergen_finding.variant == "bergen" and bergen_finding.parameters == {"min_age": 75}


def test_override_adds_value_set_codes_and_changes_the_digest(
    make_rules: Callable[..., Path], tmp_path: Path, patient: Callable[..., PatientSnapshot]
) -> None:
    body = "when: {count: {facts: conditions, value_set: chronic.test}, op: '>=', value: 1}\n" + card("pathway-c")
    directory = make_rules({"m.yaml": rule("chronic", body)})
    local = write_override(tmp_path / "local.yaml", "override: local-codes\ndescription: d\napplies_to: {site: x}\n"
                           "valuesets:\n  - id: chronic.test\n    title: local\n    source: local list\n"
                           "    include: [{system: icd-10, codes: [{code: G20}]}]\n")
    parkinson = patient(conditions=(ConditionFact(codings=(Coding(system=ICD10, code="G20"),)),))
    base, layered = RuleSet.load(directory), RuleSet.load(directory, [local])
    assert base.evaluate("encounter-discharge", parkinson) == []
    assert len(layered.evaluate("encounter-discharge", parkinson)) == 1
    assert base.digest != layered.digest


def test_scores_and_model_risk_are_facts_rules_can_test(
    make_rules: Callable[..., Path], patient: Callable[..., PatientSnapshot]
) -> None:
    from cds.facts.snapshot import RiskPrediction, ScoreResult

    body = ("parameters:\n  min_risk: {type: float, default: 0.3, description: r}\n"
            "when:\n  any:\n    - {fact: scores.lace.points, op: '>=', value: 10}\n"
            "    - {fact: readmission_risk.probability, op: '>=', value: $min_risk}\n"
            "card:\n  topic: readmission-risk\n  indicator: warning\n"
            "  summary: {nb: 'LACE {{ scores.lace.points }}', en: 'LACE {{ scores.lace.points }}'}\n")
    ruleset = RuleSet.load(make_rules({"r.yaml": rule("risk", body)}))
    lace_12 = patient(scores={"lace": ScoreResult(name="lace", points=12)})
    risky = patient(readmission_risk=RiskPrediction(probability=0.35, model_version="t"))
    assert topics(ruleset, "encounter-discharge", lace_12) == ["readmission-risk"]
    assert topics(ruleset, "encounter-discharge", risky) == ["readmission-risk"]
    assert topics(ruleset, "encounter-discharge", patient(scores={"lace": ScoreResult(name="lace", points=4)})) == []
