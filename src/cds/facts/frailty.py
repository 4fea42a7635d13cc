"""Frailty: the most recent Clinical Frailty Scale score (HL7 Norway vkp-Observation-CFSscore)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cds.facts.context import BuildContext, as_date, as_datetime, codes_of, concept_text
from cds.facts.conventions import RECORD_SOURCE
from cds.facts.snapshot import CfsFact

__all__ = ["frailty_facts", "cfs_value"]

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
    """cfs and cfs_age_days. None when no valid CFS Observation is in the data."""
    best: tuple[tuple[date, datetime], CfsFact] | None = None
    for observation in ctx.with_valueset("Observation", "frailty.cfs", "code"):
        if observation.status in {"preliminary", "registered"}:
            continue
        value = cfs_value(observation)
        if value is None:
            continue
        if isinstance(value, str):
            ctx.issue(observation, value)
            continue
        baseline = _baseline(ctx, observation)
        recorded = as_datetime(observation.issued, ctx.tz)
        if baseline is not None and baseline > ctx.now.date():
            ctx.issue(observation, "CFS baseline date is after the evaluation time; ignored")
            continue
        fact = CfsFact(
            score=value,
            baseline_date=baseline,
            recorded=recorded,
            performer_role=_performer_role(ctx, observation),
            source=_source(observation),
        )
        order_day = baseline or (recorded.date() if recorded else date.min)
        key = (order_day, recorded or datetime.min.replace(tzinfo=ctx.tz))
        if best is None or key > best[0]:
            best = (key, fact)
    if best is None:
        return {}
    fact = best[1]
    anchor = fact.baseline_date or (fact.recorded.astimezone(ctx.tz).date() if fact.recorded else None)
    return {"cfs": fact, "cfs_age_days": (ctx.now.date() - anchor).days if anchor else None}


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
