"""Laboratory results, normalised to each lab concept's canonical unit (``rules/valuesets/labs.yaml``)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cds.facts.context import BuildContext, as_datetime, codes_of, codings_of, concept_text, in_utc, reference_of
from cds.facts.conventions import ABNORMAL_INTERPRETATIONS, NORMAL_INTERPRETATIONS
from cds.facts.snapshot import LabFact
from cds.terminology import LabConcept

__all__ = ["lab_facts"]

_UCUM = "http://unitsofmeasure.org"
_LAB_CATEGORY = "laboratory"
_RESULT_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})
_UNDATED = datetime.min.replace(tzinfo=UTC)  # any fixed moment: undated results only tie with each other


@dataclass(slots=True)
class _Observed:
    """What every build reads of one result Observation, worked out once per (observation, terminology, zone).

    ``facts`` holds its LabFact (and unit issue) per (followed, in current
    contact), the only inputs that come from the rest of the record.
    """

    #: the lab concept of its code, if any
    concept: LabConcept | None
    #: a lab result: coded with a lab concept or in category 'laboratory'
    lab: bool
    #: its encounter reference
    encounter_ref: str | None
    effective: datetime | None
    #: the same instant in UTC, for the current-contact check (see `BuildContext._span_utc`)
    effective_utc: datetime | None
    #: sort key: oldest first, undated last (in input order); UTC instants compare without utcoffset() calls
    order: tuple[bool, datetime]
    facts: dict[tuple[bool | None, bool], tuple[LabFact, str | None]] = field(default_factory=dict)


@dataclass(slots=True)
class _Results:
    """The patient's lab results, oldest first, as every build over the same Observations reads them.

    What a build adds is small: which results a ServiceRequest or Task refers
    to, which encounter references name the current encounter, and the current
    encounter's span, within which the dated results are one slice of ``rows``.
    The LabFacts for those inputs are kept in ``outcomes`` (the last few).
    """

    rows: tuple[tuple[Any, _Observed], ...]
    #: the UTC instants of the dated results, ascending (they come first in ``rows``)
    dated: list[datetime]
    #: the distinct encounter references of the results
    refs: tuple[str, ...]
    #: the distinct ids of the results
    ids: frozenset[str]
    #: (follow-up default, followed ids, current references, span slice) -> (labs, issues to report)
    outcomes: dict[Any, tuple[tuple[LabFact, ...], tuple[tuple[Any, str], ...]]] = field(default_factory=dict)


#: How many input combinations a `_Results` keeps the labs of (a chart seen with its clock moving on).
_OUTCOMES_KEPT = 16


def lab_facts(ctx: BuildContext) -> dict[str, Any]:
    """labs: Observations in category 'laboratory' or coded with a lab concept, oldest first."""
    if not ctx.known("Observation"):
        return {}
    results: _Results = ctx.derived("Observation", ("labs", str(ctx.tz)), _results, ctx)
    follow_up_known = ctx.known("ServiceRequest") or ctx.known("Task")
    not_followed = False if follow_up_known else None
    followed = tuple(sorted(results.ids.intersection(_referenced_observation_ids(ctx))))
    current_refs = tuple(ref for ref in results.refs if ctx.is_current_encounter(ref))
    span = ctx.current_span_utc
    within = (0, 0) if span is None else (bisect_left(results.dated, span[0]), bisect_right(results.dated, span[1]))
    key = (not_followed, followed, current_refs, within)
    outcome = results.outcomes.get(key)
    if outcome is None:
        outcome = _outcome(ctx, results, not_followed, frozenset(followed), frozenset(current_refs), within)
        if len(results.outcomes) >= _OUTCOMES_KEPT:
            results.outcomes.clear()
        results.outcomes[key] = outcome
    labs, problems = outcome
    for observation, problem in problems:
        ctx.issue(observation, problem)
    return {"labs": labs}


def _outcome(
    ctx: BuildContext,
    results: _Results,
    not_followed: bool | None,
    followed_ids: frozenset[str],
    current_refs: frozenset[str],
    within: tuple[int, int],
) -> tuple[tuple[LabFact, ...], tuple[tuple[Any, str], ...]]:
    """The LabFacts of the results for one build's inputs, and the issues they raise."""
    facts = []
    problems = []
    first, end = within
    for position, (observation, observed) in enumerate(results.rows):
        followed = True if observation.id in followed_ids else not_followed
        in_current = observed.encounter_ref in current_refs or first <= position < end
        outcome = observed.facts.get((followed, in_current))
        if outcome is None:
            outcome = observed.facts[(followed, in_current)] = _lab(ctx, observation, observed, followed, in_current)
        fact, problem = outcome
        if problem is not None:
            problems.append((observation, problem))
        facts.append(fact)
    return tuple(facts), tuple(problems)


