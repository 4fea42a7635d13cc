"""Frailty: the most recent Clinical Frailty Scale score (HL7 Norway vkp-Observation-CFSscore) and whether it is current."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cds.facts.context import BuildContext, as_date, as_datetime, codes_of, concept_text
from cds.facts.conventions import RECORD_SOURCE
from cds.facts.snapshot import CfsFact
from cds.scores.cfs import cfs_max_age_days

__all__ = ["cfs_value", "frailty_facts"]

_CFS_MIN, _CFS_MAX = 1, 9  # the scale's own range (Rockwood & Theou 2020)


def cfs_value(observation: Any) -> int | None | str:
    """The CFS level of an Observation, None when it carries no value, or an issue message when malformed.

    Accepted: valueInteger; valueQuantity with a whole number; valueCodeableConcept
    or valueString whose code/text is a whole number.
    """
    raw: Any = None
    if observation.valueInteger is not None:
        raw = observation.valueInteger
    elif observation.valueQuantity is not None and observation.valueQuantity.value is not None:
        raw = observation.valueQuantity.value
    elif observation.valueCodeableConcept is not None:
        candidates = codes_of(observation.valueCodeableConcept)
        candidates.append(observation.valueCodeableConcept.text)
        raw = next((c for c in candidates if c and c.strip().isdigit()), None)
        if raw is None:
            return "CFS valueCodeableConcept carries no numeric level"
    elif observation.valueString is not None:
        raw = observation.valueString
    else:
        return None
    if isinstance(raw, str):
        raw = raw.strip()
        if not raw.isdigit():
            return "CFS value is not a whole number"
        raw = int(raw)
    if isinstance(raw, Decimal | float):
        if raw != int(raw):
            return "CFS value is not a whole number"
        raw = int(raw)
    if not _CFS_MIN <= raw <= _CFS_MAX:
        return f"CFS value outside {_CFS_MIN}-{_CFS_MAX} ignored"
    return int(raw)


def frailty_facts(ctx: BuildContext) -> dict[str, Any]:
    """cfs_latest, cfs_age_days and cfs. None when no valid CFS Observation is in the data.

    `cfs` is the latest score only while it is within its validity window
    (`cds.scores.cfs.cfs_max_age_days`, from the CFS table): a stale or undated
    score is unknown for every rule, and stays visible, dated, as `cfs_latest`.
    """
    best: tuple[tuple[date, datetime], CfsFact] | None = None
    zone = str(ctx.tz)
    today = ctx.now.date()
    for observation in ctx.with_valueset("Observation", "frailty.cfs", "code"):
        read: _Read | str | None = ctx.memo(observation, ("cfs", zone), _read, ctx, observation)
        if read is None:
            continue
        if isinstance(read, str):
            ctx.issue(observation, read)
            continue
        if read.baseline is not None and read.baseline > today:
            ctx.issue(observation, "CFS baseline date is after the evaluation time; ignored")
            continue
        role = _performer_role(ctx, observation)
        fact = ctx.memo(observation, ("cfs fact", zone, role), _cfs_fact, read, role)
        if best is None or read.order > best[0]:
            best = (read.order, fact)
    if best is None:
        return {}
    fact = best[1]
    anchor = fact.baseline_date or (fact.recorded.astimezone(ctx.tz).date() if fact.recorded else None)
    age_days = (today - anchor).days if anchor else None
    current = age_days is not None and age_days <= cfs_max_age_days(fact.score)
    return {"cfs": fact if current else None, "cfs_latest": fact, "cfs_age_days": age_days}


@dataclass(frozen=True, slots=True)
class _Read:
    """What a CFS Observation says by itself, in the clock's zone (memoised per observation and zone)."""

    score: int
    baseline: date | None
    recorded: datetime | None
    source: str | None
    #: the most recent wins: baseline day (else the recording's), then the recording time
    order: tuple[date, datetime]


def _read(ctx: BuildContext, observation: Any) -> _Read | str | None:
    """The observation's `_Read`, an issue message when its value is malformed, None when it is not counted."""
    if observation.status in {"preliminary", "registered"}:
        return None
    value = cfs_value(observation)
    if value is None or isinstance(value, str):
        return value
    baseline = _baseline(ctx, observation)
    recorded = as_datetime(observation.issued, ctx.tz)
    if recorded is not None:  # on the clinical calendar: the card shows its date (dd.mm.åååå)
        recorded = recorded.astimezone(ctx.tz)
    order_day = baseline or (recorded.date() if recorded else date.min)
    order = (order_day, recorded or datetime.min.replace(tzinfo=ctx.tz))
    return _Read(score=value, baseline=baseline, recorded=recorded, source=_source(observation), order=order)


def _cfs_fact(read: _Read, role: str | None) -> CfsFact:
    return CfsFact(
        score=read.score, baseline_date=read.baseline, recorded=read.recorded, performer_role=role, source=read.source
    )


def _baseline(ctx: BuildContext, observation: Any) -> date | None:
    effective = observation.effectiveDateTime or observation.effectiveInstant
    if effective is None and observation.effectivePeriod is not None:
        effective = observation.effectivePeriod.start or observation.effectivePeriod.end
    if isinstance(effective, datetime):
        return effective.astimezone(ctx.tz).date()
    return as_date(effective)


def _performer_role(ctx: BuildContext, observation: Any) -> str | None:
    """A role or profession, never a person: PractitionerRole.code or an Organization's type."""
    for performer in observation.performer or ():
        target = ctx.resources.resolve(performer)
        resource_type = getattr(target, "__resource_type__", None)
        if resource_type == "PractitionerRole":
            for code in target.code or ():
                text = concept_text(code)
                if text:
                    return text
        if resource_type == "Organization":
            for kind in target.type or ():
                text = concept_text(kind)
                if text:
                    return text
    return None


def _source(observation: Any) -> str | None:
    for tag in getattr(observation.meta, "tag", None) or ():
        if tag.system == RECORD_SOURCE and tag.code:
            return tag.code
    return None
