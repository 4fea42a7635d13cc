"""Rule 9 (wording): no card promises a municipal service; cards describe function and needs.

The hospital describes the patient's function; the municipality decides which
services to give (000:742, 000:2774-2783, 000:2813-2823). PLO messages and
records are visible to patients on helsenorge.no (000:2325-2333), so card text
is professional and caring. These tests read every card text of every rule file
(summary, detail, suggestion labels, action descriptions and resource strings).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cds.cards.templates import strings_in
from cds.rules.ruleset import RuleSet

REPO = Path(__file__).resolve().parents[2]

# Phrases that promise, grant or allocate a service on the municipality's behalf.
PROMISES = [
    r"\bvil få\b",
    r"\bfår (?:plass|tildelt|innvilget)\b",
    r"\binnvilg",
    r"\btildelt (?:plass|sykehjemsplass|korttidsplass)",
    r"\bsøkt om (?:sykehjemsplass|korttidsplass|plass)\b",
    r"\bgarant",
    r"\blove[rs]?\b",
    r"\bwill (?:get|receive|be given|be granted)\b",
    r"\b(?:is|are|has been) granted\b",
    r"\bguarantee",
    r"\bpromis",
]
# Labels that are not professional or caring when a patient reads them.
UNKIND = [r"bed ?blocker", r"sengeblokker", r"\bproblempasient", r"\bbelastning for\b", r"\bburden\b"]


def card_texts(ruleset: RuleSet) -> list[tuple[str, str]]:
    """(rule id, text) for every clinician- or patient-facing text of every card."""
    texts: list[tuple[str, str]] = []
    for rule in ruleset.rules:
        card = rule.definition.card
        if card is None:
            continue
        items: list[Any] = [card.summary, card.detail, *(r.display for r in card.override_reasons)]
        for suggestion in card.suggestions:
            items.append(suggestion.label)
            for action in suggestion.actions:
                items.append(action.description)
                texts += [(rule.id, s) for s in strings_in(action.resource)]
        for item in items:
            if item is not None:
                texts += [(rule.id, item.nb), (rule.id, item.en)]
    return texts


@pytest.mark.parametrize("pattern", PROMISES)
def test_no_card_promises_a_municipal_service(ruleset: RuleSet, pattern: str) -> None:
    offending = [(rule_id, text) for rule_id, text in card_texts(ruleset) if re.search(pattern, text, re.IGNORECASE)]
    assert offending == []


@pytest.mark.parametrize("pattern", UNKIND)
def test_no_card_uses_unkind_labels(ruleset: RuleSet, pattern: str) -> None:
    offending = [(rule_id, text) for rule_id, text in card_texts(ruleset) if re.search(pattern, text, re.IGNORECASE)]
    assert offending == []


def test_cards_about_municipal_collaboration_say_the_municipality_decides(ruleset: RuleSet) -> None:
    detail = ruleset.rule("pathway-c").definition.card.detail  # type: ignore[union-attr]
    assert detail is not None
    assert "kommunen vurderer og tildeler tjenester" in detail.nb
    assert "the municipality assesses and decides on services" in detail.en


def test_the_wording_check_catches_a_promise() -> None:
    assert re.search(PROMISES[0], "Pasienten vil få sykehjemsplass", re.IGNORECASE)
    assert re.search(PROMISES[7], "The patient will receive a short-term stay", re.IGNORECASE)


def test_every_rule_is_documented_in_clinical_rules_md_with_its_seed_sources(ruleset: RuleSet) -> None:
    doc = (REPO / "docs" / "clinical-rules.md").read_text(encoding="utf-8")
    missing = [r.id for r in ruleset.rules if f"`{r.id}`" not in doc]
    assert missing == []
    for rule in ruleset.rules:
        for ref in rule.definition.source.seed:
            short = re.sub(r"^(\d{3})_[0-9a-f]+\.txt", r"\1", ref)
            assert short.split(":")[0] in {"000", "001", "002", "003", "004"}, ref


def test_every_threshold_parameter_names_its_source(ruleset: RuleSet) -> None:
    unsourced = [
        f"{rule.id}.{name}"
        for rule in ruleset.rules
        for name, parameter in rule.definition.parameters.items()
        if not (parameter.source or "").strip()
    ]
    assert unsourced == []
