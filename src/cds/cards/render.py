"""Findings -> CDS Hooks cards, in Norwegian bokmål (``nb``, default) or English (``en``).

Every card carries ``source.topic`` (card-topic code system), and in
``extension`` the provenance ``{"no.cds-frailty.provenance": {"ruleId",
"ruleVersion", "rulesetDigest"}}`` so any card can be traced to the exact rule
text that made it. Suggestion uuids derive from the card uuid and the
suggestion id (uuid5), so feedback can name the suggestion. A suggestion whose
template needs a context value the call does not have (e.g. no encounter in a
patient-view call) is left out rather than sent half-filled, and a suggestion
with a ``when`` is offered only when that condition is true for the patient.
"""

from __future__ import annotations

import logging
import uuid as _uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateError
from pydantic import ValidationError

from cds.cards.helpers import LABELS_KEY
from cds.cards.templates import CONTEXT_NAMES, Renderer, compile_value, prepared_context, strings_in
from cds.facts.snapshot import PatientSnapshot
from cds.hooks.models import (
    SUMMARY_MAX,
    Action,
    Card,
    Coding,
    Link,
    OverrideReason,
    Source,
    Suggestion,
)

if TYPE_CHECKING:
    from cds.rules.model import Finding, Rule
    from cds.rules.ruleset import RuleSet

log = logging.getLogger(__name__)

LANGUAGES = ("nb", "en")
OVERRIDE_REASON_SYSTEM = "https://fhir.cds-frailty.no/CodeSystem/override-reason"
PROVENANCE = "no.cds-frailty.provenance"


def _fit_summary(text: str) -> str:
    text = " ".join(text.split())
    if len(text) < SUMMARY_MAX:
        return text
    log.warning("card summary longer than %d characters was shortened", SUMMARY_MAX - 1)
    return text[: SUMMARY_MAX - 2].rstrip() + "…"


def _base_context(snapshot: PatientSnapshot, derived: dict[str, Any], ruleset: RuleSet) -> dict[str, Any]:
    """What every card of a call sees: the snapshot's top-level facts, then the derived facts (None when not set)."""
    context: dict[str, Any] = {name: getattr(snapshot, name) for name in type(snapshot).model_fields}
    context.update({name: None for name in ruleset.derived})
    context.update(derived)
    return context


def _context(base: dict[str, Any], finding: Finding, ruleset: RuleSet, patient_id: str | None) -> dict[str, Any]:
    """A card's template values: the call's base context, the rule's parameters, the call context and labels."""
    return {**base, **finding.parameters, "patient_id": patient_id, LABELS_KEY: ruleset.labels}


_TEMPLATE_ERRORS = (TemplateError, TypeError, ValueError, AttributeError, ArithmeticError, LookupError)


@dataclass(frozen=True)
class _SuggestionPlan:
    """What one suggestion needs in one language, worked out once per (card, suggestion, language)."""

    texts: tuple[str, ...]  # every text it renders (label, action descriptions, resource strings)
    context_names: tuple[str, ...]  # call-context names its templates read, sorted
    label: Renderer
    actions: tuple[tuple[Any, Renderer, Renderer], ...]  # (type, description, resource) per action


def _plan(rule: Rule, spec: Any, language: str) -> _SuggestionPlan:
    assert rule.card is not None
    key = (spec.id, language)
    plan = rule.card.plans.get(key)
    if plan is None:
        texts = [getattr(spec.label, language)]
        for action in spec.actions:
            texts += [getattr(action.description, language), *strings_in(action.resource)]
        names: set[str] = set()
        for text in texts:
            names |= rule.card.suggestion_templates[text].names
        templates = rule.card.suggestion_templates
        plan = _SuggestionPlan(
            texts=tuple(texts),
            context_names=tuple(sorted(n for n in names if n in CONTEXT_NAMES)),
            label=compile_value(getattr(spec.label, language), templates),
            actions=tuple(
                (a.type, compile_value(getattr(a.description, language), templates), compile_value(a.resource, templates))
                for a in spec.actions
            ),
        )
        rule.card.plans[key] = plan
    return plan


def _suggestions(
    rule: Rule, card_uuid: str, context: dict[str, Any], language: str, strict: bool, offered: dict[str, bool | None]
) -> list[Suggestion]:
    """``context`` is prepared for suggestion templates (`prepared_context` with language None)."""
    assert rule.card is not None
    out: list[Suggestion] = []
    namespace: _uuid.UUID | None = None
    for spec in rule.card.spec.suggestions:
        if offered.get(spec.id, True) is not True:  # its `when` is false or unknown
            continue
        plan = _plan(rule, spec, language)
        missing = [n for n in plan.context_names if context.get(n) is None]
        if missing:
            log.info("suggestion %s of %s left out: no %s in this call", spec.id, rule.id, ", ".join(missing))
            continue
        try:
            actions = [
                Action(type=kind, description=description(context, strict), resource=resource(context, strict))
                for kind, description, resource in plan.actions
            ]
            namespace = namespace or _uuid.UUID(card_uuid)
            suggestion = Suggestion(
                label=plan.label(context, strict),
                uuid=str(_uuid.uuid5(namespace, spec.id)),
                isRecommended=spec.recommended or None,
                actions=actions,
            )
        except (*_TEMPLATE_ERRORS, ValidationError) as error:
            if strict:
                raise
            log.warning("suggestion %s of rule %s left out: %s", spec.id, rule.id, type(error).__name__)
            continue
        out.append(suggestion)
    return out


