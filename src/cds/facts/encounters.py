"""The current encounter and the history of earlier encounters."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from typing import Any

from cds.facts.context import BuildContext, as_date, as_datetime, codes_of, in_utc
from cds.facts.conventions import (
    ELECTIVE_PRIORITIES,
    EMERGENCY_ADMIT_SOURCES,
    EMERGENT_PRIORITIES,
    ENCOUNTER_CLASSES,
    EXPECTED_DISCHARGE,
    R5_PLANNED_END,
    READY_FOR_DISCHARGE,
)
from cds.facts.parameters import parameters
from cds.facts.snapshot import EncounterClass, EventFact
from cds.fhir.resources import ResourceIssue

__all__ = ["current_encounter_facts", "encounter_class", "history_facts"]

_NOT_HAPPENED = frozenset({"planned", "cancelled", "entered-in-error", "unknown"})
_START_UTC = attrgetter("start_utc")


def encounter_class(encounter: Any) -> EncounterClass | None:
    """The snapshot class of an Encounter (v3 ActCode), 'other' for any other code, None without class."""
    cls = getattr(encounter, "class_fhir", None)
    code = getattr(cls, "code", None)
    if not code:
        return None
    return EncounterClass(ENCOUNTER_CLASSES.get(code, "other"))


def current_encounter_facts(ctx: BuildContext) -> dict[str, Any]:
    """encounter_* facts, length of stay, emergent admission, oncology, discharge destination and dates."""
    if ctx.encounter_id is None:
        return {}
    encounter = ctx.encounter
    if encounter is None:
        ctx.issues.append(ResourceIssue("Encounter", None, "the encounter named in the call is not in the data"))
        return {"encounter_id": ctx.encounter_id}
    start, end = ctx.encounter_start, ctx.encounter_end
    key = ("current encounter", id(ctx.terminology), ctx.terminology.digest, str(ctx.tz))
    facts, problems = ctx.memo(encounter, key, _encounter_facts, ctx, encounter)
    for problem in problems:
        ctx.issue(encounter, problem)
    return {
        **facts,
        "encounter_start": start,
        "encounter_end": end,
        "length_of_stay_days": _length_of_stay(ctx, start, end),
        "admission_emergent": facts["admission_emergent"] if facts["admission_emergent"] is not None else
        _emergent_through_ed(ctx, encounter, start),
    }


def _encounter_facts(ctx: BuildContext, encounter: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    """What the current encounter says by itself (memoised per encounter, terminology and zone), and its issues."""
    problems: list[str] = []
    destination, problem = _destination(ctx, encounter)
    if problem is not None:
        problems.append(problem)
    facts = {
        "encounter_id": encounter.id,
        "encounter_class": encounter_class(encounter),
        "admission_emergent": emergent(ctx, encounter),
        "oncology_discharge": _oncology(ctx, encounter),
        "discharge_destination": destination,
        "ready_for_discharge": _extension_datetime(ctx, encounter, (READY_FOR_DISCHARGE,), problems),
        "tentative_discharge_date": _extension_date(ctx, encounter, (EXPECTED_DISCHARGE, R5_PLANNED_END), problems),
    }
    return facts, tuple(problems)


def _length_of_stay(ctx: BuildContext, start: datetime | None, end: datetime | None) -> int | None:
    if start is None:
        return None
    until = end or ctx.now
    # whole calendar days in the evaluation clock's zone (as LACE counts: discharge date - admission date)
    days = (until.astimezone(ctx.tz).date() - start.astimezone(ctx.tz).date()).days
    return max(days, 0)


def emergent(ctx: BuildContext, encounter: Any) -> bool | None:
    """Urgent/emergent from priority, admit source or class; False only for an explicit elective priority."""
    priority_codes = set(codes_of(encounter.priority))
    if priority_codes & EMERGENT_PRIORITIES:
        return True
    admit = getattr(encounter.hospitalization, "admitSource", None)
    if EMERGENCY_ADMIT_SOURCES.intersection(codes_of(admit)):
        return True
    if encounter_class(encounter) is EncounterClass.emergency:
        return True
    if priority_codes & ELECTIVE_PRIORITIES:
        return False
    return None


def _emergent_through_ed(ctx: BuildContext, encounter: Any, start: datetime | None) -> bool | None:
    """True when an ED visit ended shortly before this admission started (admitted through the ED), else None."""
    if start is None:
        return None
    window = parameters().ed_to_admission_link
    for other in ctx.of_type("Encounter"):
        if other.id == encounter.id or encounter_class(other) is not EncounterClass.emergency:
            continue
        other_end = as_datetime(getattr(other.period, "end", None), ctx.tz)
        if other_end is not None and start - window <= other_end <= start:
            return True
    return None


def _oncology(ctx: BuildContext, encounter: Any) -> bool | None:
    if not codes_of(encounter.serviceType):
        return None
    return ctx.has(encounter, "specialty.oncology", "serviceType")


def _destination(ctx: BuildContext, encounter: Any) -> tuple[str | None, str | None]:
    """(discharge destination, issue message) of an Encounter's dischargeDisposition."""
    hospitalization = encounter.hospitalization
    if not codes_of(getattr(hospitalization, "dischargeDisposition", None)):
        return None, None
    prefix = "discharge-destination."
    matches = sorted(v for v in ctx.valuesets(hospitalization, "dischargeDisposition") if v.startswith(prefix))
    if not matches:
        return None, "discharge disposition code not in any discharge-destination value set"
    return matches[0].removeprefix(prefix), None


