"""Fact expressions: what a condition tests, and how the projection computes it from a snapshot.

The projection turns a `PatientSnapshot` into one flat message of primitive
values (number, bool, text) for exactly the expressions a rule set uses. A
value is ``None`` (absent from the message) when the fact is unknown. Value-set
membership and time-window counts are computed here, through `Terminology`, so
the engine only compares primitives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cds.facts.snapshot import PatientSnapshot
from cds.rules.catalogue import FactKind, value_at
from cds.rules.enginevalues import engine_value

if TYPE_CHECKING:
    from cds.terminology import Terminology

Value = bool | int | float | str


@dataclass(frozen=True)
class FactExpr:
    """A named, typed value computed from a snapshot (or set by a derived-fact rule)."""

    text: str
    kind: FactKind

    def compute(self, snapshot: PatientSnapshot, terminology: Terminology) -> Value | None:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class PathExpr(FactExpr):
    path: str = ""

    def compute(self, snapshot: PatientSnapshot, terminology: Terminology) -> Value | None:
        value = value_at(snapshot, self.path)
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        return str(value)


@dataclass(frozen=True)
class PresenceExpr(FactExpr):
    """A date, list or group of facts, only ever tested with ``known`` / ``unknown``.

    The projected value only marks presence and reads well in explain: a date
    as ISO text, a list as its length (an empty list is known), a group as true.
    """

    path: str = ""

    def compute(self, snapshot: PatientSnapshot, terminology: Terminology) -> Value | None:
        value = value_at(snapshot, self.path)
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (date, datetime)):
            return value.isoformat()
        if isinstance(value, (tuple, list)):
            return len(value)
        return True


@dataclass(frozen=True)
class DerivedExpr(FactExpr):
    """A derived fact: not in the snapshot; set during evaluation by the rules that derive it."""

    name: str = ""

    def compute(self, snapshot: PatientSnapshot, terminology: Terminology) -> Value | None:
        return None


def _as_datetime(value: date | datetime, like: datetime) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None and like.tzinfo is not None:
            return value.replace(tzinfo=like.tzinfo)
        if value.tzinfo is not None and like.tzinfo is None:
            return value.replace(tzinfo=None)
        return value
    return datetime(value.year, value.month, value.day, tzinfo=like.tzinfo)


@dataclass(frozen=True)
class DaysSinceExpr(FactExpr):
    """Whole days from a date fact to `now` (negative when the date is in the future)."""

    path: str = ""

    def compute(self, snapshot: PatientSnapshot, terminology: Terminology) -> Value | None:
        value = value_at(snapshot, self.path)
        if not isinstance(value, (date, datetime)):
            return None
        return (snapshot.now - _as_datetime(value, snapshot.now)).days


@dataclass(frozen=True)
class CountExpr(FactExpr):
    """How many items of a list fact pass the filters (value set, item flags, time window)."""

    facts: str = ""
    value_set: str | None = None
    within_days: int | None = None
    where: tuple[tuple[str, bool], ...] = field(default=())

    def compute(self, snapshot: PatientSnapshot, terminology: Terminology) -> Value | None:
        items = getattr(snapshot, self.facts)
        if items is None:
            return None
        now = snapshot.now
        earliest = None if self.within_days is None else now - timedelta(days=self.within_days)
        return sum(1 for item in items if self._passes(item, now, earliest, terminology))

    def _passes(self, item: Any, now: datetime, earliest: datetime | None, terminology: Terminology) -> bool:
        """``earliest`` is the start of the time window (``now`` - ``within_days``), None without one."""
        for name, wanted in self.where:
            if getattr(item, name, None) is not wanted:
                return False
        if earliest is not None:
            start = getattr(item, "start", None)
            if start is None:
                return False
            start = _as_datetime(start, now)
            if not (earliest <= start <= now):
                return False
        if self.value_set is not None:
            if getattr(item, "concept", None) == self.value_set:
                return True
            return any(terminology.contains(self.value_set, c) for c in getattr(item, "codings", ()))
        return True


@dataclass(frozen=True)
class CodeCountExpr(FactExpr):
    """How many distinct codes of a code list (``municipal_services_after``) pass the filters.

    A code ``s`` is in value set ``V`` when ``V`` is the code's own value set
    (``municipal-service.s``) or ``V`` holds the code in the list's code system.
    ``codes`` keeps only the listed codes; ``minus`` drops codes also found in
    another code list (unknown when that list is unknown).
    """

    facts: str = ""
    value_set: str | None = None
    codes: tuple[str, ...] | None = None
    minus: str | None = None

    def compute(self, snapshot: PatientSnapshot, terminology: Terminology) -> Value | None:
        from cds.rules.catalogue import CODE_LISTS

        items = getattr(snapshot, self.facts)
        if items is None:
            return None
        wanted = set(items)
        if self.minus is not None:
            other = getattr(snapshot, self.minus)
            if other is None:
                return None
            wanted -= set(other)
        if self.codes is not None:
            wanted &= set(self.codes)
        if self.value_set is not None:
            kind = CODE_LISTS[self.facts]
            wanted = {
                code
                for code in wanted
                if kind.valueset_prefix + code == self.value_set
                or terminology.contains(self.value_set, {"system": kind.system, "code": code})
            }
        return len(wanted)


def code_count_text(facts: str, value_set: str | None, codes: tuple[str, ...] | None, minus: str | None) -> str:
    parts = [facts]
    if minus:
        parts.append(f"not in {minus}")
    if value_set:
        parts.append(f"in {value_set}")
    if codes:
        parts.append("codes " + ",".join(codes))
    return "count(" + " ".join(parts) + ")"


def count_text(facts: str, value_set: str | None, within_days: int | None, where: Iterable[tuple[str, bool]]) -> str:
    parts = [facts]
    if value_set:
        parts.append(f"in {value_set}")
    if within_days is not None:
        parts.append(f"within {within_days} d")
    for name, wanted in where:
        parts.append(name if wanted else f"not {name}")
    return "count(" + " ".join(parts) + ")"


def project(
    snapshot: PatientSnapshot, expressions: Mapping[str, FactExpr], terminology: Terminology
) -> dict[str, Value]:
    """One flat message: expression key -> engine-safe primitive value (`cds.rules.enginevalues`); unknown values left out."""
    message: dict[str, Value] = {}
    for key, expression in expressions.items():
        value = engine_value(expression.compute(snapshot, terminology))
        if value is not None:
            message[key] = value
    return message