def render_card(
    finding: Finding,
    ruleset: RuleSet,
    snapshot: PatientSnapshot,
    *,
    language: str = "nb",
    patient_id: str | None = None,
    derived: dict[str, Any] | None = None,
    card_uuid: str | None = None,
    strict: bool = False,
) -> Card | None:
    """The card of one finding (None when the rule has no card).

    Serving (``strict`` False) never fails on card text: an unknown value prints
    as "ukjent"/"unknown", a summary over 139 characters is shortened, a text
    that still cannot render falls back to the rule title, and a suggestion that
    cannot render is left out (each logged without patient data). ``strict``
    (embedded tests) raises instead.
    """
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; use one of {', '.join(LANGUAGES)}")
    rule = next((r for r in ruleset.rules if r.id == finding.rule_id and r.variant == finding.variant), None)
    if rule is None or rule.card is None:
        return None
    all_derived = derived if derived is not None else dict(finding.derived)
    base = _base_context(snapshot, all_derived, ruleset)
    return _card(rule, finding, ruleset, snapshot, base, all_derived, language, patient_id, card_uuid, strict)


def _card(
    rule: Rule,
    finding: Finding,
    ruleset: RuleSet,
    snapshot: PatientSnapshot,
    base: dict[str, Any],
    all_derived: dict[str, Any],
    language: str,
    patient_id: str | None,
    card_uuid: str | None,
    strict: bool,
) -> Card:
    assert rule.card is not None
    spec = rule.card.spec
    values = _context(base, finding, ruleset, patient_id)
    context = prepared_context(values, language, strict)
    card_uuid = card_uuid or str(_uuid.uuid4())
    label_text = spec.source_label or rule.definition.title
    summary_t, detail_t = rule.card.summary[language], rule.card.detail.get(language)
    try:
        summary = summary_t.render_prepared(context, strict)
        detail = detail_t.render_prepared(context, strict).strip() if detail_t else None
    except _TEMPLATE_ERRORS as error:
        if strict:
            raise
        log.warning("card text of rule %s did not render (%s); showing its title", rule.id, type(error).__name__)
        summary, detail = getattr(rule.definition.title, language), None
    summary = _fit_summary(summary)
    topic = ruleset.topics[spec.topic]
    suggestions: list[Suggestion] = []
    if spec.suggestions:
        offered = ruleset.suggestions_offered(rule, snapshot, all_derived)
        suggestions = _suggestions(rule, card_uuid, prepared_context(values, None, strict), language, strict, offered)
    return Card(
        uuid=card_uuid,
        summary=summary,
        detail=detail or None,
        indicator=spec.indicator,
        source=Source(
            label=getattr(label_text, language),
            topic=Coding(system=ruleset.topic_system, code=spec.topic, display=topic.display(language)),
        ),
        suggestions=suggestions or None,
        selectionBehavior=spec.selection_behavior if suggestions else None,
        overrideReasons=[
            OverrideReason(system=OVERRIDE_REASON_SYSTEM, code=r.code, display=getattr(r.display, language))
            for r in spec.override_reasons
        ]
        or None,
        links=[Link(label=getattr(link.label, language), url=link.url, type=link.type) for link in spec.links] or None,
        extension={
            PROVENANCE: {"ruleId": finding.rule_id, "ruleVersion": finding.rule_version, "rulesetDigest": ruleset.digest}
        },
    )


def render_cards(
    findings: list[Finding],
    ruleset: RuleSet,
    snapshot: PatientSnapshot,
    *,
    language: str = "nb",
    patient_id: str | None = None,
) -> list[Card]:
    """Cards for the findings that have one, in finding order.

    ``patient_id`` is the FHIR Patient id of the call, used only inside
    suggestion resources (``Patient/{{ patient_id }}``); without it such
    suggestions are left out.
    """
    if findings and language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; use one of {', '.join(LANGUAGES)}")
    derived: dict[str, Any] = {}
    for finding in findings:
        derived.update(finding.derived)
    rules: dict[tuple[str, str | None], Rule] = {}
    for rule in ruleset.rules:
        rules.setdefault((rule.id, rule.variant), rule)
    base: dict[str, Any] | None = None  # built once per call, for the first card
    cards = []
    for finding in findings:
        rule = rules.get((finding.rule_id, finding.variant))
        if rule is None or rule.card is None:
            continue
        if base is None:
            base = _base_context(snapshot, derived, ruleset)
        cards.append(_card(rule, finding, ruleset, snapshot, base, derived, language, patient_id, None, False))
    return cards
