"""A bulk export says which resource types were exported: absent ones are 'none', not 'unknown'."""

from datetime import datetime, timezone
from pathlib import Path

from cds.quality.batch import exported_types, prepare_patient

NOW = datetime(2026, 11, 20, 11, 0, tzinfo=timezone.utc)

PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1944-02-01", "gender": "female"}
ENCOUNTER = {
    "resourceType": "Encounter",
    "id": "e1",
    "status": "in-progress",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
    "subject": {"reference": "Patient/p1"},
    "period": {"start": "2026-11-15T10:00:00+00:00"},
}


def test_export_types_come_from_file_names_including_numbered_parts():
    files = [Path("Patient.ndjson"), Path("Procedure.ndjson"), Path("Procedure.2.ndjson")]
    assert exported_types(files) == {"Patient", "Procedure"}


def test_types_held_by_the_export_count_as_searched_for_every_patient():
    _, _, resources = prepare_patient([PATIENT, ENCOUNTER], "patient-view", NOW, {"Procedure", "Condition"})
    assert {"Procedure", "Condition"} <= resources.searched


def test_without_export_types_nothing_extra_is_marked_searched():
    _, _, resources = prepare_patient([PATIENT, ENCOUNTER], "patient-view", NOW)
    assert "Procedure" not in resources.searched
