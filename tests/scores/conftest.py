"""Builders for hand-made patient snapshots used by the score tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cds.facts.snapshot import Coding, ConditionFact, EventFact, LabFact, PatientSnapshot, ProcedureFact
from cds.terminology import Terminology

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
NO_ICD10 = "urn:oid:2.16.578.1.12.4.1.1.7110"
WHO_ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"


def _snapshot(**facts: Any) -> PatientSnapshot:
    base: dict[str, Any] = {"now": NOW, "patient_key": "test-key"}
    base.update(facts)
    return PatientSnapshot(**base)


def _dx(
    code: str,
    *,
    system: str = NO_ICD10,
    current: bool = False,
    recorded: date | None = None,
    active: bool | None = None,
) -> ConditionFact:
    return ConditionFact(
        codings=(Coding(system=system, code=code),),
        in_current_encounter=current,
        recorded=recorded,
        active=active,
    )


@cache
def _terminology() -> Terminology:
    return Terminology.load(Path(__file__).resolve().parents[2] / "rules" / "valuesets")


def _lab(
    concept: str | None,
    value: float | None,
    unit: str | None,
    *,
    at: datetime | None = None,
    current: bool = True,
    loinc: str | None = None,
) -> LabFact:
    """A lab result as the facts layer makes it: converted to the concept's canonical unit
    with the bundled lab terminology; a unit it cannot convert leaves the value unknown."""
    codings = (Coding(system=LOINC, code=loinc),) if loinc else ()
    labs = {lab.id: lab for lab in _terminology().lab_concepts()}
    lab_concept = labs.get(concept) or labs.get(f"lab.{concept}")
    canonical = lab_concept.to_canonical(value, unit) if lab_concept and value is not None else None
    return LabFact(
        concept=concept,
        codings=codings,
        value=canonical if lab_concept else value,
        unit=lab_concept.canonical_unit if lab_concept and canonical is not None else (None if lab_concept else unit),
        original_value=value,
        original_unit=unit,
        effective=at or NOW - timedelta(hours=6),
        in_current_encounter=current,
    )


def _visit(days_before: float, *, of: datetime, emergency: bool = True, eid: str | None = None) -> EventFact:
    start = of - timedelta(days=days_before)
    return EventFact(start=start, end=start + timedelta(hours=4), emergency=emergency, encounter_id=eid)


def _procedure(
    code: str = "JFB00",
    *,
    current: bool = True,
    system: str = "urn:oid:2.16.578.1.12.4.1.1.7275",
    value_sets: tuple[str, ...] | None = None,
) -> ProcedureFact:
    """A procedure; its value sets are those the bundled terminology gives its coding (as the facts layer does)."""
    coding = Coding(system=system, code=code)
    if value_sets is None:
        value_sets = tuple(sorted(_terminology().memberships_of(system, code)))
    return ProcedureFact(codings=(coding,), in_current_encounter=current, value_sets=value_sets)


@cache
def _terminology() -> Terminology:
    return Terminology.load(Path(__file__).resolve().parents[2] / "rules" / "valuesets")


@pytest.fixture
def make() -> SimpleNamespace:
    """``make.snapshot(...)``, ``make.dx(code)``, ``make.lab(...)``, ``make.visit(...)``, ``make.procedure()``."""
    return SimpleNamespace(
        now=NOW,
        snapshot=_snapshot,
        dx=_dx,
        lab=_lab,
        visit=_visit,
        procedure=_procedure,
        NO=NO_ICD10,
        WHO=WHO_ICD10,
        CM=ICD10_CM,
    )




@pytest.fixture(scope="session")
def pycomorb_names() -> dict[str, str]:
    """Our Charlson category keys -> the category names in pycomorb's independent copy of Quan 2005."""
    return {
        "mi": "Myocardial infarction",
        "chf": "Congestive heart failure",
        "pvd": "Peripheral vascular disease",
        "cvd": "Cerebrovascular disease",
        "dementia": "Dementia",
        "copd": "Chronic pulmonary disease",
        "rheumatic": "Rheumatic disease",
        "pud": "Peptic ulcer disease",
        "mild_liver": "Mild liver disease",
        "diabetes": "Diabetes without chronic complication",
        "diabetes_complicated": "Diabetes with chronic complication",
        "hemiplegia": "Hemiplegia or paraplegia",
        "renal": "Renal disease",
        "malignancy": "Any malignancy, including lymphoma and leukemia, except malignant neoplasm of skin",
        "severe_liver": "Moderate or severe liver disease",
        "metastatic": "Metastatic solid tumor",
        "hiv_aids": "AIDS/HIV",
    }
