"""The last laboratory value of the current stay, in the unit a score's threshold uses.

The facts layer converts every lab value to its concept's canonical unit
(``rules/valuesets/labs.yaml``, one conversion table for the whole engine). A
score uses a value only when it is in the unit the score's threshold is
written in; a value the facts layer could not convert (missing or unlisted
unit, or no number) is never guessed: it is reported instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cds.facts.snapshot import LabFact, PatientSnapshot
from cds.facts.memo import IdentityMemo, ItemsMemo

__all__ = ["LabReading", "last_in_stay"]

LOINC = "http://loinc.org"


@dataclass(frozen=True)
class LabReading:
    """A lab value converted to the unit asked for."""

    value: float
    unit: str
    effective: datetime | None
    reported: str  # the value as reported, in words ("7.1 mmol/L")


#: Per snapshot object (dropped with it): its lab index and each reading asked for (HOSPITAL and its
#: simplified form ask for the same haemoglobin and sodium of the same snapshot).
_per_snapshot = IdentityMemo()
#: Lab indexes by the identity of a snapshot's results: the facts layer gives the same LabFact objects
#: for the same results in the same context, so a chart scored again finds its index here.
_INDEX_MEMO_ITEMS = 20_000
_indexes = ItemsMemo(_INDEX_MEMO_ITEMS)


@dataclass(frozen=True)
class _LabIndex:
    """Positions in ``snapshot.labs`` by concept and by LOINC code, built in one pass per lab list.

    A record holds a hundred or more results and each lab item asks for one
    kind; looking the kind up here replaces a test of every result per item.
    ``kinds`` keeps, per (concepts, LOINC codes) asked for, their results
    oldest first (a property of the list alone, not of the snapshot's clock).
    """

    labs: tuple[LabFact, ...]
    by_concept: dict[str, list[int]]
    by_loinc: dict[str, list[int]]
    kinds: dict[tuple[frozenset[str], frozenset[str]], tuple[LabFact, ...]]

    @classmethod
    def of(cls, labs: tuple[LabFact, ...]) -> _LabIndex:
        by_concept: dict[str, list[int]] = {}
        by_loinc: dict[str, list[int]] = {}
        for i, lab in enumerate(labs):
            concept = lab.concept
            if concept is not None:
                _add(by_concept, concept, i)
            for coding in lab.codings:
                if coding.system == LOINC:
                    _add(by_loinc, coding.code, i)
        return cls(labs, by_concept, by_loinc, {})

    def positions(self, concepts: frozenset[str], loinc: frozenset[str]) -> list[int]:
        """Positions of the results whose concept is in ``concepts`` or that carry a LOINC code in ``loinc``, in order."""
        found: set[int] = set()
        for concept in concepts:
            found.update(self.by_concept.get(concept, ()))
        for code in loinc:
            found.update(self.by_loinc.get(code, ()))
        return sorted(found)

    def oldest_first(self, concepts: frozenset[str], loinc: frozenset[str]) -> tuple[LabFact, ...]:
        """The results of `positions`, undated first, then by effective time (ties keep their order)."""
        found = self.kinds.get((concepts, loinc))
        if found is None:
            labs = self.labs
            candidates = [labs[i] for i in self.positions(concepts, loinc)]
            undated = [lab for lab in candidates if lab.effective is None]
            dated = sorted((lab for lab in candidates if lab.effective is not None), key=_effective)
            found = self.kinds[(concepts, loinc)] = (*undated, *dated)
        return found


def _effective(lab: LabFact) -> datetime:
    return lab.effective  # type: ignore[return-value]


def _add(index: dict[str, list[int]], key: str, position: int) -> None:
    positions = index.get(key)
    if positions is None:
        index[key] = [position]
    else:
        positions.append(position)


def _in_stay(lab: LabFact, snapshot: PatientSnapshot) -> bool:
    if lab.effective is not None and lab.effective > snapshot.now:
        return False
    if lab.in_current_encounter:
        return True
    start, end = snapshot.encounter_start, snapshot.encounter_end or snapshot.now
    return start is not None and lab.effective is not None and start <= lab.effective <= end


def last_in_stay(
    snapshot: PatientSnapshot,
    kind: str,
    *,
    concepts: frozenset[str],
    loinc: frozenset[str],
    unit: str,
) -> tuple[LabReading | None, list[str]]:
    """The latest usable value of ``kind`` in the current stay, in ``unit``, and notes on values not used."""
    def compute() -> tuple[LabReading | None, tuple[str, ...]]:
        reading, notes = _last_in_stay(snapshot, kind, concepts=concepts, loinc=loinc, unit=unit)
        return reading, tuple(notes)

    reading, notes = _per_snapshot.get(snapshot, ("last_in_stay", kind, concepts, loinc, unit), compute)
    return reading, list(notes)


def _last_in_stay(
    snapshot: PatientSnapshot,
    kind: str,
    *,
    concepts: frozenset[str],
    loinc: frozenset[str],
    unit: str,
) -> tuple[LabReading | None, list[str]]:
    notes: list[str] = []
    labs = snapshot.labs
    if labs is None:
        return None, notes
    index = _per_snapshot.get(snapshot, "labs", _indexes.get, labs, "labs", _LabIndex.of, labs)
    for lab in reversed(index.oldest_first(concepts, loinc)):  # latest first: the last usable value wins
        if not _in_stay(lab, snapshot):
            continue
        if lab.value is not None and lab.unit is not None and lab.unit.strip().lower() == unit.lower():
            if lab.original_value is not None and lab.original_unit:
                reported = f"{lab.original_value:g} {lab.original_unit}"
            else:
                reported = f"{lab.value:g} {lab.unit}"
            return LabReading(lab.value, unit, lab.effective, reported), notes
        when = lab.effective.isoformat() if lab.effective else "undated"
        if lab.value is None and lab.original_value is None:
            notes.append(f"{kind} at {when} has no numeric value ({lab.text_value or 'no value'}): not used")
        else:
            notes.append(f"{kind} at {when} has unit {lab.unit or lab.original_unit or 'missing'}: not used")
    return None, notes
