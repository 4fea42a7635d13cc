"""Charlson conditions (Quan 2005 ICD-10 coding) present in a snapshot.

Shared by the Charlson index, the C item of LACE and the cancer part of the
simplified HOSPITAL score. Diagnoses count when they belong to the current
encounter or are dated (recorded, else onset) within the look-back window up
to `now`; diagnoses dated after `now` never count. Undated diagnoses outside
the current encounter count and are reported as undated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache

from cds.facts.snapshot import ConditionFact, PatientSnapshot
from cds.scores._data import load_csv, load_yaml
from cds.scores.base import months_before
from cds.scores.icd10 import CodeMatch, PrefixCodeList, describe
from cds.facts.memo import IdentityMemo, ItemsMemo

__all__ = [
    "CategoryFindings",
    "charlson_code_list",
    "charlson_hierarchy",
    "Diagnoses",
    "conditions_in_window",
    "condition_date",
    "diagnoses",
    "find_categories",
    "snapshot_categories",
]


@cache
def charlson_code_list() -> PrefixCodeList:
    """The Quan 2005 ICD-10 code list (``data/charlson_quan2005_icd10.csv``)."""
    return PrefixCodeList((row["category"], row["code"]) for row in load_csv("charlson_quan2005_icd10.csv"))


@cache
def charlson_hierarchy() -> tuple[tuple[str, str], ...]:
    """(superseding, superseded) category pairs from ``data/charlson.yaml``."""
    return tuple((a, b) for a, b in load_yaml("charlson.yaml")["hierarchy"])


def condition_date(condition: ConditionFact) -> date | None:
    """The date a diagnosis is placed at in time: when recorded, else its onset."""
    return condition.recorded or condition.onset


@dataclass(frozen=True, eq=False)
class Diagnoses:
    """A list of diagnoses as the look-back windows and the code lists read them (`diagnoses`).

    Kept per list of the same ConditionFact objects (the facts layer gives the
    same objects for the same diagnoses in the same context), so a chart scored
    again only applies its windows: the dates and the code-list matches are read once.
    """

    conditions: tuple[ConditionFact, ...]
    #: per diagnosis: (its date, in the current encounter, clinical status active)
    rows: tuple[tuple[date | None, bool, bool], ...]
    #: per code list: every (position, match) in input order, filled on first use
    _matches: dict[PrefixCodeList, tuple[tuple[int, CodeMatch], ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, conditions: tuple[ConditionFact, ...]) -> Diagnoses:
        rows = tuple((condition_date(c), c.in_current_encounter, c.active is True) for c in conditions)
        return cls(conditions, rows)

    def window(self, *, now: datetime, start: date | datetime | None, include_active: bool = False) -> list[int]:
        """Positions of the diagnoses `conditions_in_window` keeps."""
        today = now.date()
        since = start.date() if isinstance(start, datetime) else start
        kept: list[int] = []
        for position, (when, current, active) in enumerate(self.rows):
            if when is not None and when > today:
                continue
            if current or when is None or since is None or when >= since or (include_active and active):
                kept.append(position)
        return kept

    def matches(self, code_list: PrefixCodeList, positions: Iterable[int]) -> list[CodeMatch]:
        """`code_list.match_conditions` of the diagnoses at ``positions``, in input order."""
        found = self._matches.get(code_list)
        if found is None:
            found = self._matches.setdefault(
                code_list,
                tuple(
                    (position, match)
                    for position, condition in enumerate(self.conditions)
                    for match in code_list.match_conditions((condition,))
                ),
            )
        wanted = set(positions)
        return [match for position, match in found if position in wanted]


#: Diagnoses by the identity of their ConditionFacts (see `Diagnoses`).
_DIAGNOSES_MEMO_ITEMS = 20_000
_diagnoses = ItemsMemo(_DIAGNOSES_MEMO_ITEMS)


def diagnoses(conditions: Iterable[ConditionFact]) -> Diagnoses:
    """The `Diagnoses` of a list of diagnoses (memoised per the same objects in the same order)."""
    items = conditions if isinstance(conditions, tuple) else tuple(conditions)
    return _diagnoses.get(items, "diagnoses", Diagnoses.of, items)


def conditions_in_window(
    conditions: Iterable[ConditionFact],
    *,
    now: datetime,
    start: date | datetime | None,
    include_active: bool = False,
) -> list[ConditionFact]:
    """Diagnoses of the current encounter, plus those dated from ``start`` (None = any time) to ``now``.

    With ``include_active`` a diagnosis recorded before ``start`` that is still active
    (clinical status active) counts too: the patient has it inside the window.
    """
    found = diagnoses(conditions)
    return [found.conditions[i] for i in found.window(now=now, start=start, include_active=include_active)]


@dataclass
class CategoryFindings:
    """Charlson categories found, with the codes that showed them.

    Filled by `find_categories` and read-only afterwards: Charlson and LACE
    share one per snapshot (`snapshot_categories`).
    """

    evidence: dict[str, list[CodeMatch]] = field(default_factory=dict)
    superseded: dict[str, str] = field(default_factory=dict)  # category -> the category that supersedes it
    _used: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def counted(self) -> list[str]:
        """Categories present and not superseded."""
        return [c for c in self.evidence if c not in self.superseded]

    def used(self, category: str) -> list[str]:
        """The codes behind ``category``, in words: each code once, "this stay" or its latest date."""
        words = self._used.get(category)
        if words is None:
            evidence = self.evidence.get(category, [])
            words = self._used[category] = _described.get(evidence, "used", _describe, evidence)
        return list(words)


#: The words of `CategoryFindings.used` by the identity of the matches (the same `Diagnoses` give the same).
_described = ItemsMemo(_DIAGNOSES_MEMO_ITEMS)


def _describe(evidence: list[CodeMatch]) -> tuple[str, ...]:
    """The codes behind a category, in words: each code once, "this stay" or its latest date."""
    latest: dict[str, str] = {}
    for m in evidence:
        code = describe(m.coding)
        when = condition_date(m.condition)
        if m.condition.in_current_encounter:
            latest[code] = "this stay"
        elif latest.get(code) == "this stay":
            continue
        elif when is None:
            latest.setdefault(code, "undated")
        elif code not in latest or latest[code] == "undated" or latest[code] < when.isoformat():
            latest[code] = when.isoformat()
    return tuple(f"{code}, {when}" for code, when in latest.items())


def find_categories(
    conditions: Sequence[ConditionFact],
    *,
    now: datetime,
    lookback_months: int | None,
    hierarchy: bool,
) -> CategoryFindings:
    """Charlson categories present among ``conditions`` in the look-back window."""
    start = None if lookback_months is None else months_before(now, lookback_months)
    found = diagnoses(conditions)
    findings = CategoryFindings()
    for match in found.matches(charlson_code_list(), found.window(now=now, start=start)):
        findings.evidence.setdefault(match.category, []).append(match)
    if hierarchy:
        for severe, mild in charlson_hierarchy():
            if severe in findings.evidence and mild in findings.evidence:
                findings.superseded[mild] = severe
    return findings


_findings = IdentityMemo()  # per snapshot object, dropped with it


def snapshot_categories(snapshot: PatientSnapshot, *, lookback_months: int | None, hierarchy: bool) -> CategoryFindings:
    """`find_categories` on the snapshot's diagnoses (known), once per snapshot and arguments.

    The Charlson index and the C item of LACE ask for the same categories of the same snapshot.
    """
    conditions = snapshot.conditions
    if conditions is None:
        raise ValueError("the snapshot's diagnoses are unknown")
    return _findings.get(
        snapshot,
        ("charlson categories", lookback_months, hierarchy),
        lambda: find_categories(conditions, now=snapshot.now, lookback_months=lookback_months, hierarchy=hierarchy),
    )