def _results(ctx: BuildContext) -> _Results:
    """The patient's lab results with what is read of each, oldest first (a pure derivation: see `BuildContext.derived`)."""
    key = ("lab", id(ctx.terminology), ctx.terminology.digest, str(ctx.tz))
    rows = []
    for observation in ctx.of_type("Observation"):
        if observation.status not in _RESULT_STATUSES:
            continue
        observed: _Observed = ctx.memo(observation, key, _observe, ctx, observation)
        if observed.lab:
            rows.append((observation, observed))
    rows.sort(key=_order)  # stable: undated results (and ties) keep their input order
    return _Results(
        rows=tuple(rows),
        dated=[observed.effective_utc for _, observed in rows if observed.effective_utc is not None],
        refs=tuple(dict.fromkeys(observed.encounter_ref for _, observed in rows if observed.encounter_ref)),
        ids=frozenset(observation.id for observation, _ in rows if observation.id),
    )


def _order(row: tuple[Any, _Observed]) -> tuple[bool, datetime]:
    return row[1].order


def _observe(ctx: BuildContext, observation: Any) -> _Observed:
    concept = ctx.terminology.lab_concept_in(ctx.valuesets(observation, "code"))
    effective = _effective(ctx, observation)
    effective_utc = in_utc(effective) if effective is not None else None
    return _Observed(
        concept=concept,
        lab=concept is not None or _is_lab(observation),
        encounter_ref=reference_of(observation.encounter),
        effective=effective,
        effective_utc=effective_utc,
        order=(False, effective_utc) if effective_utc is not None else (True, _UNDATED),
    )


def _effective(ctx: BuildContext, observation: Any) -> datetime | None:
    return as_datetime(
        observation.effectiveDateTime
        or observation.effectiveInstant
        or (observation.effectivePeriod.start if observation.effectivePeriod else None)
        or observation.issued,
        ctx.tz,
    )


def _lab(
    ctx: BuildContext, observation: Any, observed: _Observed, followed: bool | None, in_current: bool
) -> tuple[LabFact, str | None]:
    """The LabFact of one lab Observation and an issue message, if any."""
    concept = observed.concept
    problem = None
    value, unit, original_value, original_unit, text = None, None, None, None, None
    quantity = observation.valueQuantity
    if quantity is not None and quantity.value is not None:
        original_value = float(quantity.value)
        original_unit = _unit(quantity)
        if quantity.comparator:
            text = f"{quantity.comparator}{_plain(quantity.value)} {original_unit or ''}".strip()
        elif concept is not None:
            value = concept.to_canonical(original_value, original_unit)
            if value is None:
                problem = f"unit {original_unit!r} is not known for {concept.id}; value not converted"
            else:
                unit = concept.canonical_unit
    else:
        text = observation.valueString or concept_text(observation.valueCodeableConcept)
    fact = LabFact(
        concept=concept.id.removeprefix("lab.") if concept else None,
        codings=codings_of(observation.code),
        value=round(value, 4) if value is not None else None,
        unit=unit,
        original_value=original_value,
        original_unit=original_unit,
        text_value=text,
        effective=observed.effective,
        abnormal=_abnormal(observation, codes_of(observation.interpretation), original_value, original_unit),
        followed_up=followed,
        in_current_encounter=in_current,
    )
    return fact, problem


def _is_lab(observation: Any) -> bool:
    return any(c.code == _LAB_CATEGORY for cat in observation.category or () for c in cat.coding or ())


def _plain(value: Decimal | float) -> str:
    return format(value, "f").rstrip("0").rstrip(".") if isinstance(value, Decimal) else str(value)


def _unit(quantity: Any) -> str | None:
    """The UCUM code when the quantity is UCUM-coded, else the human unit text."""
    if quantity.system == _UCUM and quantity.code:
        return quantity.code
    return quantity.unit or quantity.code


def _abnormal(observation: Any, interpretation: list[str], value: float | None, unit: str | None) -> bool | None:
    codes = set(interpretation)
    if codes & ABNORMAL_INTERPRETATIONS:
        return True
    if codes & NORMAL_INTERPRETATIONS:
        return False
    if value is None:
        return None
    for reference in observation.referenceRange or ():
        low, high = reference.low, reference.high
        bounds = [b for b in (low, high) if b is not None and b.value is not None]
        if not bounds or any(_unit(b) not in (None, unit) for b in bounds):
            continue  # a range in another unit is never compared
        if low is not None and low.value is not None and value < float(low.value):
            return True
        if high is not None and high.value is not None and value > float(high.value):
            return True
        return False
    return None


def _referenced_observation_ids(ctx: BuildContext) -> set[str]:
    """Ids of Observations that a ServiceRequest or Task refers to (reason, supporting info, focus)."""
    found: set[str] = set()
    refs: list[Any] = []
    for request in ctx.of_type("ServiceRequest"):
        refs += [*(request.reasonReference or ()), *(request.supportingInfo or ())]
    for task in ctx.of_type("Task"):
        refs += [task.focus, task.reasonReference]
    for ref in refs:
        target = ctx.resources.resolve(ref)
        if target is not None and getattr(target, "__resource_type__", None) == "Observation":
            found.add(target.id)
            continue
        value = reference_of(ref)
        if value and value.startswith("Observation/"):
            found.add(value.split("/", 1)[1])
    return found
