"""Findings -> CDS Hooks cards, in Norwegian bokmål (``nb``, default) or English (``en``).

Every card carries ``source.topic`` (card-topic code system), and in
``extension`` the provenance ``{"no.cds-frailty.provenance": {"ruleId",
"ruleVersion", "rulesetDigest"}}`` so any card can be traced to the exact rule
text that made it. Suggestion uuids derive from the card uuid and the
suggestion id (uuid5, see `cds.cards.ids`), so feedback can name the
suggestion. A suggestion whose template needs a context value the call does
not have (e.g. no encounter in a patient-view call) is left out rather than
sent half-filled, and a suggestion with a ``when`` is offered only when that
condition is true for the patient.

A card is its CDS Hooks JSON object (a dict, served as it is). Its fixed parts
come from its `cds.cards.plans.CardPlan`, made and checked against the CDS
Hooks models once per rule set and language; per card, only the texts, the
suggestions and the uuids are made, and checked here for what the spec asks
of them: a summary of 1 to 139 characters, no empty detail, label or action
description, a suggestion resource without null or empty members (pruned, as
`cds.hooks.models.wire_object` does; a suggestion whose resource is left
empty is left out), ``selectionBehavior`` exactly when there are suggestions.
The tests validate every card the bundled rules render against
`cds.hooks.models.Card`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateError

from cds.cards.helpers import LABELS_KEY
from cds.cards.ids import derived_uuid, namespace_bytes, random_uuid, random_uuids
from cds.cards.plans import OVERRIDE_REASON_SYSTEM, CardPlan, RulesetCards, fit_summary, ruleset_cards
from cds.cards.templates import environment
from cds.facts.snapshot import PatientSnapshot
from cds.hooks.models import wire_object

if TYPE_CHECKING:
    from cds.rules.model import Finding
    from cds.rules.ruleset import RuleSet

__all__ = ["LANGUAGES", "OVERRIDE_REASON_SYSTEM", "PROVENANCE", "WireCard", "render_card", "render_cards"]

log = logging.getLogger(__name__)

LANGUAGES = ("nb", "en")
PROVENANCE = "no.cds-frailty.provenance"

# A card as CDS Hooks JSON: ``uuid``, ``summary``, ``indicator``, ``source`` ... (see `cds.hooks.models.Card`).
# Its ``source``, ``overrideReasons`` and ``links`` are shared with its plan: read a card, never change it.
WireCard = dict[str, Any]


_TEMPLATE_ERRORS = (TemplateError, TypeError, ValueError, AttributeError, ArithmeticError, LookupError)


class _CallContext:
    """The template values every card of one call shares, made once per call.

    A card's template context is ``{**globals of its environment, **snapshot
    facts, **derived facts, **rule parameters, patient_id, labels}`` (later
    entries win). Everything but the rule parameters is the same for every
    card of the call, so it is merged once per environment (card language;
    None for suggestion texts) and each card adds only its parameters.
    """

    def __init__(
        self, snapshot: PatientSnapshot, derived: dict[str, Any], ruleset: RuleSet, patient_id: str | None, strict: bool
    ) -> None:
        fields = type(snapshot).model_fields
        if snapshot.__dict__.keys() == fields.keys():  # a pydantic model keeps its field values there
            facts = dict(snapshot.__dict__)
        else:  # e.g. model_copy(update=...) with a name that is not a field
            facts = {name: getattr(snapshot, name) for name in fields}
        facts.update({name: None for name in ruleset.derived})  # a derived fact no finding set is unknown
        facts.update(derived)
        self._facts = facts
        self._call = {"patient_id": patient_id, LABELS_KEY: ruleset.labels}
        self._strict = strict
        self._merged: dict[str | None, dict[str, Any]] = {}

    def for_card(self, parameters: dict[str, Any], language: str | None) -> dict[str, Any]:
        """The prepared context (see `cds.cards.templates.prepared_context`) of one card's templates."""
        merged = self._merged.get(language)
        if merged is None:
            merged = self._merged[language] = {**environment(language, strict=self._strict).globals, **self._facts}
        return {**merged, **parameters, **self._call}


class _Unfit(ValueError):
    """A rendered suggestion text or resource that the spec does not allow (empty)."""


