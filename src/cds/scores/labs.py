"""The last laboratory value of the current stay, in the unit a score's threshold uses.

The facts layer converts every lab value to its concept's canonical unit
(``rules/valuesets/labs.yaml``, one conversion table for the whole engine). A
score uses a value only when it is in the unit the score's threshold is
written in; a value the facts layer could not convert (missing or unlisted
unit, or no number) is never guessed: it is reported instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from cds.facts.snapshot import LabFact, PatientSnapshot

__all__ = ["LabReading", "last_in_stay"]

LOINC = "http://loinc.org"


@dataclass(frozen=True)
class LabReading:
    """A lab value converted to the unit asked for."""

    value: float
    unit: str
    effective: datetime | None
    reported: str  # the value as reported, in words ("7.1 mmol/L")


#: Recent results by (snapshot identity, arguments): HOSPITAL and its simplified form ask for
#: the same haemoglobin and sodium of the same snapshot. The entry holds the snapshot, so its
#: id cannot be reused while cached; snapshots are frozen, so a result never goes stale.
_RECENT_SIZE = 16
_Key = tuple[int, str, frozenset[str], frozenset[str], str]
_recent: dict[_Key, tuple[PatientSnapshot, LabReading | None, tuple[str, ...]]] = {}
_recent_lock = threading.Lock()


def _is_kind(lab: LabFact, concepts: frozenset[str], loinc: frozenset[str]) -> bool:
    if lab.concept is not None and lab.concept in concepts:
        return True
    return any(c.system == LOINC and c.code in loinc for c in lab.codings)


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
    key = (id(snapshot), kind, concepts, loinc, unit)
    hit = _recent.get(key)
    if hit is not None and hit[0] is snapshot:
        return hit[1], list(hit[2])
    reading, notes = _last_in_stay(snapshot, kind, concepts=concepts, loinc=loinc, unit=unit)
    with _recent_lock:
        if len(_recent) >= _RECENT_SIZE:
            _recent.clear()
        _recent[key] = (snapshot, reading, tuple(notes))
    return reading, notes


def _last_in_stay(
    snapshot: PatientSnapshot,
    kind: str,
    *,
    concepts: frozenset[str],
    loinc: frozenset[str],
    unit: str,
) -> tuple[LabReading | None, list[str]]:
    notes: list[str] = []
    if snapshot.labs is None:
        return None, notes
    candidates = [lab for lab in snapshot.labs if _is_kind(lab, concepts, loinc) and _in_stay(lab, snapshot)]
    candidates.sort(key=lambda lab: (lab.effective is not None, lab.effective or snapshot.now))
    for lab in reversed(candidates):
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
