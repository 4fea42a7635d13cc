"""The last laboratory value of the current stay, in the unit a score's threshold uses.

The facts layer normalises lab values to each concept's canonical unit; the
scores still check the unit and convert (``data/lab_units.yaml``) rather than
trust a bare number. A value with a missing or unlisted unit, or without a
numeric value, is never used: it is reported instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from cds.facts.snapshot import LabFact, PatientSnapshot
from cds.scores._data import load_yaml

__all__ = ["LabReading", "last_in_stay", "to_unit"]

LOINC = "http://loinc.org"


@cache
def _units() -> dict[str, Any]:
    return load_yaml("lab_units.yaml")


def to_unit(kind: str, value: float, unit: str | None, target: str) -> float | None:
    """``value`` in ``unit`` expressed in ``target`` for lab kind ``kind``; None when either unit is not listed."""
    if unit is None:
        return None
    factors = {u.lower(): float(f) for u, f in _units()["factors"][kind].items()}
    src, dst = factors.get(unit.strip().lower()), factors.get(target.strip().lower())
    if src is None or dst is None:
        return None
    return value * src / dst


@dataclass(frozen=True)
class LabReading:
    """A lab value converted to the unit asked for."""

    value: float
    unit: str
    effective: datetime | None
    reported: str  # the value as reported, in words ("7.1 mmol/L")


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
    notes: list[str] = []
    if snapshot.labs is None:
        return None, notes
    candidates = [lab for lab in snapshot.labs if _is_kind(lab, concepts, loinc) and _in_stay(lab, snapshot)]
    candidates.sort(key=lambda lab: (lab.effective is not None, lab.effective or snapshot.now))
    for lab in reversed(candidates):
        for value, lab_unit in ((lab.value, lab.unit), (lab.original_value, lab.original_unit)):
            if value is None:
                continue
            converted = to_unit(kind, value, lab_unit, unit)
            if converted is not None:
                if lab.original_value is not None and lab.original_unit:
                    reported = f"{lab.original_value:g} {lab.original_unit}"
                else:
                    reported = f"{value:g} {lab_unit}"
                return LabReading(converted, unit, lab.effective, reported), notes
        when = lab.effective.isoformat() if lab.effective else "undated"
        if lab.value is None and lab.original_value is None:
            notes.append(f"{kind} at {when} has no numeric value ({lab.text_value or 'no value'}): not used")
        else:
            notes.append(f"{kind} at {when} has unit {lab.unit or lab.original_unit or 'missing'}: not used")
    return None, notes
