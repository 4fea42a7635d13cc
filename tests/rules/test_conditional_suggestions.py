"""Conditional suggestions: a suggestion with `when:` is offered only when its condition is true.

Olav, 81, is going home after a readmission. The readmission card offers "book
a follow-up" only while no follow-up is booked; once it is booked, the card
still fires but no longer offers it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cds.cards import render_cards
from cds.facts.snapshot import PatientSnapshot
from cds.rules import RuleSet, RuleSetError
from cds.rules.testing import run_embedded_tests

RULE = """
id: readmitted
version: "1.0"
title: {nb: Reinnlagt, en: Readmitted}
hooks: [encounter-discharge]
parameters:
  min_age: {type: int, default: 75, description: youngest age}
when: {fact: age, op: ">=", value: $min_age}
card:
  topic: readmission-risk
  indicator: warning
  summary: {nb: "Risiko for reinnleggelse", en: "Risk of readmission"}
  selection_behavior: any
  suggestions:
    - id: book-follow-up
      label: {nb: Bestill kontroll, en: Book a follow-up}
      when:
        any:
          - {fact: follow_up_booked, op: "==", value: false}
          - {fact: follow_up_booked, unknown: true}
      actions:
        - description: {nb: Kontroll, en: Follow-up}
          resource: {resourceType: ServiceRequest, status: draft, intent: proposal, subject: {reference: "Patient/{{ patient_id }}"}}
    - id: notify-gp
      label: {nb: Varsle fastlegen, en: Notify the GP}
      actions:
        - description: {nb: Varsel, en: Notice}
          resource: {resourceType: CommunicationRequest, status: draft, subject: {reference: "Patient/{{ patient_id }}"}}
source: {paper: test}
tests:
  - name: Olav without a booked follow-up is offered one
    hook: encounter-discharge
    given: {age: 81, follow_up_booked: false}
    expect: {cards: [readmission-risk], suggestions: [book-follow-up, notify-gp]}
  - name: Olav with a booked follow-up is not offered another
    hook: encounter-discharge
    given: {age: 81, follow_up_booked: true}
    expect: {cards: [readmission-risk], suggestions: [notify-gp], no_suggestions: [book-follow-up]}
"""


@pytest.fixture
def ruleset(make_rules: Callable[..., Path]) -> RuleSet:
    return RuleSet.load(make_rules({"r.yaml": RULE}))


def _labels(ruleset: RuleSet, snap: PatientSnapshot) -> list[str]:
    findings = ruleset.evaluate("encounter-discharge", snap)
    (card,) = render_cards(findings, ruleset, snap, language="en", patient_id="olav")
    return [s["label"] for s in card.get("suggestions", [])]


def test_follow_up_is_offered_while_none_is_booked(ruleset: RuleSet, patient) -> None:  # type: ignore[no-untyped-def]
    assert _labels(ruleset, patient(age=81, follow_up_booked=False)) == ["Book a follow-up", "Notify the GP"]


def test_follow_up_is_offered_when_booking_is_unknown_because_the_condition_says_so(ruleset: RuleSet, patient) -> None:  # type: ignore[no-untyped-def]
    assert "Book a follow-up" in _labels(ruleset, patient(age=81))


def test_follow_up_is_not_offered_once_booked(ruleset: RuleSet, patient) -> None:  # type: ignore[no-untyped-def]
    assert _labels(ruleset, patient(age=81, follow_up_booked=True)) == ["Notify the GP"]


def test_a_suggestion_whose_condition_is_unknown_is_not_offered(make_rules: Callable[..., Path], patient) -> None:  # type: ignore[no-untyped-def]
    rule = RULE.split("tests:")[0].replace(
        """        any:
          - {fact: follow_up_booked, op: "==", value: false}
          - {fact: follow_up_booked, unknown: true}""",
        """        {fact: follow_up_booked, op: "==", value: false}""",
    )
    ruleset = RuleSet.load(make_rules({"r.yaml": rule}))
    assert _labels(ruleset, patient(age=81)) == ["Notify the GP"]


def test_explain_shows_each_conditional_suggestion_and_why(ruleset: RuleSet, patient) -> None:  # type: ignore[no-untyped-def]
    trace = ruleset.explain("encounter-discharge", patient(age=81, follow_up_booked=True)).rule("readmitted")
    (suggestion,) = trace.suggestions
    assert (suggestion.suggestion_id, suggestion.offered) == ("book-follow-up", False)
    assert "follow_up_booked = true  == false  -> false" in str(suggestion.conditions[0])
    text = ruleset.explain("encounter-discharge", patient(age=81, follow_up_booked=True)).to_text()
    assert "suggestion book-follow-up: not offered" in text


def test_embedded_tests_check_which_suggestions_are_offered(ruleset: RuleSet) -> None:
    results = run_embedded_tests(ruleset)
    assert [r.failures for r in results] == [[], []]


def test_a_suggestion_condition_is_checked_at_load_like_a_rule_condition(make_rules: Callable[..., Path]) -> None:
    rule = RULE.replace('{fact: follow_up_booked, op: "==", value: false}', '{fact: follow_up_bokked, op: "==", value: false}')
    with pytest.raises(RuleSetError) as error:
        RuleSet.load(make_rules({"r.yaml": rule}))
    assert "unknown fact: the snapshot has no fact 'follow_up_bokked'" in str(error.value)
    assert "r.yaml:18" in str(error.value)  # the line of the misspelt fact


def test_an_embedded_test_expecting_an_unknown_suggestion_is_a_load_error(make_rules: Callable[..., Path]) -> None:
    rule = RULE.replace("suggestions: [notify-gp], no_suggestions", "suggestions: [notify-gpp], no_suggestions")
    with pytest.raises(RuleSetError, match="test expects unknown suggestion 'notify-gpp'"):
        RuleSet.load(make_rules({"r.yaml": rule}))


def test_the_rule_catalogue_lists_when_a_suggestion_is_offered(ruleset: RuleSet) -> None:
    from cds.rules.catalogue_docs import catalogue

    text = catalogue(ruleset)
    assert "Suggestion `book-follow-up` is offered only when:" in text
    assert "`follow_up_booked` is unknown" in text


def test_a_copied_snapshot_with_a_changed_fact_gets_its_own_values(ruleset: RuleSet, patient) -> None:  # type: ignore[no-untyped-def]
    """Expression values are kept per snapshot object: evaluating one snapshot never answers for a changed copy."""
    open_follow_up = patient(age=81, follow_up_booked=False)
    assert _labels(ruleset, open_follow_up) == ["Book a follow-up", "Notify the GP"]
    booked = open_follow_up.model_copy(update={"follow_up_booked": True})
    assert _labels(ruleset, booked) == ["Notify the GP"]
    assert _labels(ruleset, open_follow_up) == ["Book a follow-up", "Notify the GP"]


def test_suggestion_values_are_the_values_the_projection_gives(ruleset: RuleSet, patient) -> None:  # type: ignore[no-untyped-def]
    """A suggestion condition sees the same engine-safe value as a rule, whether or not the rules ran first."""
    rule = ruleset.rule("readmitted")
    before = ruleset.suggestion_values(rule, patient(age=81, follow_up_booked=False), {})
    snap = patient(age=81, follow_up_booked=False)
    ruleset.evaluate("encounter-discharge", snap)
    assert ruleset.suggestion_values(rule, snap, {}) == before == {"follow_up_booked": False}
