"""Patient identity by literal reference or by identifier (`cds.fhir.identity`), and its reports."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds.facts.builder import build_snapshot
from cds.fhir.client import BundleSource
from cds.fhir.identity import (
    DNR_SYSTEM,
    FHN_SYSTEM,
    FNR_SYSTEM,
    Link,
    PatientIdentity,
    PatientRef,
    is_valid_person_number,
)
from cds.fhir.resources import ResourceIssue, ResourceSet
from cds.quality.export import BulkExport
from cds.quality.fnr import synthetic_fnr
from cds.rules.ruleset import RuleSet

RULES = Path(__file__).resolve().parents[2] / "rules"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
FNR = synthetic_fnr(date(1942, 3, 14), individual=123)
OTHER_FNR = synthetic_fnr(date(1950, 6, 1), individual=321)
HOSPITAL_SYSTEM = "urn:oid:2.16.578.1.12.4.1.2.1234"  # a hospital's own patient number (not trusted by default)
PATIENT = {"resourceType": "Patient", "id": "ingrid", "identifier": [{"system": FNR_SYSTEM, "value": FNR},
                                                                     {"system": HOSPITAL_SYSTEM, "value": "H-77"}]}
TERMINOLOGY = RuleSet.load(RULES).terminology
births = st.dates(min_value=date(1900, 1, 1), max_value=date(2039, 12, 31))


def _cfs(value: int, subject: dict, oid: str = "cfs-1") -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "763264000"}]},
            "subject": subject, "effectiveDateTime": "2026-11-19T10:00:00+00:00", "valueInteger": value}


def _by(system: str, value: str) -> dict:
    return {"identifier": {"system": system, "value": value}}


def _snapshot(*resources: dict, trusted: frozenset[str] = frozenset()) -> tuple[object, list[ResourceIssue]]:
    issues: list[ResourceIssue] = []
    snapshot = build_snapshot(
        ResourceSet.from_json([PATIENT, *resources]), patient_id="ingrid", encounter_id=None, now=NOW,
        terminology=TERMINOLOGY, patient_key="k", issues=issues, trusted_systems=trusted,
    )
    return snapshot, issues


@given(births, st.integers(min_value=0, max_value=999))
def test_every_generated_fodselsnummer_passes_the_check_digits(birth, individual):
    assert is_valid_person_number(synthetic_fnr(birth, individual))


@given(births, st.integers(min_value=0, max_value=999), st.integers(min_value=0, max_value=10),
       st.integers(min_value=1, max_value=9))
def test_any_single_wrong_digit_is_caught_by_the_check_digits(birth, individual, position, shift):
    number = synthetic_fnr(birth, individual)
    wrong = number[:position] + str((int(number[position]) + shift) % 10) + number[position + 1:]
    assert not is_valid_person_number(wrong)


@given(births, st.integers(min_value=0, max_value=999))
def test_a_reference_by_the_patients_own_number_is_this_patient_and_by_any_other_number_is_not(birth, individual):
    identity = PatientIdentity.of(PATIENT)
    other = synthetic_fnr(birth, individual)
    expected = Link.THIS if other == FNR else Link.OTHER_IDENTIFIER
    assert identity.link(PatientRef(None, FNR_SYSTEM, other)) is expected


def test_a_d_number_reference_to_a_patient_known_by_fodselsnummer_cannot_be_linked():
    d_number = str(int(FNR[0]) + 4) + FNR[1:9]
    from cds.fhir.identity import check_digits

    digits = check_digits(d_number)
    assert digits is not None
    assert PatientIdentity.of(PATIENT).link(PatientRef(None, DNR_SYSTEM, d_number + digits)) is Link.UNLINKABLE


def test_a_cfs_by_fodselsnummer_counts_for_the_patient():
    snapshot, issues = _snapshot(_cfs(9, _by(FNR_SYSTEM, FNR)))
    assert snapshot.cfs is not None and snapshot.cfs.score == 9
    assert issues == []


def test_a_cfs_by_another_patients_fodselsnummer_is_left_out_and_reported():
    snapshot, issues = _snapshot(_cfs(9, _by(FNR_SYSTEM, OTHER_FNR)))
    assert snapshot.cfs is None
    assert [(i.resource_type, i.id) for i in issues] == [("Observation", "cfs-1")]
    assert "another patient" in issues[0].message and OTHER_FNR not in issues[0].message


def test_a_malformed_fodselsnummer_is_reported_never_corrected():
    wrong = FNR[:10] + str((int(FNR[10]) + 1) % 10)
    snapshot, issues = _snapshot(_cfs(9, _by(FNR_SYSTEM, wrong)))
    assert snapshot.cfs is None
    assert len(issues) == 1 and "check digits" in issues[0].message and wrong not in str(issues[0])


def test_an_identifier_of_an_untrusted_system_is_reported_until_the_system_is_trusted():
    snapshot, issues = _snapshot(_cfs(8, _by(HOSPITAL_SYSTEM, "H-77")))
    assert snapshot.cfs is None and "not trusted" in issues[0].message
    trusted, issues = _snapshot(_cfs(8, _by(HOSPITAL_SYSTEM, "H-77")), trusted=frozenset({HOSPITAL_SYSTEM}))
    assert trusted.cfs is not None and trusted.cfs.score == 8 and issues == []


def test_a_literal_reference_contradicted_by_its_identifier_is_left_out_and_reported():
    subject = {"reference": "Patient/ingrid", "identifier": {"system": FNR_SYSTEM, "value": OTHER_FNR}}
    snapshot, issues = _snapshot(_cfs(9, subject))
    assert snapshot.cfs is None and "different patients" in issues[0].message


def test_a_reference_by_felles_hjelpenummer_needs_the_patient_to_carry_one():
    snapshot, issues = _snapshot(_cfs(9, _by(FHN_SYSTEM, "12345678901")))
    assert snapshot.cfs is None and "does not carry" in issues[0].message


def test_a_literal_reference_to_another_patient_is_left_out_silently():
    snapshot, issues = _snapshot(_cfs(9, {"reference": "Patient/someone-else"}))
    assert snapshot.cfs is None and issues == []


def _fetch(source: BundleSource, query: str) -> list[str]:
    return [r["id"] for r in asyncio.run(source.fetch(query)).resources]


def test_the_bundle_search_by_patient_finds_resources_named_by_identifier_and_keeps_the_unlinkable_for_reporting():
    source = BundleSource([PATIENT, _cfs(9, _by(FNR_SYSTEM, FNR), "mine"), _cfs(9, _by(FNR_SYSTEM, OTHER_FNR), "theirs"),
                           _cfs(9, {"reference": "Patient/other"}, "literal-other")])
    assert _fetch(source, "Observation?patient=ingrid") == ["mine", "theirs"]


def test_the_bundle_search_by_identifier_finds_literal_and_logical_references():
    source = BundleSource([PATIENT, _cfs(9, _by(FNR_SYSTEM, FNR), "logical"),
                           _cfs(9, {"reference": "Patient/ingrid"}, "literal")])
    assert _fetch(source, f"Observation?subject:identifier={FNR_SYSTEM}|{FNR}") == ["logical", "literal"]
    assert _fetch(source, f"Observation?subject:identifier={FNR_SYSTEM}|{OTHER_FNR}") == []


def test_an_export_links_resources_by_fodselsnummer_and_reports_those_it_cannot_link(tmp_path):
    lines = [_cfs(9, _by(FNR_SYSTEM, FNR), "mine"), _cfs(9, _by(FNR_SYSTEM, OTHER_FNR), "nobodys")]
    (tmp_path / "Patient.ndjson").write_text(json.dumps(PATIENT) + "\n")
    (tmp_path / "Observation.ndjson").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    export = BulkExport(tmp_path)
    index = export.index()
    assert [(pid, sorted(r["id"] for r in rs)) for pid, rs in export.patients(index)] == [("ingrid", ["ingrid", "mine"])]
    assert index.bad_lines == ["Observation.ndjson:2: refers to its patient by an identifier no Patient in the export carries; left out"]
    assert OTHER_FNR not in " ".join(index.bad_lines)


@pytest.mark.parametrize("trusted", [[], [HOSPITAL_SYSTEM]])
def test_the_service_setting_trusts_more_identifier_systems(trusted, tmp_path):
    from cds.evaluation import EvaluationCall
    from cds.service.runtime import build_evaluator
    from cds.service.settings import Settings

    settings = Settings(data_dir=tmp_path, pseudonym_key="k" * 32, fhir={"trusted_identifier_systems": trusted})
    call = EvaluationCall(service_id="frailty-admission", hook="encounter-start", patient_id="ingrid",
                          encounter_id=None, user_id=None, now=NOW,
                          resources=ResourceSet.from_json([PATIENT, _cfs(8, _by(HOSPITAL_SYSTEM, "H-77"))]))
    evaluation = build_evaluator(settings).evaluate(call)
    assert (evaluation.snapshot.cfs is not None) is bool(trusted)
    assert any("not trusted" in issue for issue in evaluation.issues) is not bool(trusted)