def _extensions(encounter: Any, urls: tuple[str, ...]) -> list[Any]:
    return [e for e in encounter.extension or () if e.url in urls]


def _extension_datetime(
    ctx: BuildContext, encounter: Any, urls: tuple[str, ...], problems: list[str]
) -> datetime | None:
    for extension in _extensions(encounter, urls):
        value = as_datetime(extension.valueDateTime or extension.valueInstant or extension.valueDate, ctx.tz)
        if value is not None:
            return value
        problems.append(f"extension {extension.url} has no dateTime value")
    return None


def _extension_date(ctx: BuildContext, encounter: Any, urls: tuple[str, ...], problems: list[str]) -> date | None:
    for extension in _extensions(encounter, urls):
        value = extension.valueDate or extension.valueDateTime
        if isinstance(value, datetime):
            return value.astimezone(ctx.tz).date()
        day = as_date(value)
        if day is not None:
            return day
        problems.append(f"extension {extension.url} has no date value")
    return None


def history_facts(ctx: BuildContext) -> dict[str, Any]:
    """admissions, ed_visits, outpatient_visits: earlier encounters (not the current one), oldest first.

    Known-empty tuples when Encounter data is available (see BuildContext.known);
    None when no Encounter data was fetched.
    """
    if not ctx.known("Encounter"):
        return {}
    history: _History = ctx.derived("Encounter", ("history", ctx.encounter_id, str(ctx.tz)), _history, ctx)
    cutoff = in_utc(ctx.encounter_start or ctx.now)
    for encounter, visit in history.issues:
        if visit is None:
            ctx.issue(encounter, "earlier encounter without period.start is not counted")
        elif visit.start_utc < cutoff:
            ctx.issue(encounter, visit.problem)  # type: ignore[arg-type]
    return {name: events[: bisect_left(starts, cutoff)] for name, (starts, events) in history.groups.items()}


@dataclass(frozen=True, slots=True)
class _History:
    """The earlier encounters that can count, worked out once per (encounters, current encounter, clock zone).

    A build counts those that started before its cutoff (the admission, else
    `now`): a prefix of each group, which is ordered by start.
    """

    #: per group: the starts in UTC, ascending, and the events in the same order
    groups: dict[str, tuple[list[datetime], tuple[EventFact, ...]]]
    #: in encounter order: those without start (visit None) and those with an issue to report when counted
    issues: tuple[tuple[Any, _Visit | None], ...]


_GROUPS = {
    EncounterClass.inpatient: "admissions",
    EncounterClass.emergency: "ed_visits",
    EncounterClass.ambulatory: "outpatient_visits",
}


def _history(ctx: BuildContext) -> _History:
    groups: dict[str, list[_Visit]] = {name: [] for name in _GROUPS.values()}
    issues: list[tuple[Any, _Visit | None]] = []
    key = ("visit", id(ctx.terminology), ctx.terminology.digest, str(ctx.tz))
    for encounter in ctx.of_type("Encounter"):
        if encounter.id == ctx.encounter_id or encounter.status in _NOT_HAPPENED:
            continue
        name = _GROUPS.get(encounter_class(encounter))  # type: ignore[arg-type]
        if name is None:
            continue
        visit: _Visit | None = ctx.memo(encounter, key, _visit, ctx, encounter)
        if visit is None or visit.problem is not None:
            issues.append((encounter, visit))
        if visit is not None:
            groups[name].append(visit)
    ordered = {name: sorted(visits, key=_START_UTC) for name, visits in groups.items()}
    return _History(
        groups={name: ([v.start_utc for v in vs], tuple(v.event for v in vs)) for name, vs in ordered.items()},
        issues=tuple(issues),
    )


@dataclass(frozen=True, slots=True)
class _Visit:
    """An earlier encounter as an event, worked out once per (encounter, terminology, clock zone)."""

    event: EventFact
    #: its start in UTC, to compare and sort without utcoffset() calls (see `BuildContext._span_utc`)
    start_utc: datetime
    #: an issue to report when the visit is counted
    problem: str | None


def _visit(ctx: BuildContext, encounter: Any) -> _Visit | None:
    """None without period.start."""
    start = as_datetime(getattr(encounter.period, "start", None), ctx.tz)
    if start is None:
        return None
    destination, problem = _destination(ctx, encounter)
    event = EventFact(
        start=start,
        end=as_datetime(getattr(encounter.period, "end", None), ctx.tz),
        emergency=emergent(ctx, encounter),
        encounter_id=encounter.id,
        discharge_destination=destination,
    )
    return _Visit(event=event, start_utc=in_utc(start), problem=problem)
