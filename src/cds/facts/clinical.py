"""Diagnoses and procedures: every Condition and Procedure with all their codings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cds.facts.context import BuildContext, ContactKey, Timeline, as_date, as_datetime, codes_of, reference_of
from cds.facts.snapshot import ConditionFact, ProcedureFact

__all__ = ["condition_facts", "procedure_facts"]

_ACTIVE = frozenset({"active", "recurrence", "relapse"})
_INACTIVE = frozenset({"inactive", "remission", "resolved"})
_PROCEDURE_DONE = frozenset({"completed", "in-progress"})


@dataclass(slots=True)
class _Placed:
    """Resources of one type that a fact group lists, placed for the current-contact check (see `Timeline`).

    A pure derivation of the patient's resources of the type (kept with them);
    ``facts`` keeps the fact tuples of the last few `ContactKey`s.
    """

    resources: tuple[Any, ...]
    timeline: Timeline
    facts: dict[ContactKey, tuple[Any, ...]] = field(default_factory=dict)

    def listed(self, ctx: BuildContext, fact: Callable[[BuildContext, Any, bool], Any]) -> tuple[Any, ...]:
        """``fact(ctx, resource, in current contact)`` of every resource, for this build's contact."""
        key = ctx.contact_key(self.timeline)
        found = self.facts.get(key)
        if found is None:
            found = tuple(fact(ctx, r, self.timeline.in_contact(key, i)) for i, r in enumerate(self.resources))
            if len(self.facts) >= _FACT_LISTS_KEPT:
                self.facts.clear()
            self.facts[key] = found
        return found


#: How many contacts a `_Placed` keeps the fact lists of (a chart seen with its clock moving on).
_FACT_LISTS_KEPT = 16


def condition_facts(ctx: BuildContext) -> dict[str, Any]:
    """conditions: () when Condition data is available and holds none; refuted/entered-in-error are left out."""
    if not ctx.known("Condition"):
        return {}
    placed: _Placed = ctx.derived("Condition", ("conditions", str(ctx.tz)), _conditions, ctx)
    return {"conditions": placed.listed(ctx, _condition_fact)}


def _conditions(ctx: BuildContext) -> _Placed:
    conditions = ctx.of_type("Condition")
    timeline = Timeline.of(
        (reference_of(condition.encounter), as_datetime(condition.recordedDate or _onset(condition), ctx.tz))
        for condition in conditions
    )
    return _Placed(conditions, timeline)


def _condition_fact(ctx: BuildContext, condition: Any, in_current: bool) -> ConditionFact:
    return ctx.memo(condition, ("condition", in_current), _condition, ctx, condition, in_current)


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
    placed: _Placed = ctx.derived("Procedure", ("procedures", str(ctx.tz)), _procedures, ctx)
    return {"procedures": placed.listed(ctx, _procedure_fact)}


def _procedures(ctx: BuildContext) -> _Placed:
    done = tuple(p for p in ctx.of_type("Procedure") if p.status in _PROCEDURE_DONE)
    timeline = Timeline.of(
        (reference_of(procedure.encounter), as_datetime(procedure_date(procedure), ctx.tz)) for procedure in done
    )
    return _Placed(done, timeline)


def _procedure_fact(ctx: BuildContext, procedure: Any, in_current: bool) -> ProcedureFact:
    return ProcedureFact(
        codings=ctx.codings(procedure, "code"),
        performed=as_date(procedure_date(procedure)),
        in_current_encounter=in_current,
        value_sets=tuple(sorted(ctx.valuesets(procedure, "code"))),
    )


def procedure_date(procedure: Any) -> Any:
    """Procedure.performedDateTime, or the start (else end) of performedPeriod."""
    if procedure.performedDateTime is not None:
        return procedure.performedDateTime
    period = procedure.performedPeriod
    if period is not None:
        return period.start or period.end
    return None
