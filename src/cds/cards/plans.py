"""What each rule's card is in one language, worked out once per rule set instead of on every call.

A card's fixed parts - indicator, source and topic, override reasons, links,
the suggestions' compiled renderers - depend only on the rule, the rule set's
code systems and the language. `card_plan` builds them the first time a rule
variant's card is rendered in a language and keeps them with the rule set, in
their wire form (JSON dicts and lists, shared by every card of the plan: never
change them). The plan is checked against the CDS Hooks models
(`cds.hooks.models.Card`) when it is made: the fixed parts, and a card with
every suggestion of the plan, so what the spec requires of a card's structure
(enums, ``selectionBehavior`` with suggestions, at most one recommended
suggestion with ``at-most-one``) holds for every card made from it, whichever
suggestions a call leaves out. A card of a call then checks only what the
patient changes (texts, suggestion resources), see `cds.cards.render`.

The plans of a rule set live as long as the rule set does (a weak-keyed
table, so a hot-reloaded rule set takes its plans with it); a plan is never
changed once made, and two threads that make the same plan at once make
equal ones.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from cds.cards.templates import CONTEXT_NAMES, CompiledTemplate, Renderer, compile_value, strings_in
from cds.cards.topics import Topic
from cds.hooks.models import SUMMARY_MAX, Action, Card, Coding, Link, OverrideReason, Source, Suggestion, to_json_dict

if TYPE_CHECKING:
    from cds.rules.model import Rule
    from cds.rules.ruleset import RuleSet

OVERRIDE_REASON_SYSTEM = "https://fhir.cds-frailty.no/CodeSystem/override-reason"

log = logging.getLogger(__name__)


def fit_summary(text: str) -> str:
    """A card summary on one line and under `SUMMARY_MAX` characters (shortened with "…", logged)."""
    text = " ".join(text.split())
    if len(text) < SUMMARY_MAX:
        return text
    log.warning("card summary longer than %d characters was shortened", SUMMARY_MAX - 1)
    return text[: SUMMARY_MAX - 2].rstrip() + "…"


@dataclass(frozen=True)
class SuggestionPlan:
    """One suggestion of a card in one language."""

    id: str
    recommended: bool | None  # True or None (the wire leaves out false)
    context_names: tuple[str, ...]  # call-context names its templates read, sorted
    label: Renderer
    actions: tuple[tuple[str, Renderer, Renderer], ...]  # (type, description, resource) per action; resources pruned


@dataclass(frozen=True)
class CardPlan:
    """One rule variant's card in one language."""

    rule: Rule
    summary: CompiledTemplate
    detail: CompiledTemplate | None
    title: str  # the summary when the card text cannot render (fitted, checked)
    indicator: str  # the wire forms below are shared by every card of the plan
    source: dict[str, Any]
    override_reasons: list[dict[str, Any]] | None
    links: list[dict[str, Any]] | None
    selection_behavior: str | None
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
            (
                a.type,
                compile_value(getattr(a.description, language), templates),
                # constants as the wire carries them (a YAML date as its ISO text); templated strings stay as they are
                compile_value(to_jsonable_python(a.resource), templates, prune=True),
            )
            for a in spec.actions
        ),
    )


def _card_plan(rule: Rule, language: str, topic_system: str, topics: Mapping[str, Topic]) -> CardPlan:
    card = rule.card
    assert card is not None
    spec = card.spec
    title = spec.source_label or rule.definition.title
    source = Source(
        label=getattr(title, language),
        topic=Coding(system=topic_system, code=spec.topic, display=topics[spec.topic].display(language)),
    )
    override_reasons = [
        OverrideReason(system=OVERRIDE_REASON_SYSTEM, code=r.code, display=getattr(r.display, language))
        for r in spec.override_reasons
    ]
    links = [Link(label=getattr(link.label, language), url=link.url, type=link.type) for link in spec.links]
    fallback = fit_summary(getattr(rule.definition.title, language))
    fixed = Card(  # the card's structure, with every suggestion; raises ValidationError when it breaks the spec
        uuid="plan",
        summary=fallback,
        indicator=spec.indicator,
        source=source,
        suggestions=[
            Suggestion(
                label=s.id,
                uuid=s.id,
                isRecommended=s.recommended or None,
                actions=[Action(type=a.type, description=s.id, resource={"resourceType": "plan"}) for a in s.actions],
            )
            for s in spec.suggestions
        ]
        or None,
        selectionBehavior=spec.selection_behavior,
        overrideReasons=override_reasons or None,
        links=links or None,
    )
    wire = to_json_dict(fixed)
    return CardPlan(
        rule=rule,
        summary=card.summary[language],
        detail=card.detail.get(language),
        title=fallback,
        indicator=wire["indicator"],
        source=wire["source"],
        override_reasons=wire.get("overrideReasons"),
        links=wire.get("links"),
        selection_behavior=wire.get("selectionBehavior"),
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
