"""A readmission CSV row turned into FHIR and back through the fact builder gives the same features."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import pandas as pd
import pytest

from cds.facts.builder import build_snapshot
from cds.fhir.resources import ENGINE_RESOURCE_TYPES, ResourceSet
from cds.model.features import features_from_frame, features_from_snapshot
from cds.model.fhir_rows import row_to_fhir
from cds.terminology import Terminology

from .conftest import REPO, synthetic_frame

ADMITTED = datetime(2026, 2, 27, 14, 30, tzinfo=UTC)  # the stay crosses 29 February in leap years


@cache
def terminology() -> Terminology:
    return Terminology.load(REPO / "rules" / "valuesets")


def round_trip(row: dict[str, str], prefix: str = "r") -> dict[str, float]:
    fhir = row_to_fhir(row, admitted=ADMITTED, prefix=prefix)
    resources = ResourceSet.from_json(fhir.resources)
    assert resources.issues == []
    snapshot = build_snapshot(
        resources,
        patient_id=fhir.patient_id,
        encounter_id=fhir.encounter_id,
        now=fhir.discharged,
        terminology=terminology(),
        patient_key="k-roundtrip",
        searched=ENGINE_RESOURCE_TYPES,
    )
    return features_from_snapshot(snapshot)


def expected(row: dict[str, str]) -> dict[str, float]:
    return features_from_frame(pd.DataFrame([row])).iloc[0].to_dict()


BASE = {
    "readmitted": "No", "race": "Caucasian", "sex": "Male", "age": "[70-80)", "admission_source": "Emergency",
    "blood_glucose": "", "insurer": "", "duration": "3.0", "n_previous_visits": "2.0", "n_diagnoses": "8.0",
    "n_procedures": "1.0", "n_medications": "14.0", "discharge_disposition_id": "1", "number_outpatient": "1",
    "number_emergency": "0", "number_inpatient": "1", "diag_1": "428",
}

EDGE_ROWS = {
    "youngest band, elective referral": {"age": "[0-10)", "admission_source": "Referral"},
    "oldest band, other source": {"age": "[90-100)", "admission_source": "Other", "sex": "Female"},
    "no procedures, no earlier visits": {
        "n_procedures": "0.0", "n_previous_visits": "0.0", "number_inpatient": "0", "number_outpatient": "0",
    },
    "HbA1c normal": {"blood_glucose": "Normal"},
    "HbA1c high": {"blood_glucose": "High"},
    "HbA1c very high": {"blood_glucose": "Very High"},
    "longest stay, most diagnoses": {"duration": "14.0", "n_diagnoses": "16.0"},
    "many earlier visits, many medications": {
        "n_previous_visits": "49.0", "number_inpatient": "20", "number_emergency": "9", "number_outpatient": "20",
        "n_medications": "81.0",
    },
    "home with home health service": {"discharge_disposition_id": "6"},
    "skilled nursing facility": {"discharge_disposition_id": "3"},
    "rehabilitation, respiratory diagnosis": {"discharge_disposition_id": "22", "diag_1": "486"},
    "other hospital, V-code diagnosis": {"discharge_disposition_id": "2", "diag_1": "V57"},
    "hospice, diagnosis in a chapter without its own group": {"discharge_disposition_id": "13", "diag_1": "345"},
    "disposition not recorded, E-code diagnosis": {"discharge_disposition_id": "18", "diag_1": "E885"},
    "one-day stay, one diagnosis, one medication": {"duration": "1.0", "n_diagnoses": "1.0", "n_medications": "1.0"},
}


@pytest.mark.parametrize("name", list(EDGE_ROWS))
def test_edge_row_round_trips_through_fhir(name: str) -> None:
    row = {**BASE, **EDGE_ROWS[name]}
    assert round_trip(row) == expected(row)


def test_varied_synthetic_rows_round_trip_through_fhir() -> None:
    frame = synthetic_frame(60, seed=21).astype(str)
    for i, row in enumerate(frame.to_dict(orient="records")):
        assert round_trip(row, prefix=f"s{i}") == expected(row), f"row {i}: {row}"


def test_without_a_procedure_search_the_procedure_count_is_unknown_not_zero() -> None:
    from cds.model.features import FeatureUnavailable

    row = {**BASE, "n_procedures": "0.0"}
    fhir = row_to_fhir(row, admitted=ADMITTED)
    snapshot = build_snapshot(
        ResourceSet.from_json(fhir.resources),
        patient_id=fhir.patient_id,
        encounter_id=fhir.encounter_id,
        now=fhir.discharged,
        terminology=terminology(),
        patient_key="k",
        searched=[t for t in ENGINE_RESOURCE_TYPES if t != "Procedure"],
    )
    with pytest.raises(FeatureUnavailable) as info:
        features_from_snapshot(snapshot)
    assert info.value.missing == ("n_procedures",)

