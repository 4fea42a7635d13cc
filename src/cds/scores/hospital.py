"""HOSPITAL score (Donzé 2013/2016) for 30-day potentially avoidable readmission.

Items: Haemoglobin < 12 g/dL at discharge, discharge from Oncology, Sodium
< 135 mmol/L at discharge, any Procedure during the stay, Index admission
Type urgent, number of Admissions in the previous 12 months, Length of stay
>= 5 days. Points, thresholds (with their unit) and classes are in
``data/hospital.yaml``. "At discharge" is the last value of the current stay
up to `now`; with no value in the stay the item is unknown.
The item functions are shared with the simplified score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from cds.facts.memo import IdentityMemo
from cds.facts.snapshot import PatientSnapshot, ScoreItem, ScoreResult
from cds.scores._data import load_yaml
from cds.scores.base import (
    Band,
    PointsRow,
    bands_from,
    finish,
    known,
    months_before,
    points_for,
    points_rows,
    unknown,
)
from cds.scores.labs import last_in_stay

__all__ = [
    "Hospital",
    "HospitalTables",
    "LabThreshold",
    "SharedItems",
    "admissions_item",
    "admission_type_item",
    "hospital_table",
    "hospital_tables",
    "lab_item",
    "length_of_stay_item",
    "oncology_item",
    "procedure_item",
    "shared_items",
]


@cache
def hospital_table() -> dict[str, Any]:
    """The HOSPITAL table (``data/hospital.yaml``), shared with the simplified score."""
    return load_yaml("hospital.yaml")


@dataclass(frozen=True, eq=False)  # identity equality: a cheap memo key, built once per table
class LabThreshold:
    """A lab item: ``points`` when the last value of the stay is below ``below`` (in ``unit``)."""

    kind: str
    points: float
    below: float
    unit: str
    concepts: frozenset[str]
    loinc: frozenset[str]

    @classmethod
    def from_table(cls, kind: str, spec: Mapping[str, Any]) -> LabThreshold:
        return cls(
            kind=kind,
            points=float(spec["points"]),
            below=float(spec["below"]),
            unit=str(spec["unit"]),
            concepts=frozenset(spec["concepts"]),
            loinc=frozenset(spec["loinc"]),
        )


@dataclass(frozen=True, eq=False)  # identity equality: a cheap memo key, built once per table
class HospitalTables:
    """``data/hospital.yaml`` in the form the items use, built once (shared with the simplified score)."""

    haemoglobin: LabThreshold
    sodium: LabThreshold
    oncology_points: float
    procedure_points: float
    admission_type_points: float
    admissions: tuple[PointsRow, ...]
    admissions_top: float
    admissions_lookback_months: int
    length_of_stay_points: float
    length_of_stay_min_days: int
    bands: tuple[Band, ...]


@cache
def hospital_tables() -> HospitalTables:
    t = hospital_table()
    admissions = points_rows(t["admissions"])
    return HospitalTables(
        haemoglobin=LabThreshold.from_table("haemoglobin", t["haemoglobin"]),
        sodium=LabThreshold.from_table("sodium", t["sodium"]),
        oncology_points=float(t["oncology"]["points"]),
        procedure_points=float(t["procedure"]["points"]),
        admission_type_points=float(t["admission_type"]["points"]),
        admissions=admissions,
        admissions_top=max(r.points for r in admissions),
        admissions_lookback_months=int(t["admissions_lookback_months"]),
        length_of_stay_points=float(t["length_of_stay"]["points"]),
        length_of_stay_min_days=int(t["length_of_stay"]["min_days"]),
        bands=bands_from(t["bands"]),
    )


def lab_item(snapshot: PatientSnapshot, lab: LabThreshold) -> ScoreItem:
    """``points`` when the last value of the stay is below ``below`` (in ``unit``)."""
    kind, pts, unit = lab.kind, lab.points, lab.unit
    reading, notes = last_in_stay(snapshot, kind, concepts=lab.concepts, loinc=lab.loinc, unit=unit)
    if reading is None:
        why = "lab results unknown" if snapshot.labs is None else f"no usable {kind} value in this stay"
        return unknown(kind, why, max_points=pts, used=notes)
    when = reading.effective.isoformat() if reading.effective else "undated"
    used = [f"{kind} {reading.value:.4g} {unit} (reported {reading.reported}) at {when}, last in this stay", *notes]
    return known(kind, pts if reading.value < lab.below else 0.0, round(reading.value, 4), used, max_points=pts)


def oncology_item(snapshot: PatientSnapshot, points: float) -> ScoreItem:
    if snapshot.oncology_discharge is None:
        return unknown("oncology", "discharging service (oncology or not) unknown", max_points=points)
    onc = snapshot.oncology_discharge
    words = "discharged from an oncology service" if onc else "not discharged from an oncology service"
    return known("oncology", points if onc else 0.0, onc, [words], max_points=points)


def _within_stay(when: date | None, snapshot: PatientSnapshot) -> bool:
    if when is None or snapshot.encounter_start is None:
        return False
    end = (snapshot.encounter_end or snapshot.now).date()
    return snapshot.encounter_start.date() <= when <= end


def procedure_item(snapshot: PatientSnapshot, points: float) -> ScoreItem:
    """P: a procedure of the kind Donzé 2013 counts (value set ``procedure.counted`` of data/hospital.yaml).

    Care processes (``procedure.not_counted``, e.g. medication reconciliation)
    never count; a procedure of the stay in neither list cannot be classified,
    so the item is unknown rather than 0.
    """
    if snapshot.procedures is None:
        return unknown("procedure", "procedures unknown", max_points=points)
    spec = hospital_table()["procedure"]
    counted_set, not_counted = spec["counted"], frozenset(spec["not_counted"])
    in_stay = [p for p in snapshot.procedures if p.in_current_encounter or _within_stay(p.performed, snapshot)]
    counted = [p for p in in_stay if counted_set in p.value_sets]
    if counted:
        used = [f"procedure {c.code}" for p in counted for c in p.codings[:1]]
        return known("procedure", points, len(counted), used, max_points=points)
    unclassified = [p for p in in_stay if not (not_counted & set(p.value_sets))]
    if unclassified:
        codes = ", ".join(c.code for p in unclassified for c in p.codings[:1]) or "uncoded"
        return unknown(
            "procedure",
            f"procedure {codes} is in neither {counted_set} nor a not-counted value set",
            max_points=points,
        )
    skipped = [f"not counted (care process): {c.code}" for p in in_stay for c in p.codings[:1]]
    return known("procedure", 0.0, 0, skipped or ["no procedure recorded in this stay"], max_points=points)


def admission_type_item(snapshot: PatientSnapshot, points: float) -> ScoreItem:
    if snapshot.admission_emergent is None:
        return unknown("index_admission_type", "admission type (urgent or elective) unknown", max_points=points)
    urgent = snapshot.admission_emergent
    words = "urgent/emergent admission" if urgent else "elective admission"
    return known("index_admission_type", points if urgent else 0.0, urgent, [words], max_points=points)


def admissions_item(snapshot: PatientSnapshot, tables: HospitalTables) -> ScoreItem:
    top = tables.admissions_top
    if snapshot.admissions is None:
        return unknown("admissions", "earlier admissions unknown", max_points=top)
    reference: datetime = snapshot.encounter_start or snapshot.now
    since = months_before(reference, tables.admissions_lookback_months)
    counted = [
        a
        for a in snapshot.admissions
        if since <= a.start < reference and (a.encounter_id is None or a.encounter_id != snapshot.encounter_id)
    ]
    anchor = "admission" if snapshot.encounter_start else "now (admission start unknown)"
    used = [f"{len(counted)} admissions from {since.date()} to {anchor} {reference.date()}"]
    return known("admissions", points_for(len(counted), tables.admissions), len(counted), used, max_points=top)


def length_of_stay_item(snapshot: PatientSnapshot, tables: HospitalTables) -> ScoreItem:
    pts, min_days = tables.length_of_stay_points, tables.length_of_stay_min_days
    days = snapshot.length_of_stay_days
    if days is None or days < 0:
        return unknown("length_of_stay", "length of stay unknown", max_points=pts)
    return known(
        "length_of_stay", pts if days >= min_days else 0.0, days, [f"length of stay {days} days"], max_points=pts
    )


@dataclass(frozen=True)
class SharedItems:
    """The items HOSPITAL and the simplified score compute the same way from the same snapshot."""

    haemoglobin: ScoreItem
    sodium: ScoreItem
    admission_type: ScoreItem
    admissions: ScoreItem
    length_of_stay: ScoreItem


_shared = IdentityMemo()  # per snapshot object, dropped with it


def shared_items(snapshot: PatientSnapshot, tables: HospitalTables) -> SharedItems:
    """The items both HOSPITAL scores use, computed once per snapshot (items are immutable, so both hold the same)."""

    def compute() -> SharedItems:
        return SharedItems(
            haemoglobin=lab_item(snapshot, tables.haemoglobin),
            sodium=lab_item(snapshot, tables.sodium),
            admission_type=admission_type_item(snapshot, tables.admission_type_points),
            admissions=admissions_item(snapshot, tables),
            length_of_stay=length_of_stay_item(snapshot, tables),
        )

    return _shared.get(snapshot, ("hospital items", tables), compute)


class Hospital:
    """HOSPITAL score: 0-13 points; classes low 0-4, intermediate 5-6, high >= 7."""

    name = "hospital"

    def score(self, snapshot: PatientSnapshot) -> ScoreResult:
        t = hospital_tables()
        shared = shared_items(snapshot, t)
        items = [
            shared.haemoglobin,
            oncology_item(snapshot, t.oncology_points),
            shared.sodium,
            procedure_item(snapshot, t.procedure_points),
            shared.admission_type,
            shared.admissions,
            shared.length_of_stay,
        ]
        return finish(self.name, items, t.bands)
