"""Fixtures for the clinical rule tests: the bundled rule set, evaluated through the real engine.

`Clinic.evaluate(hook, **facts)` builds a `PatientSnapshot` from inline facts
(``now`` defaults to 15 January 2025, noon UTC), runs the rule set through the
durable-rules engine and renders every card in nb and en, so each test reads
as "this patient, at this moment, gets these cards". The cards are served as
CDS Hooks JSON; each is validated against the spec's `Card` model here (so
every scenario checks that what would be served is a valid card), and the
tests read that model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cds.rules.ruleset import RuleSet  # noqa: I001 - import the rules package before cds.cards (import cycle)
from cds.cards.render import render_cards
from cds.facts.snapshot import PatientSnapshot
from cds.hooks.models import Card
from cds.rules.model import Finding

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules"
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
PATHWAY_TOPICS = ("pathway-a", "pathway-b", "pathway-c")


@dataclass(frozen=True)
class Result:
    """What one evaluation gave: the findings and the rendered cards per language."""

    findings: list[Finding]
    cards: dict[str, list[Card]]
    derived: dict[str, Any]

    @property
    def rule_ids(self) -> list[str]:
        return [f.rule_id for f in self.findings]

    @property
    def topics(self) -> set[str]:
        return {c.source.topic.code for c in self.cards["nb"] if c.source.topic is not None}

    def fired(self, rule_id: str) -> bool:
        return rule_id in self.rule_ids

    def card(self, topic: str, language: str = "nb") -> Card:
        (card,) = {
            c.summary: c for c in self.cards[language] if c.source.topic and c.source.topic.code == topic
        }.values()
        return card


class Clinic:
    """Evaluates patients against the bundled rule set."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset

    def snapshot(self, **facts: Any) -> PatientSnapshot:
        facts.setdefault("now", NOW)
        facts.setdefault("patient_key", "clinical-test")
        return PatientSnapshot.model_validate(facts)

    def evaluate(self, hook: str, **facts: Any) -> Result:
        return self.run(hook, self.snapshot(**facts))

    def run(self, hook: str, snapshot: PatientSnapshot) -> Result:
        outcome = self.ruleset.run(hook, snapshot)
        cards = {
            lang: [
                Card.model_validate(card)
                for card in render_cards(outcome.findings, self.ruleset, snapshot, language=lang, patient_id="p-test")
            ]
            for lang in ("nb", "en")
        }
        return Result(findings=outcome.findings, cards=cards, derived=dict(outcome.derived))


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    return RuleSet.load(RULES)


@pytest.fixture(scope="session")
def clinic(ruleset: RuleSet) -> Clinic:
    return Clinic(ruleset)
