"""Diagnoses and procedures: every Condition and Procedure with all their codings."""

from __future__ import annotations

from typing import Any

from cds.facts.context import BuildContext, as_date, as_datetime, codes_of
from cds.facts.snapshot import ConditionFact, ProcedureFact

__all__ = ["condition_facts", "procedure_facts"]

_ACTIVE = frozenset({"active", "recurrence", "relapse"})
_INACTIVE = frozenset({"inactive", "remission", "resolved"})
_PROCEDURE_DONE = frozenset({"completed", "in-progress"})


def condition_facts(ctx: BuildContext) -> dict[str, Any]:
    """conditions: () when Condition data is available and holds none; refuted/entered-in-error are left out."""
    if not ctx.known("Condition"):
        return {}
    facts = []
    for condition in ctx.of_type("Condition"):
        moment = as_datetime(condition.recordedDate or _onset(condition), ctx.tz)
        in_current = ctx.in_current_contact(condition, moment)
        facts.append(
            ctx.memo(condition, ("condition", in_current), _condition, ctx, condition, in_current)
        )
    return {"conditions": tuple(facts)}


def _onset(condition: Any) -> Any:
    return condition.onsetDateTime or (condition.onsetPeriod.start if condition.onsetPeriod else None)


def _condition(ctx: BuildContext, condition: Any, in_current: bool) -> ConditionFact:
    status_codes = set(codes_of(condition.clinicalStatus))
    active = True if status_codes & _ACTIVE else False if status_codes & _INACTIVE else None
    return ConditionFact(
        codings=ctx.codings(condition, "code"),
        recorded=as_date(condition.recordedDate),
        onset=as_date(_onset(condition)),
        active=active,
        in_current_encounter=in_current,
        category=next(iter(codes_of(condition.category)), None),
    )


def procedure_facts(ctx: BuildContext) -> dict[str, Any]:
    """procedures: completed or in-progress Procedures (not-done, entered-in-error and preparation are left out)."""
    if not ctx.known("Procedure"):
        return {}
    facts = []
    for procedure in ctx.of_type("Procedure"):
        if procedure.status not in _PROCEDURE_DONE:
            continue
        performed = procedure_date(procedure)
        facts.append(
            ProcedureFact(
                codings=ctx.codings(procedure, "code"),
                performed=as_date(performed),
                in_current_encounter=ctx.in_current_contact(procedure, as_datetime(performed, ctx.tz)),
            )
        )
    return {"procedures": tuple(facts)}


def procedure_date(procedure: Any) -> Any:
    """Procedure.performedDateTime, or the start (else end) of performedPeriod."""
    if procedure.performedDateTime is not None:
        return procedure.performedDateTime
    period = procedure.performedPeriod
    if period is not None:
        return period.start or period.end
    return None
