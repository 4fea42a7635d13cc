"""Scores on the persona bundles in fhir_examples/, built through the facts layer, against hand calculations.

Each expected figure is worked out by hand from the bundle's resources and docs/scores.md.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path

import pytest

from cds.facts import build_snapshot
from cds.facts.snapshot import PatientSnapshot
from cds.fhir.resources import ResourceSet
from cds.scores import with_scores
from cds.terminology import Terminology

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "fhir_examples"


@cache
def scored(key: str) -> PatientSnapshot:
    persona = next(p for p in json.loads((EXAMPLES / "personas.json").read_text()) if p["key"] == key)
    resources = ResourceSet.from_bundle(json.loads((EXAMPLES / persona["bundle"]).read_text()))
    snapshot = build_snapshot(
        resources,
        patient_id=persona["patient_id"],
        encounter_id=persona["encounter_id"],
        now=datetime.fromisoformat(persona["now"]),
        terminology=Terminology.load(ROOT / "rules" / "valuesets"),
        patient_key=f"persona-{key}",
    )
    return with_scores(snapshot)


def points(key: str, score: str) -> dict[str, float | None]:
    return {i.name: i.points for i in scored(key).scores[score].items}


# -- Ingrid Haugen, 84: heart failure, COPD, AF, type 2 diabetes, CKD 3, osteoporosis -------------
# Admitted through the ED 2026-11-13 18:30 (ED visit 14:00 that day), discharged 2026-11-20.


def test_ingrid_lace_is_15_high() -> None:
    """L 7 days = 5; A emergent = 3; C heart failure 2 + COPD 2 + diabetes 1 (CKD 0 in LACE) = 5 -> 5;
    E: ED visits 2026-08-20 and 2026-10-05 in the 6 months (2026-04-02 is older; 2026-11-13 led to this stay) = 2."""
    assert points("a", "lace") == {"length_of_stay": 5, "acute_admission": 3, "comorbidity": 5, "ed_visits": 2}
    assert (scored("a").scores["lace"].points, scored("a").scores["lace"].band) == (15, "high")


def test_ingrid_hospital_is_6_intermediate() -> None:
    """Last Hb of the stay 11.3 g/dL -> 1; cardiology, not oncology -> 0; last Na 135 -> 0; her only procedure is
    medication reconciliation (SNOMED 430193006), not a Donzé procedure -> 0; emergent -> 1; admissions 2026-01,
    2026-04, 2026-08 (2025-06 is older) = 3 -> 2; LOS 7 -> 2. Total 6, intermediate (7, high, while any
    Procedure counted)."""
    assert points("a", "hospital") == {
        "haemoglobin": 1, "oncology": 0, "sodium": 0, "procedure": 0,
        "index_admission_type": 1, "admissions": 2, "length_of_stay": 2,
    }
    assert scored("a").scores["hospital"].band == "intermediate"


def test_ingrid_simplified_hospital_is_6_likely_readmission() -> None:
    result = scored("a").scores["hospital_simplified"]
    assert (result.points, result.band) == (6, "high")


def test_ingrid_hfrs_counts_her_still_active_ckd_and_osteoporosis() -> None:
    """N18 1.4 + M81 1.4 = 2.8 (recorded 2022 and 2021 but still active); I50, J44, I48, E11 are not HFRS codes."""
    result = scored("a").scores["hfrs"]
    assert sorted(i.name for i in result.items) == ["M81", "N18"]
    assert (result.points, result.band, result.applicable) == (2.8, "low", True)


def test_ingrid_charlson_is_4() -> None:
    """Heart failure 2 + COPD 1 + renal 1 + uncomplicated diabetes 0."""
    assert scored("a").scores["charlson"].points == 4


# -- Solveig Dahl, 91: lung cancer with bone metastases, oncology ward ---------------------------


def test_solveig_hospital_is_7_high() -> None:
    """Hb 10.1 -> 1; oncology ward -> 2; Na 131 -> 1; medication reconciliation only -> 0; emergent -> 1;
    no admissions -> 0; LOS 7 -> 2."""
    assert points("c", "hospital") == {
        "haemoglobin": 1, "oncology": 2, "sodium": 1, "procedure": 0,
        "index_admission_type": 1, "admissions": 0, "length_of_stay": 2,
    }


def test_solveig_lace_metastatic_cancer_alone_gives_full_comorbidity_points() -> None:
    """L 7 -> 5; A 3; C metastatic 6 (lung primary superseded) -> 5; E 0 = 13 high."""
    result = scored("c").scores["lace"]
    assert (result.points, result.band) == (13, "high")


def test_solveig_charlson_counts_metastases_not_the_primary_on_top() -> None:
    result = scored("c").scores["charlson"]
    assert result.points == 6
    assert next(i for i in result.items if i.name == "malignancy").points == 0


# -- Per Lunde, 86: dementia, heart failure, aspiration pneumonia -------------------------------


def test_per_hospital_unknown_items_cannot_change_the_low_class() -> None:
    """Known: urgent 1; Hb 12.4, Na 139, 0 admissions, LOS 4 -> 0. Unknown: oncology (no service type) and
    procedures (none in the record) could add 2 + 1 -> at most 4, still low."""
    result = scored("d").scores["hospital"]
    assert (result.points, result.band) == (1, "low")
    assert set(result.unknown_items) == {"oncology", "procedure"}
    assert result.band_could_change is False


def test_per_hfrs_is_3_1() -> None:
    """F03 dementia 2.1 (active since 2021) + J69 aspiration pneumonia 1.0 this stay."""
    assert scored("d").scores["hfrs"].points == pytest.approx(3.1)


def test_per_lace_is_12_high() -> None:
    """L 4 days -> 4; A 3; C dementia 3 + heart failure 2 = 5 -> 5; E 0."""
    assert points("d", "lace") == {"length_of_stay": 4, "acute_admission": 3, "comorbidity": 5, "ed_visits": 0}


# -- Lise Pedersen, 60: multiple sclerosis, urinary tract infection, still in hospital ----------


def test_lise_hfrs_is_computed_but_not_applicable_under_75() -> None:
    result = scored("h").scores["hfrs"]
    assert (result.points, result.applicable) == (3.2, False)


def test_lise_missing_sodium_could_move_hospital_to_intermediate() -> None:
    """Known: urgent 1, Hb 12.9 -> 0. Unknown: oncology 2, sodium 1, procedure 1 -> up to 5 = intermediate."""
    result = scored("h").scores["hospital"]
    assert (result.points, result.band) == (1, "low")
    assert set(result.unknown_items) == {"oncology", "sodium", "procedure"}
    assert result.band_could_change is True


# -- Astrid Larsen, 79: repeated emergency admissions, no separate ED encounter ---------------------


def test_astrid_lace_counts_her_emergency_admission_without_an_ed_encounter() -> None:
    """L 4 days -> 4; A emergent 3; C heart failure 2 + diabetes 1 = 3 -> 3; E: no ED encounter in the six months
    before 2026-11-16, but the emergency admission of 2026-09-01 (akuttmottak inside the stay) -> 1. Total 11, high
    (10 while only ED-class encounters counted)."""
    assert points("j", "lace") == {"length_of_stay": 4, "acute_admission": 3, "comorbidity": 3, "ed_visits": 1}
    assert (scored("j").scores["lace"].points, scored("j").scores["lace"].band) == (11, "high")
