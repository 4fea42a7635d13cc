"""Shared builders for the fact-group tests: tiny FHIR resources around one patient and one stay.

Imported by the tests as ``factkit`` (conftest.py puts this folder on sys.path).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cds.facts import build_snapshot
from cds.facts.snapshot import PatientSnapshot
from cds.fhir.resources import ResourceIssue, ResourceSet
from cds.terminology import Terminology

CET = timezone(timedelta(hours=1))
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=CET)
ADMITTED = datetime(2026, 11, 15, 10, 0, tzinfo=CET)
PID = "kari"
EID = "stay"
NO_ICD10 = "urn:oid:2.16.578.1.12.4.1.1.7110"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
LOCAL = "https://fhir.cds-frailty.no/CodeSystem"
TERMINOLOGY = Terminology.load(Path(__file__).resolve().parents[2] / "rules" / "valuesets")


def iso(moment: datetime) -> str:
    return moment.isoformat()


def concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": PID, "birthDate": "1942-03-14", "gender": "female", **extra}


def encounter(
    eid: str = EID, *, cls: str = "IMP", start: datetime = ADMITTED, end: datetime | None = None, **extra: Any
) -> dict[str, Any]:
    period = {"start": iso(start), **({"end": iso(end)} if end else {})}
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "in-progress" if eid == EID else "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": cls},
        "subject": {"reference": f"Patient/{PID}"},
        "period": period,
        **extra,
    }


def observation(oid: str, code: dict[str, Any], when: datetime | str | None = None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": code,
        "subject": {"reference": f"Patient/{PID}"},
    }
    if when is not None:
        resource["effectiveDateTime"] = when if isinstance(when, str) else iso(when)
    resource.update(extra)
    return resource


def condition(
    cid: str, system: str, code: str, *, recorded: datetime | None = None, in_stay: bool = False, **extra: Any
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": cid,
        "code": concept(system, code),
        "subject": {"reference": f"Patient/{PID}"},
    }
    if recorded is not None:
        resource["recordedDate"] = iso(recorded)
    if in_stay:
        resource["encounter"] = {"reference": f"Encounter/{EID}"}
    resource.update(extra)
    return resource


def build(
    resources: Iterable[dict[str, Any]],
    *,
    encounter_id: str | None = EID,
    now: datetime = NOW,
    searched: Iterable[str] | None = None,
    issues: list[ResourceIssue] | None = None,
) -> PatientSnapshot:
    return build_snapshot(
        ResourceSet.from_json(list(resources)),
        patient_id=PID,
        encounter_id=encounter_id,
        now=now,
        terminology=TERMINOLOGY,
        patient_key="test-key",
        searched=searched,
        issues=issues,
    )
