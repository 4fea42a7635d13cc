"""Medications, medication reconciliation and medication review."""

from __future__ import annotations

from datetime import date
from typing import Any

from cds.facts.clinical import procedure_date
from cds.facts.context import BuildContext, as_date, as_datetime, codings_of, concept_text
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
    """The MedicationFact of a statement or request; memoised when its drug is coded inline (a pure derivation)."""
    if resource.medicationCodeableConcept is not None:
        return ctx.memo(resource, ("medication", active), _coded_medication, resource.medicationCodeableConcept, active)
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


def _medications(ctx: BuildContext) -> list[MedicationFact]:
    out: list[MedicationFact] = []
    for statement in ctx.of_type("MedicationStatement"):
        if statement.status not in _STATEMENT_LISTED:
            continue
        out.append(_medication(ctx, statement, statement.status in _STATEMENT_ACTIVE))
    for request in ctx.of_type("MedicationRequest"):
        if request.status not in _REQUEST_LISTED or request.intent not in _REQUEST_INTENTS:
            continue
        out.append(_medication(ctx, request, request.status in _REQUEST_ACTIVE))
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
    for procedure in ctx.of_type("Procedure"):
        if procedure.status != "completed":
            continue
        if not ctx.has(procedure, "procedure.medication-reconciliation", "code"):
            continue
        if ctx.in_current_contact(procedure, as_datetime(procedure_date(procedure), ctx.tz)):
            return True
    for task in ctx.of_type("Task"):
        if task.status != "completed" or not ctx.has(task, "procedure.medication-reconciliation", "code"):
            continue
        when = as_datetime((task.executionPeriod.end if task.executionPeriod else None) or task.lastModified, ctx.tz)
        if ctx.in_current_contact(task, when):
            return True
    return False if ctx.known("Procedure") else None


def _last_review(ctx: BuildContext) -> date | None:
    """Date of the latest completed medication review (Procedure); None when none is found."""
    dates = [
        as_date(procedure_date(p))
        for p in ctx.of_type("Procedure")
        if p.status == "completed" and ctx.has(p, "procedure.medication-review", "code")
    ]
    dates = [d for d in dates if d is not None and d <= ctx.now.date()]
    return max(dates) if dates else None
