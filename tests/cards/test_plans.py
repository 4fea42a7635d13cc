"""Card plans: a card's fixed parts are worked out once per rule set and language, from that rule set."""

from __future__ import annotations

import dataclasses
import gc
import shutil
import threading
import weakref
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from cds.cards import render_cards
from cds.cards.plans import ruleset_cards
from cds.facts.snapshot import PatientSnapshot
from cds.rules import RuleSet

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)

RULE = """
id: old
version: "1.0"
title: {nb: Eldre pasient, en: Older patient}
hooks: [encounter-start]
when: {fact: age, op: ">=", value: 70}
card:
  topic: frailty-status
  indicator: info
  summary: {nb: "Alder {{ age }}", en: "Age {{ age }}"}
  links:
    - label: {nb: Veileder, en: Guide}
      url: https://example.org/guide
  override_reasons:
    - {code: not-relevant, display: {nb: Ikke relevant, en: Not relevant}}
  selection_behavior: any
  suggestions:
    - id: note
      label: {nb: Notat, en: Note}
      actions:
        - description: {nb: Oppgave, en: Task}
          resource: {resourceType: Task, for: {reference: "Patient/{{ patient_id }}"}}
source: {paper: test}
"""


def _ruleset(directory: Path, topic_display: str) -> RuleSet:
    (directory / "codesystems").mkdir(parents=True)
    topics = (REPO / "rules" / "codesystems" / "card-topic.yaml").read_text(encoding="utf-8")
    topics = topics.replace('en: "Frailty status"', f'en: "{topic_display}"')
    (directory / "codesystems" / "card-topic.yaml").write_text(topics, encoding="utf-8")
    shutil.copy(REPO / "rules" / "codesystems" / "labels.yaml", directory / "codesystems" / "labels.yaml")
    (directory / "old.yaml").write_text(RULE, encoding="utf-8")
    return RuleSet.load(directory)


def _cards(ruleset: RuleSet, language: str = "en"):  # type: ignore[no-untyped-def]
    snapshot = PatientSnapshot(now=NOW, patient_key="k", age=78)
    return render_cards(ruleset.evaluate("encounter-start", snapshot), ruleset, snapshot, language=language, patient_id="p-1")


@pytest.fixture
def two_rulesets(tmp_path: Path) -> tuple[RuleSet, RuleSet]:
    return _ruleset(tmp_path / "a", "Frailty status A"), _ruleset(tmp_path / "b", "Frailty status B")


def test_each_rule_set_renders_its_own_code_systems(two_rulesets: tuple[RuleSet, RuleSet]) -> None:
    a, b = two_rulesets
    for _ in range(2):  # first call makes the plans, the second uses them
        ((card_a,), (card_b,)) = _cards(a), _cards(b)
        topics = (card_a["source"]["topic"], card_b["source"]["topic"])
        assert (topics[0]["display"], topics[1]["display"]) == ("Frailty status A", "Frailty status B")
        assert card_a["extension"] != card_b["extension"]  # each names its own rule set digest


def test_a_plan_is_made_once_per_rule_and_language(two_rulesets: tuple[RuleSet, RuleSet]) -> None:
    ruleset, _ = two_rulesets
    plans = ruleset_cards(ruleset)
    assert plans is ruleset_cards(ruleset)
    nb, en = plans.plan("old", None, "nb"), plans.plan("old", None, "en")
    assert nb is not None and en is not None
    assert nb is plans.plan("old", None, "nb") and nb is not en
    assert (nb.source["label"], en.source["label"]) == ("Eldre pasient", "Older patient")
    assert plans.plan("no-such-rule", None, "nb") is None


def test_cards_share_the_fixed_parts_of_their_plan_and_make_their_own_parts_new(
    two_rulesets: tuple[RuleSet, RuleSet],
) -> None:
    ruleset, _ = two_rulesets
    (first,), (second,) = _cards(ruleset), _cards(ruleset)
    plan = ruleset_cards(ruleset).plan("old", None, "en")
    assert plan is not None
    assert first["source"] is second["source"] is plan.source
    assert first["overrideReasons"] is plan.override_reasons and first["links"] is plan.links
    assert first["uuid"] != second["uuid"] and first["suggestions"] is not second["suggestions"]
    assert first["extension"] is not second["extension"]


def test_a_plan_is_checked_against_the_card_model_with_all_its_suggestions(two_rulesets: tuple[RuleSet, RuleSet]) -> None:
    """The spec's structural rules (here: at most one recommended suggestion with at-most-one) hold for
    every card of a plan, because the plan's card with every suggestion is validated when the plan is made."""
    from cds.cards.plans import _card_plan

    ruleset, _ = two_rulesets
    plans = ruleset_cards(ruleset)
    rule = plans.rule("old", None)
    assert rule is not None and rule.card is not None
    spec = rule.card.spec
    one = spec.suggestions[0]
    two = spec.model_copy(
        update={
            "selection_behavior": "at-most-one",
            "suggestions": [one.model_copy(update={"recommended": True}), one.model_copy(update={"id": "b", "recommended": True})],
        }
    )
    broken = dataclasses.replace(rule, card=dataclasses.replace(rule.card, spec=two))
    with pytest.raises(ValidationError, match="at most one suggestion may be recommended"):
        _card_plan(broken, "en", ruleset.topic_system, ruleset.topics)


def test_the_plans_of_a_rule_set_go_with_the_rule_set(tmp_path: Path) -> None:
    from cds.cards import plans

    ruleset = _ruleset(tmp_path, "Frailty status")
    _cards(ruleset)
    gone = weakref.ref(ruleset)
    assert ruleset in plans._TABLE
    before = len(plans._TABLE)
    del ruleset
    gc.collect()
    assert gone() is None  # its plans do not keep it alive
    assert len(plans._TABLE) <= before - 1


def test_threads_get_one_plan_table_per_rule_set(two_rulesets: tuple[RuleSet, RuleSet]) -> None:
    ruleset, _ = two_rulesets
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(ruleset_cards(ruleset))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and all(s is seen[0] for s in seen)
