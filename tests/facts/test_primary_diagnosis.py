"""primary_diagnosis: the ICD-10 code of the stay's rank-1 Encounter.diagnosis, never a guess."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from cds.facts.builder import build_snapshot
from cds.fhir.resources import ENGINE_RESOURCE_TYPES, ResourceSet
from cds.terminology import Terminology

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ICD10_NO = "urn:oid:2.16.578.1.12.4.1.1.7110"


@cache
def terminology() -> Terminology:
    return Terminology.load(REPO / "rules" / "valuesets")


def _condition(cid: str, code: str, system: str = ICD10_NO) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/p"},
        "encounter": {"reference": "Encounter/stay"},
    }


def primary(diagnosis: list[dict[str, Any]] | None, conditions: list[dict[str, Any]]) -> str | None:
    stay: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": "stay",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "Patient/p"},
        "period": {"start": "2026-03-04T10:00:00Z"},
    }
    if diagnosis is not None:
        stay["diagnosis"] = diagnosis
    resources = ResourceSet.from_json([{"resourceType": "Patient", "id": "p"}, stay, *conditions])
    snapshot = build_snapshot(
        resources, patient_id="p", encounter_id="stay", now=NOW, terminology=terminology(),
        patient_key="k", searched=ENGINE_RESOURCE_TYPES,
    )
    return snapshot.primary_diagnosis


def _entry(cid: str, rank: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"condition": {"reference": f"Condition/{cid}"}}
    if rank is not None:
        entry["rank"] = rank
    return entry


def test_the_rank_1_diagnosis_is_the_primary_one_whatever_the_order() -> None:
    conditions = [_condition("hf", "I50.9"), _condition("hip", "S72.0")]
    assert primary([_entry("hf", 2), _entry("hip", 1)], conditions) == "S72.0"


def test_a_single_unranked_diagnosis_is_the_primary_one() -> None:
    assert primary([_entry("hf")], [_condition("hf", "I50.9")]) == "I50.9"


def test_several_unranked_diagnoses_leave_the_primary_unknown() -> None:
    conditions = [_condition("hf", "I50.9"), _condition("hip", "S72.0")]
    assert primary([_entry("hf"), _entry("hip")], conditions) is None


def test_no_encounter_diagnosis_leaves_the_primary_unknown_even_with_conditions() -> None:
    assert primary(None, [_condition("hf", "I50.9")]) is None


def test_a_primary_diagnosis_without_an_icd10_coding_is_unknown() -> None:
    snomed = _condition("hf", "84114007", system="http://snomed.info/sct")
    assert primary([_entry("hf", 1)], [snomed]) is None


def test_the_who_icd10_uri_counts_as_icd10() -> None:
    who = _condition("hf", "I50.9", system="http://hl7.org/fhir/sid/icd-10")
    assert primary([_entry("hf", 1)], [who]) == "I50.9"
