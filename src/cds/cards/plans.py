"""What each rule's card is in one language, worked out once per rule set instead of on every call.

A card's fixed parts - indicator, source and topic, override reasons, links,
the suggestions' compiled renderers - depend only on the rule, the rule set's
code systems and the language. `card_plan` builds them the first time a rule
variant's card is rendered in a language and keeps them with the rule set: the
fixed parts as validated (frozen, shareable) wire models, so a card of a call
validates only what the patient changes (texts, suggestions, uuids).

The plans of a rule set live as long as the rule set does (a weak-keyed
table, so a hot-reloaded rule set takes its plans with it); a plan is never
changed once made, and two threads that make the same plan at once make
equal ones.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cds.cards.templates import CONTEXT_NAMES, CompiledTemplate, Renderer, compile_value, strings_in
from cds.cards.topics import Topic
from cds.hooks.models import Coding, Indicator, Link, OverrideReason, SelectionBehavior, Source

if TYPE_CHECKING:
    from cds.rules.model import Rule
    from cds.rules.ruleset import RuleSet

OVERRIDE_REASON_SYSTEM = "https://fhir.cds-frailty.no/CodeSystem/override-reason"


@dataclass(frozen=True)
class SuggestionPlan:
    """One suggestion of a card in one language."""

    id: str
    recommended: bool | None  # True or None (the wire leaves out false)
    context_names: tuple[str, ...]  # call-context names its templates read, sorted
    label: Renderer
    actions: tuple[tuple[str, Renderer, Renderer], ...]  # (type, description, resource) per action


@dataclass(frozen=True)
class CardPlan:
    """One rule variant's card in one language."""

    rule: Rule
    summary: CompiledTemplate
    detail: CompiledTemplate | None
    title: str  # shown as the summary when the card text cannot render
    indicator: Indicator
    source: Source
    override_reasons: tuple[OverrideReason, ...]
    links: tuple[Link, ...]
    selection_behavior: SelectionBehavior | None
    suggestions: tuple[SuggestionPlan, ...]


def _suggestion_plan(spec: Any, templates: Mapping[str, CompiledTemplate], language: str) -> SuggestionPlan:
    texts = [getattr(spec.label, language)]
    for action in spec.actions:
        texts += [getattr(action.description, language), *strings_in(action.resource)]
    names = {name for text in texts for name in templates[text].names}
    return SuggestionPlan(
        id=spec.id,
        recommended=spec.recommended or None,
        context_names=tuple(sorted(n for n in names if n in CONTEXT_NAMES)),
        label=compile_value(getattr(spec.label, language), templates),
        actions=tuple(
            (a.type, compile_value(getattr(a.description, language), templates), compile_value(a.resource, templates))
            for a in spec.actions
        ),
    )


def _card_plan(rule: Rule, language: str, topic_system: str, topics: Mapping[str, Topic]) -> CardPlan:
    card = rule.card
    assert card is not None
    spec = card.spec
    title = spec.source_label or rule.definition.title
    return CardPlan(
        rule=rule,
        summary=card.summary[language],
        detail=card.detail.get(language),
        title=getattr(rule.definition.title, language),
        indicator=Indicator(spec.indicator),
        source=Source(
            label=getattr(title, language),
            topic=Coding(system=topic_system, code=spec.topic, display=topics[spec.topic].display(language)),
        ),
        override_reasons=tuple(
            OverrideReason(system=OVERRIDE_REASON_SYSTEM, code=r.code, display=getattr(r.display, language))
            for r in spec.override_reasons
        ),
        links=tuple(Link(label=getattr(link.label, language), url=link.url, type=link.type) for link in spec.links),
        selection_behavior=SelectionBehavior(spec.selection_behavior) if spec.selection_behavior else None,
        suggestions=tuple(_suggestion_plan(s, card.suggestion_templates, language) for s in spec.suggestions),
    )


class RulesetCards:
    """The card plans of one rule set. Holds no reference to the rule set (it is the key of a weak table)."""

    def __init__(self, ruleset: RuleSet) -> None:
        self._rules: dict[tuple[str, str | None], Rule] = {}
        for rule in ruleset.rules:
            self._rules.setdefault((rule.id, rule.variant), rule)
        self._topic_system = ruleset.topic_system
        self._topics = ruleset.topics
        self._plans: dict[tuple[str, str | None, str], CardPlan] = {}

    def rule(self, rule_id: str, variant: str | None) -> Rule | None:
        return self._rules.get((rule_id, variant))

    def plan(self, rule_id: str, variant: str | None, language: str) -> CardPlan | None:
        """The plan of a rule variant's card in a language (None when there is no such rule or it has no card)."""
        key = (rule_id, variant, language)
        plan = self._plans.get(key)
        if plan is None:
            rule = self._rules.get((rule_id, variant))
            if rule is None or rule.card is None:
                return None
            plan = self._plans[key] = _card_plan(rule, language, self._topic_system, self._topics)
        return plan


_TABLE: weakref.WeakKeyDictionary[RuleSet, RulesetCards] = weakref.WeakKeyDictionary()
_TABLE_LOCK = threading.Lock()


def ruleset_cards(ruleset: RuleSet) -> RulesetCards:
    """The card plans of a rule set, made on first use and dropped with the rule set."""
    cards = _TABLE.get(ruleset)
    if cards is None:
        with _TABLE_LOCK:
            cards = _TABLE.get(ruleset)
            if cards is None:
                cards = _TABLE[ruleset] = RulesetCards(ruleset)
    return cards
