"""Fact expressions: what a condition tests, and how the projection computes it from a snapshot.

The projection (`cds.rules.ruleset.RuleSet.project`) turns a `PatientSnapshot`
into one flat message of primitive values (number, bool, text) for exactly the
expressions a rule set uses. A
value is ``None`` (absent from the message) when the fact is unknown. Value-set
membership and time-window counts are computed here, through `Terminology`, so
the engine only compares primitives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property, lru_cache
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from cds.facts.snapshot import Coding, PatientSnapshot
from cds.rules.catalogue import FactKind, value_at

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
class NotDeceasedExpr(FactExpr):
    """True unless the patient is recorded as deceased: the living guard's one, always known, value.

    ``deceased`` unknown (no ``deceased[x]``) counts as alive, so the guard never
    blocks on missing data; one comparison keeps the engine's expansion of the
    rule's ``any`` branches small.
    """

    def compute(self, snapshot: PatientSnapshot, terminology: Terminology) -> Value | None:
        return snapshot.deceased is not True


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


@lru_cache(maxsize=128)
def _can_have(kind: type, name: str) -> bool:
    """Whether items of type ``kind`` can have the attribute ``name`` (False only for a pydantic model that cannot).

    Asking a pydantic model for an attribute it does not have goes through its
    ``__getattr__``, which builds an AttributeError (~8 µs: most of a count
    over a dozen conditions, which have no ``concept``). The answer depends only
    on the type, so it is decided once per type and name.
    """
    fields = getattr(kind, "model_fields", None)
    if not isinstance(fields, Mapping) or kind.model_config.get("extra") == "allow":  # type: ignore[attr-defined]
        return True
    return name in fields or hasattr(kind, name)


def _attribute(item: Any, name: str, default: Any = None) -> Any:
    """``getattr(item, name, default)``, without pydantic's slow path for a field the item's type does not have."""
    return getattr(item, name, default) if _can_have(type(item), name) else default


@dataclass(frozen=True)
class CountExpr(FactExpr):
    """How many items of a list fact pass the filters (value set, item flags, time window).

    The filters run one after the other, each over the items the previous one
    kept (an item counts when it passes them all): the item flags first, as
    one comparison per item, then the time window, then the value set, the
    dearest test, for the few items left.
    """

    facts: str = ""
    value_set: str | None = None
    within_days: int | None = None
    where: tuple[tuple[str, bool], ...] = field(default=())

    @cached_property
    def _flags(self) -> tuple[Callable[[Any], Any], Any]:
        """(the ``where`` flags of an item, the value wanted): a tuple of flags, or one flag alone.

        The loader allows only flags the list's item model declares, all
        ``bool`` fields: a flag is True, False or None, so ``==`` (on the
        tuple) is ``is`` on each flag, and a missing attribute cannot occur.
        """
        names = [name for name, _ in self.where]
        wanted = tuple(value for _, value in self.where)
        return attrgetter(*names), (wanted if len(wanted) > 1 else wanted[0])

    def compute(self, snapshot: PatientSnapshot, terminology: Terminology) -> Value | None:
        items = getattr(snapshot, self.facts)
        if items is None:
            return None
        if self.where:
            flags, wanted = self._flags
            items = [item for item in items if flags(item) == wanted]
        if self.within_days is not None:
            now = snapshot.now
            earliest = now - timedelta(days=self.within_days)
            items = [item for item in items if _started_within(item, earliest, now)]
        if self.value_set is not None:
            items = [item for item in items if _in_value_set(item, self.value_set, terminology)]
        return len(items)


def _started_within(item: Any, earliest: datetime, now: datetime) -> bool:
    """The item has a ``start`` in [earliest, now]."""
    start = _attribute(item, "start")
    if start is None:
        return False
    return earliest <= _as_datetime(start, now) <= now


def _in_value_set(item: Any, value_set: str, terminology: Terminology) -> bool:
    """The item's lab ``concept`` is the value set, or one of its codings is in it.

    A snapshot `Coding` is looked up by its system and code straight away
    (`Terminology.memberships_of`, what `Terminology.contains` does after
    reading them through its any-shape ``coding_parts``); anything else, and a
    value set the terminology does not have (KeyError), goes through ``contains``.
    """
    if _attribute(item, "concept") == value_set:
        return True
    for coding in _attribute(item, "codings", ()):
        if type(coding) is Coding and terminology.has(value_set):
            if isinstance(coding.system, str) and isinstance(coding.code, str):
                if value_set in terminology.memberships_of(coding.system, coding.code):
                    return True
        elif terminology.contains(value_set, coding):
            return True
    return False


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