def _suggestions(
    plan: CardPlan,
    card_uuid: str,
    namespace: bytes | None,
    context: dict[str, Any],
    strict: bool,
    offered: dict[str, bool | None],
) -> list[dict[str, Any]]:
    """``context`` is prepared for suggestion templates (language None); ``namespace`` holds the
    bytes of ``card_uuid`` when they are known (else they are read from it)."""
    rule = plan.rule
    out: list[dict[str, Any]] = []
    for suggestion in plan.suggestions:
        if offered.get(suggestion.id, True) is not True:  # its `when` is false or unknown
            continue
        missing = [n for n in suggestion.context_names if context.get(n) is None]
        if missing:
            log.info("suggestion %s of %s left out: no %s in this call", suggestion.id, rule.id, ", ".join(missing))
            continue
        try:
            actions = []
            for kind, description, resource in suggestion.actions:
                text = description(context, strict)
                body = resource(context, strict)  # without null or empty members (see `SuggestionPlan`)
                if not text or not body:
                    raise _Unfit("an action description or resource is empty")
                actions.append({"type": kind, "description": text, "resource": body})
            label = suggestion.label(context, strict)
            if not label:
                raise _Unfit("the label is empty")
            namespace = namespace or namespace_bytes(card_uuid)
        except _TEMPLATE_ERRORS as error:
            if strict:
                raise
            log.warning("suggestion %s of rule %s left out: %s", suggestion.id, rule.id, type(error).__name__)
            continue
        wire: dict[str, Any] = {"label": label, "uuid": derived_uuid(namespace, suggestion.id)}
        if suggestion.recommended:
            wire["isRecommended"] = True
        wire["actions"] = actions
        out.append(wire)
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
) -> WireCard | None:
    """The card of one finding (None when the rule has no card).

    Serving (``strict`` False) never fails on card text: an unknown value prints
    as "ukjent"/"unknown", a summary over 139 characters is shortened, a text
    that still cannot render (or renders an empty summary) falls back to the
    rule title, and a suggestion that cannot render (or renders an empty text
    or resource) is left out, each logged without patient data. ``strict``
    (embedded tests) raises instead.
    """
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; use one of {', '.join(LANGUAGES)}")
    cards = ruleset_cards(ruleset)
    plan = cards.plan(finding.rule_id, finding.variant, language)
    if plan is None:
        return None
    all_derived = derived if derived is not None else dict(finding.derived)
    call = _CallContext(snapshot, all_derived, ruleset, patient_id, strict)
    uuid_and_bytes = (card_uuid, None) if card_uuid else random_uuid()
    return _card(plan, finding, ruleset, snapshot, call, all_derived, language, uuid_and_bytes, strict)


def _card(
    plan: CardPlan,
    finding: Finding,
    ruleset: RuleSet,
    snapshot: PatientSnapshot,
    call: _CallContext,
    all_derived: dict[str, Any],
    language: str,
    uuid_and_bytes: tuple[str, bytes | None],
    strict: bool,
) -> WireCard:
    """``uuid_and_bytes``: the card uuid, and its 16 bytes when they are known (else they are read from it)."""
    context = call.for_card(finding.parameters, language)
    card_uuid, namespace = uuid_and_bytes
    try:
        summary = fit_summary(plan.summary.render_prepared(context, strict))
        detail = plan.detail.render_prepared(context, strict).strip() if plan.detail else None
        if not summary:
            raise _Unfit("the summary is empty")
    except _TEMPLATE_ERRORS as error:
        if strict:
            raise
        log.warning("card text of rule %s did not render (%s); showing its title", plan.rule.id, type(error).__name__)
        summary, detail = plan.title, None
    card: WireCard = {"uuid": card_uuid, "summary": summary}
    if detail:
        card["detail"] = detail
    card["indicator"] = plan.indicator
    card["source"] = plan.source
    if plan.suggestions:
        offered = ruleset.suggestions_offered(plan.rule, snapshot, all_derived)
        suggestion_context = call.for_card(finding.parameters, None)
        suggestions = _suggestions(plan, card_uuid, namespace, suggestion_context, strict, offered)
        if suggestions:
            card["suggestions"] = suggestions
            card["selectionBehavior"] = plan.selection_behavior
    if plan.override_reasons:
        card["overrideReasons"] = plan.override_reasons
    if plan.links:
        card["links"] = plan.links
    extension = wire_object(
        {PROVENANCE: {"ruleId": finding.rule_id, "ruleVersion": finding.rule_version, "rulesetDigest": ruleset.digest}}
    )
    if extension:
        card["extension"] = extension
    return card


def render_cards(
    findings: list[Finding],
    ruleset: RuleSet,
    snapshot: PatientSnapshot,
    *,
    language: str = "nb",
    patient_id: str | None = None,
) -> list[WireCard]:
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
    plans: RulesetCards = ruleset_cards(ruleset)
    planned = [(f, plan) for f in findings if (plan := plans.plan(f.rule_id, f.variant, language)) is not None]
    if not planned:
        return []
    call = _CallContext(snapshot, derived, ruleset, patient_id, False)
    uuids = random_uuids(len(planned))  # one read of the random source per call
    return [
        _card(plan, finding, ruleset, snapshot, call, derived, language, uuid_and_bytes, False)
        for (finding, plan), uuid_and_bytes in zip(planned, uuids, strict=True)
    ]
