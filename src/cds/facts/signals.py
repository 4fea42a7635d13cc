"""Clinical signals of the current contact: delirium, falls, functional decline, end of life, new symptoms.

End of life has two facts: `palliative_care` (palliative care or a documented
end-of-life marker, signal.end-of-life: end of life at any CFS) and
`end_of_life_signs` (that, or an active condition in signal.end-of-life-sign,
which the rules count only at CFS 8).

A signal is True when a Condition, Observation or Flag coded in its value set
belongs to the current contact; False only when the contact holds an explicit
negative assessment (an Observation coded with the signal and valueBoolean
false) and no positive one; None otherwise (absence of a code is not evidence
of absence; refuted Conditions are left out like entered-in-error ones).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cds.facts.context import BuildContext, as_datetime, codes_of
from cds.facts.parameters import parameters

__all__ = ["signal_facts"]

_SIGNALS = {
    "suspected_delirium": "signal.suspected-delirium",
    "new_falls": "signal.new-falls",
    "acute_functional_decline": "signal.acute-functional-decline",
}
_ACTIVE_CONDITION = frozenset({"active", "recurrence", "relapse"})


def signal_facts(ctx: BuildContext) -> dict[str, Any]:
    facts: dict[str, Any] = {name: _signal(ctx, value_set) for name, value_set in _SIGNALS.items()}
    palliative = _end_of_life(ctx)
    facts["palliative_care"] = palliative
    facts["end_of_life_signs"] = True if _advanced_disease(ctx) else palliative
    facts["new_symptoms_before_discharge"] = _new_symptoms(ctx)
    return facts


def _evidence(ctx: BuildContext, value_set: str, within: Any) -> list[bool]:
    """Positive (True) and negative (False) evidence for a value set, from resources accepted by `within`."""
    found: list[bool] = []
    for condition in ctx.with_valueset("Condition", value_set, "code"):
        moment = as_datetime(condition.recordedDate or condition.onsetDateTime, ctx.tz)
        if within(condition, moment):
            found.append(True)
    for observation in ctx.with_valueset("Observation", value_set, "code"):
        moment = as_datetime(observation.effectiveDateTime or observation.issued, ctx.tz)
        if within(observation, moment):
            found.append(observation.valueBoolean is not False)
    for observation in ctx.with_valueset("Observation", value_set, "valueCodeableConcept"):
        moment = as_datetime(observation.effectiveDateTime or observation.issued, ctx.tz)
        if within(observation, moment):
            found.append(True)
    for flag in ctx.with_valueset("Flag", value_set, "code"):
        if flag.status == "active":
            moment = as_datetime(getattr(flag.period, "start", None), ctx.tz)
            if moment is None or within(flag, moment):
                found.append(True)
    return found


def _verdict(evidence: list[bool]) -> bool | None:
    if any(evidence):
        return True
    return False if evidence else None


def _signal(ctx: BuildContext, value_set: str) -> bool | None:
    if ctx.encounter_id is None or ctx.encounter is None:
        return None
    return _verdict(_evidence(ctx, value_set, ctx.in_current_contact))


def _end_of_life(ctx: BuildContext) -> bool | None:
    """Palliative phase: recorded in this contact, an active Condition, or an active CarePlan in the value set."""
    if ctx.encounter is not None:
        verdict = _verdict(_evidence(ctx, "signal.end-of-life", ctx.in_current_contact))
        if verdict:
            return True
    for condition in ctx.with_valueset("Condition", "signal.end-of-life", "code"):
        if _ACTIVE_CONDITION.intersection(codes_of(condition.clinicalStatus)):
            return True
    for plan in ctx.with_valueset("CarePlan", "signal.end-of-life", "category"):
        if plan.status == "active":
            return True
    return None if ctx.encounter is None else _verdict(_evidence(ctx, "signal.end-of-life", ctx.in_current_contact))


def _advanced_disease(ctx: BuildContext) -> bool:
    """An active Condition in signal.end-of-life-sign (default: metastatic cancer; a site can add codes).

    A sign counts only together with CFS 8 (the rules decide that); on its own it is no end-of-life marker.
    """
    return any(
        _ACTIVE_CONDITION.intersection(codes_of(condition.clinicalStatus))
        for condition in ctx.with_valueset("Condition", "signal.end-of-life-sign", "code")
    )


def _new_symptoms(ctx: BuildContext) -> bool | None:
    """Recorded within the window (default 24 h) before discharge, or before `now` while in progress."""
    if ctx.encounter is None:
        return None
    end = ctx.encounter_end or ctx.now
    window: timedelta = parameters().new_symptoms_window

    def within(resource: Any, moment: datetime | None) -> bool:
        return moment is not None and end - window <= moment <= end

    return _verdict(_evidence(ctx, "signal.new-symptoms", within))
