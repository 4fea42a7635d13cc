"""Turn a readmission CSV row into synthetic FHIR R4 resources (JSON dicts).

The resources carry exactly what the model's features read, so that
``build_snapshot`` on them gives the row's features back (the round-trip test),
and they can seed synthetic cohorts:

* ``Patient``: gender, birthDate so the age at admission and at discharge falls
  in the middle of the row's 10-year band (lower bound + 5 years);
* ``Encounter`` (the stay): class IMP, period of ``duration`` days, priority EM
  and admitSource ``emd`` when ``admission_source`` is Emergency, else priority R;
* ``number_inpatient`` / ``number_emergency`` / ``number_outpatient`` earlier
  finished encounters of class IMP / EMER / AMB, one every 7 days before the
  admission, all within the 365-day window;
* ``hospitalization.dischargeDisposition`` for the row's discharge group, and
  for "home with services" a municipal home-nursing ServiceRequest;
* ``n_diagnoses`` encounter-diagnosis Conditions (distinct ICD-10 codes), the
  first of them an ICD-10 code of ``diag_1``'s chapter, listed in
  ``Encounter.diagnosis`` with rank 1 (the primary diagnosis),
  ``n_procedures`` completed Procedures, ``n_medications`` active
  MedicationStatements (distinct codes), all referring to the stay;
* an HbA1c Observation (LOINC 4548-4, %) in the stay unless ``blood_glucose`` is empty.

Codes come from ``data/fhir_rows.yaml``. Ids are derived from ``prefix``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import yaml

from cds.model.diagnoses import icd9_chapter
from cds.model.features import FeatureConfig

__all__ = ["FhirRow", "row_to_fhir"]

_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_ACT_PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
_ADMIT_SOURCE = "http://terminology.hl7.org/CodeSystem/admit-source"
_CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
_OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_UCUM = "http://unitsofmeasure.org"


@cache
def _codes() -> dict[str, Any]:
    text = resources.files("cds.model").joinpath("data/fhir_rows.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


@dataclass(frozen=True)
class FhirRow:
    """The resources of one row, and the ids and moment to build its snapshot with."""

    resources: list[dict[str, Any]]
    patient_id: str
    encounter_id: str
    discharged: datetime


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _birth_date(band_lower: int, admitted: datetime) -> date:
    years = band_lower + 5
    try:
        return admitted.date().replace(year=admitted.year - years) - timedelta(days=1)
    except ValueError:  # 29 February
        return admitted.date().replace(year=admitted.year - years, day=28) - timedelta(days=1)


def _int(row: Mapping[str, str], column: str) -> int:
    return int(float(row[column]))


def row_to_fhir(row: Mapping[str, str], *, admitted: datetime, prefix: str = "r") -> FhirRow:
    """Resources for one CSV row (values as strings, as read with ``dtype=str``)."""
    codes = _codes()
    config = FeatureConfig.load()
    patient_id, encounter_id = f"{prefix}-patient", f"{prefix}-stay"
    subject = {"reference": f"Patient/{patient_id}"}
    stay_ref = {"reference": f"Encounter/{encounter_id}"}
    discharged = admitted + timedelta(days=_int(row, "duration"))
    band = int(str(row["age"]).strip()[1:].split("-")[0])
    emergency = str(row["admission_source"]).strip() == config.csv_emergency_source

    out: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": patient_id,
            "gender": {"Female": "female", "Male": "male"}[str(row["sex"]).strip()],
            "birthDate": _birth_date(band, admitted).isoformat(),
        }
    ]
    stay: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": encounter_id,
        "status": "finished",
        "class": {"system": _ACT_CODE, "code": "IMP"},
        "priority": {"coding": [{"system": _ACT_PRIORITY, "code": "EM" if emergency else "R"}]},
        "subject": subject,
        "period": {"start": _iso(admitted), "end": _iso(discharged)},
    }
    hospitalization: dict[str, Any] = {}
    if emergency:
        hospitalization["admitSource"] = {"coding": [{"system": _ADMIT_SOURCE, "code": "emd"}]}
    group = config.discharge_codes_by_uci[_int(row, "discharge_disposition_id")]
    disposition = codes["discharge_dispositions"].get(group)
    if disposition is not None:
        hospitalization["dischargeDisposition"] = {"coding": [dict(disposition)]}
    if hospitalization:
        stay["hospitalization"] = hospitalization
    n_diagnoses = _int(row, "n_diagnoses")
    chapter = icd9_chapter(str(row["diag_1"]))
    primary_code = codes["primary_diagnosis_codes"].get(chapter) if chapter is not None else None
    if n_diagnoses and primary_code is not None:
        stay["diagnosis"] = [{"condition": {"reference": f"Condition/{prefix}-dx-0"}, "rank": 1}]
    out.append(stay)
    if group == config.discharge_home_with_services_code:
        service = codes["municipal_service"]
        out.append(
            {
                "resourceType": "ServiceRequest",
                "id": f"{prefix}-service",
                "status": "active",
                "intent": "order",
                "code": {"coding": [{"system": service["system"], "code": service["code"]}]},
                "subject": subject,
                "encounter": stay_ref,
                "authoredOn": _iso(discharged - timedelta(hours=4)),
            }
        )

    spacing = int(codes["prior_visit_spacing_days"])
    k = 0
    for column, visit_class in codes["prior_visit_class_by_column"].items():
        for _ in range(_int(row, column)):
            start = admitted - timedelta(days=spacing * (k + 1))
            out.append(
                {
                    "resourceType": "Encounter",
                    "id": f"{prefix}-prior-{k}",
                    "status": "finished",
                    "class": {"system": _ACT_CODE, "code": visit_class},
                    "subject": subject,
                    "period": {"start": _iso(start), "end": _iso(start + timedelta(hours=3))},
                }
            )
            k += 1
    for k in range(n_diagnoses):
        out.append(
            {
                "resourceType": "Condition",
                "id": f"{prefix}-dx-{k}",
                "clinicalStatus": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
                },
                "category": [{"coding": [{"system": _CONDITION_CATEGORY, "code": "encounter-diagnosis"}]}],
                "code": {
                    "coding": [
                        {
                            "system": codes["diagnosis_system"],
                            "code": primary_code if k == 0 and primary_code else codes["diagnosis_codes"][k],
                        }
                    ]
                },
                "subject": subject,
                "encounter": stay_ref,
                "recordedDate": _iso(admitted),
            }
        )
    for k in range(_int(row, "n_procedures")):
        out.append(
            {
                "resourceType": "Procedure",
                "id": f"{prefix}-proc-{k}",
                "status": "completed",
                "code": {"coding": [{"system": codes["procedure_system"], "code": f"proc-{k}"}]},
                "subject": subject,
                "encounter": stay_ref,
                "performedDateTime": _iso(admitted + timedelta(hours=2)),
            }
        )
    for k in range(_int(row, "n_medications")):
        out.append(
            {
                "resourceType": "MedicationStatement",
                "id": f"{prefix}-med-{k}",
                "status": "active",
                "medicationCodeableConcept": {
                    "coding": [{"system": codes["medication_system"], "code": f"med-{k}"}],
                    "text": f"synthetic medication {k}",
                },
                "subject": subject,
                "context": stay_ref,
                "effectivePeriod": {"start": _iso(admitted)},
            }
        )
    category = str(row["blood_glucose"]).strip()
    if category:
        h = codes["hba1c"]
        out.append(
            {
                "resourceType": "Observation",
                "id": f"{prefix}-hba1c",
                "status": "final",
                "category": [{"coding": [{"system": _OBSERVATION_CATEGORY, "code": "laboratory"}]}],
                "code": {"coding": [{"system": h["system"], "code": h["code"], "display": h["display"]}]},
                "subject": subject,
                "encounter": stay_ref,
                "effectiveDateTime": _iso(admitted + timedelta(hours=6)),
                "valueQuantity": {
                    "value": float(h["values"][category]),
                    "unit": h["unit"],
                    "system": _UCUM,
                    "code": h["unit"],
                },
            }
        )
    return FhirRow(resources=out, patient_id=patient_id, encounter_id=encounter_id, discharged=discharged)
