"""Medications, medication reconciliation and medication review."""

from __future__ import annotations

from bisect import bisect_right
from datetime import date
from typing import Any

from cds.facts.clinical import procedure_date
from cds.facts.context import BuildContext, Timeline, as_date, as_datetime, codings_of, concept_text, reference_of
from cds.facts.snapshot import MedicationFact

__all__ = ["medication_facts"]

_STATEMENT_ACTIVE = frozenset({"active", "intended", "on-hold"})
_STATEMENT_LISTED = _STATEMENT_ACTIVE | {"completed", "stopped"}
_REQUEST_ACTIVE = frozenset({"active", "on-hold"})
_REQUEST_LISTED = _REQUEST_ACTIVE | {"completed", "stopped"}
_REQUEST_INTENTS = frozenset({"order", "original-order", "plan", "reflex-order", "filler-order", "instance-order"})


def medication_facts(ctx: BuildContext) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if ctx.known("MedicationStatement") or ctx.known("MedicationRequest"):
        medications = _medications(ctx)
        facts["medications"] = tuple(medications)
        facts["active_medication_count"] = len({_identity(m) for m in medications if m.active})
    facts["medication_reconciled"] = _reconciled(ctx)
    facts["last_medication_review"] = _last_review(ctx)
    return facts


def _medication(ctx: BuildContext, resource: Any, active: bool) -> MedicationFact:
    """The MedicationFact of a statement or request whose drug is a reference (resolved in this build's data)."""
    concept = None
    if resource.medicationReference is not None:
        medication = ctx.resources.resolve(resource.medicationReference)
        concept = getattr(medication, "code", None)
        if concept is None:
            display = getattr(resource.medicationReference, "display", None)
            return MedicationFact(codings=(), active=active, text=display)
    return _coded_medication(concept, active)


def _coded_medication(concept: Any, active: bool) -> MedicationFact:
    return MedicationFact(codings=codings_of(concept), active=active, text=concept_text(concept))


#: per type: (listed statuses, active statuses, intents required or None)
_LISTED = {
    "MedicationStatement": (_STATEMENT_LISTED, _STATEMENT_ACTIVE, None),
    "MedicationRequest": (_REQUEST_LISTED, _REQUEST_ACTIVE, _REQUEST_INTENTS),
}


def _listed(ctx: BuildContext, resource_type: str) -> tuple[tuple[Any, bool, MedicationFact | None], ...]:
    """The listed statements or requests: (resource, active, its fact when the drug is coded inline, else None).

    A pure derivation of the resources (see `BuildContext.derived`); a drug given by
    reference is resolved per build, in that build's data.
    """
    listed, active_statuses, intents = _LISTED[resource_type]
    out = []
    for resource in ctx.of_type(resource_type):
        if resource.status not in listed or (intents is not None and resource.intent not in intents):
            continue
        active = resource.status in active_statuses
        concept = resource.medicationCodeableConcept
        out.append((resource, active, _coded_medication(concept, active) if concept is not None else None))
    return tuple(out)


def _medications(ctx: BuildContext) -> list[MedicationFact]:
    out: list[MedicationFact] = []
    for resource_type in _LISTED:
        for resource, active, fact in ctx.derived(resource_type, "medications", _listed, ctx, resource_type):
            out.append(fact if fact is not None else _medication(ctx, resource, active))
    return out


def _identity(medication: MedicationFact) -> tuple[str | None, str]:
    """Same drug on a statement and a request counts once: first coding, else the lower-cased text."""
    if medication.codings:
        first = medication.codings[0]
        return first.system, first.code
    return None, (medication.text or "").strip().lower()


def _reconciled(ctx: BuildContext) -> bool | None:
    """True when a completed reconciliation (Procedure or Task) belongs to this stay.

    False when Procedure data is available, there is a current encounter and
    no reconciliation is found for it; None otherwise.
    """
    if ctx.encounter_id is None:
        return None
    for resource_type in ("Procedure", "Task"):
        timeline: Timeline = ctx.derived(resource_type, ("reconciliations", str(ctx.tz)), _reconciliations, ctx, resource_type)
        if timeline.refs:
            key = ctx.contact_key(timeline)
            if any(timeline.in_contact(key, i) for i in range(len(timeline.refs))):
                return True
    return False if ctx.known("Procedure") else None


def _reconciliations(ctx: BuildContext, resource_type: str) -> Timeline:
    """The completed medication reconciliations among the Procedures or Tasks, placed in time."""
    placed = []
    for resource in ctx.of_type(resource_type):
        if resource.status != "completed" or not ctx.has(resource, "procedure.medication-reconciliation", "code"):
            continue
        if resource_type == "Procedure":
            when = procedure_date(resource)
        else:
            when = (resource.executionPeriod.end if resource.executionPeriod else None) or resource.lastModified
        placed.append((reference_of(resource.encounter), as_datetime(when, ctx.tz)))
    return Timeline.of(placed)


def _last_review(ctx: BuildContext) -> date | None:
    """Date of the latest completed medication review (Procedure) up to `now`; None when none is found."""
    dates: list[date] = ctx.derived("Procedure", "medication reviews", _review_dates, ctx)
    found = bisect_right(dates, ctx.now.date())
    return dates[found - 1] if found else None


def _review_dates(ctx: BuildContext) -> list[date]:
    """The dates of the completed medication reviews, ascending."""
    dates = [
        as_date(procedure_date(p))
        for p in ctx.of_type("Procedure")
        if p.status == "completed" and ctx.has(p, "procedure.medication-review", "code")
    ]
    return sorted(d for d in dates if d is not None)
