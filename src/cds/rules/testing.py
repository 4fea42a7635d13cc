"""Run the test cases embedded in rule files (``tests:``), as `cds rules test` and pytest do.

A case gives a patient (inline facts under ``given``, or a FHIR Bundle under
``persona``), a hook and an optional ``now``; the whole rule set is evaluated
(derived facts and exclusive groups included) and the expectations checked:
card topics present (``cards``), absent (``no_cards``), no card at all
(``no_card``), derived facts (``derived``; ``null`` = unknown), suggestions
offered or not, and card text per language present in some card (``text``) or
in none (``no_text``). Every card of the case is also rendered in nb and en and
must be a valid CDS Hooks card with a summary under 140 characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cds.cards.helpers import LABELS_KEY
from cds.facts.snapshot import PatientSnapshot
from cds.hooks.models import SUMMARY_MAX
from cds.rules.loader import test_now, test_snapshot
from cds.rules.ruleset import RuleSet
from cds.rules.schema import LANGUAGES, TestCase


@dataclass(frozen=True)
class CaseResult:
    rule_id: str
    file: str
    line: int
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def nodeid(self) -> str:
        return f"{self.file}:{self.line}::{self.rule_id}::{self.name}"


def persona_snapshot(case: TestCase, ruleset: RuleSet, repo: Path) -> PatientSnapshot:
    """Snapshot of a persona bundle through the real FHIR -> facts pipeline."""
    from cds.facts.builder import build_snapshot
    from cds.fhir.resources import ResourceSet

    assert case.persona is not None
    candidates = [repo / case.persona, Path.cwd() / case.persona]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise ValueError(f"persona bundle {case.persona!r} not found (looked in {repo} and the working directory)")
    bundle = orjson.loads(path.read_bytes())  # as the service: NaN and Infinity are not JSON
    resources = ResourceSet.from_bundle(bundle)
    patient_id = case.patient
    if patient_id is None:
        patients = resources.of_type("Patient")
        if len(patients) != 1:
            raise ValueError(f"persona has {len(patients)} patients; name one with 'patient:'")
        patient_id = str(patients[0].id)
    snapshot = build_snapshot(
        resources,
        patient_id=patient_id,
        encounter_id=case.encounter,
        now=test_now(case),
        terminology=ruleset.terminology,
        patient_key="embedded-test",
    )
    from cds.scores import score_all

    update: dict[str, Any] = {"scores": score_all(snapshot)}  # as cds.evaluation.Evaluator does
    if case.municipality is not None:
        update["municipality"] = case.municipality
    return snapshot.model_copy(update=update)


def check_case(ruleset: RuleSet, case: TestCase, repo: Path) -> list[str]:
    """The failures of one embedded test case (empty when it passes)."""
    from cds.cards.render import render_card

    failures: list[str] = []
    try:
        snapshot = test_snapshot(case) if case.given is not None else persona_snapshot(case, ruleset, repo)
    except Exception as error:  # noqa: BLE001 - reported as a test failure
        return [f"cannot build the patient: {error}"]
    outcome = ruleset.run(case.hook, snapshot)
    topics = [f.outputs["topic"] for f in outcome.findings if "topic" in f.outputs]
    expect = case.expect
    for topic in expect.cards:
        if topic not in topics:
            failures.append(f"expected a {topic!r} card; got {topics or 'no cards'}")
    for topic in expect.no_cards:
        if topic in topics:
            failures.append(f"expected no {topic!r} card, but it fired")
    if expect.no_card and topics:
        failures.append(f"expected no card at all; got {topics}")
    for name, wanted in expect.derived.items():
        actual = outcome.derived.get(name)
        if actual != wanted:
            failures.append(f"expected derived {name} = {wanted!r}; got {actual!r}")
    derived: dict[str, Any] = dict(outcome.derived)
    if expect.suggestions or expect.no_suggestions:
        offered = _offered(ruleset, outcome.findings, snapshot, derived)
        for sid in expect.suggestions:
            if sid not in offered:
                failures.append(f"expected suggestion {sid!r} to be offered; offered: {sorted(offered) or 'none'}")
        for sid in expect.no_suggestions:
            if sid in offered:
                failures.append(f"expected suggestion {sid!r} not to be offered, but it was")
    texts: dict[str, list[str]] = {language: [] for language in LANGUAGES}
    for finding in outcome.findings:
        for language in LANGUAGES:
            try:
                rule = next(r for r in ruleset.rules if r.id == finding.rule_id and r.variant == finding.variant)
                if rule.card is not None:
                    context = _context(snapshot, finding.parameters, derived, ruleset)
                    summary = " ".join(rule.card.summary[language].render_strict(**context).split())
                    if len(summary) >= SUMMARY_MAX:
                        failures.append(f"{finding.rule_id} summary ({language}) has {len(summary)} characters; keep it under {SUMMARY_MAX}")
                card = render_card(finding, ruleset, snapshot, language=language, patient_id="test-patient", derived=derived, strict=True)
                if card is not None:
                    texts[language].append(f"{card['summary']}\n{card.get('detail', '')}")
            except Exception as error:  # noqa: BLE001 - reported as a test failure
                failures.append(f"{finding.rule_id} card ({language}) does not render: {error}")
    for language, wanted in expect.text.items():
        for text in wanted:
            if not any(text in card_text for card_text in texts[language]):
                failures.append(f"expected {text!r} in the text of a card ({language}); not found")
    for language, unwanted in expect.no_text.items():
        for text in unwanted:
            if any(text in card_text for card_text in texts[language]):
                failures.append(f"expected {text!r} in no card text ({language}), but a card has it")
    return failures


def _offered(ruleset: RuleSet, findings: list[Any], snapshot: PatientSnapshot, derived: dict[str, Any]) -> set[str]:
    """Ids of the suggestions the cards of these findings offer (their `when` true or absent)."""
    offered: set[str] = set()
    for finding in findings:
        rule = next(r for r in ruleset.rules if r.id == finding.rule_id and r.variant == finding.variant)
        if rule.card is None:
            continue
        results = ruleset.suggestions_offered(rule, snapshot, derived)
        offered |= {s.id for s in rule.card.spec.suggestions if results.get(s.id, True) is True}
    return offered


def _context(snapshot: PatientSnapshot, parameters: dict[str, Any], derived: dict[str, Any], ruleset: RuleSet) -> dict[str, Any]:
    context: dict[str, Any] = {name: getattr(snapshot, name) for name in type(snapshot).model_fields}
    context.update({name: None for name in ruleset.derived})
    context.update(derived)
    context.update(parameters)
    context["patient_id"] = "test-patient"
    context[LABELS_KEY] = ruleset.labels
    return context


def run_embedded_tests(ruleset: RuleSet, repo: Path | None = None) -> list[CaseResult]:
    """Run every embedded test case of every rule in the set."""
    repo = repo or ruleset.directory.resolve().parent
    results = []
    for parsed in ruleset.loaded.parsed:
        for index, case in enumerate(parsed.model.tests):
            failures = check_case(ruleset, case, repo)
            results.append(CaseResult(parsed.model.id, parsed.file, parsed.doc.line(("tests", index)), case.name, failures))
    return results
