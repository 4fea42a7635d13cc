"""Medications, reconciliation and medication review."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from factkit import ADMITTED, CET, EID, SNOMED, build, concept, encounter, patient

ATC = "urn:oid:2.16.578.1.12.4.1.1.7180"


def statement(mid: str, atc: str, status: str = "active") -> dict:
    return {
        "resourceType": "MedicationStatement",
        "id": mid,
        "status": status,
        "medicationCodeableConcept": concept(ATC, atc),
        "subject": {"reference": "Patient/kari"},
    }


def request(mid: str, atc: str, status: str = "active") -> dict:
    return {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": concept(ATC, atc),
        "subject": {"reference": "Patient/kari"},
    }


def procedure(pid: str, code: str, when: datetime, *, in_stay: bool = False, status: str = "completed") -> dict:
    resource = {
        "resourceType": "Procedure",
        "id": pid,
        "status": status,
        "code": concept(SNOMED, code),
        "subject": {"reference": "Patient/kari"},
        "performedDateTime": when.isoformat(),
    }
    if in_stay:
        resource["encounter"] = {"reference": f"Encounter/{EID}"}
    return resource


def test_the_same_drug_on_a_statement_and_a_request_counts_once() -> None:
    snapshot = build(
        [patient(), encounter(), statement("s1", "C03CA01"), request("r1", "C03CA01"), statement("s2", "C07AB07")]
    )
    assert snapshot.active_medication_count == 2
    assert len(snapshot.medications or ()) == 3


def test_stopped_medication_is_listed_but_not_counted() -> None:
    snapshot = build([patient(), encounter(), statement("s1", "C03CA01"), statement("s2", "N05CF01", "stopped")])
    assert snapshot.active_medication_count == 1
    assert [m.active for m in snapshot.medications or ()] == [True, False]


def test_medication_reference_is_resolved_to_its_code() -> None:
    medication = {"resourceType": "Medication", "id": "m1", "code": concept(ATC, "B01AF02")}
    ms = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "active",
        "medicationReference": {"reference": "Medication/m1"},
        "subject": {"reference": "Patient/kari"},
    }
    snapshot = build([patient(), encounter(), medication, ms])
    assert snapshot.medications[0].codings[0].code == "B01AF02"


def test_no_medication_data_means_unknown_count() -> None:
    assert build([patient(), encounter()]).active_medication_count is None


def test_no_medications_when_searched_means_zero() -> None:
    snapshot = build([patient(), encounter()], searched=["MedicationStatement", "MedicationRequest"])
    assert snapshot.active_medication_count == 0


def test_reconciliation_during_this_stay_counts() -> None:
    rec = procedure("rec", "430193006", ADMITTED + timedelta(days=1), in_stay=True)
    assert build([patient(), encounter(), rec]).medication_reconciled is True


def test_reconciliation_from_an_earlier_stay_does_not_count() -> None:
    old = procedure("rec", "430193006", ADMITTED - timedelta(days=100))
    assert build([patient(), encounter(), old]).medication_reconciled is False


def test_reconciliation_is_unknown_without_procedure_data() -> None:
    assert build([patient(), encounter()]).medication_reconciled is None


def test_reconciliation_recorded_as_a_completed_task_counts() -> None:
    task = {
        "resourceType": "Task",
        "id": "t",
        "status": "completed",
        "intent": "order",
        "code": concept(SNOMED, "430193006"),
        "for": {"reference": "Patient/kari"},
        "encounter": {"reference": f"Encounter/{EID}"},
        "lastModified": "2026-11-16T10:00:00+01:00",
    }
    assert build([patient(), encounter(), task], searched=["Procedure", "Task"]).medication_reconciled is True


def test_last_medication_review_is_the_latest_completed_one() -> None:
    reviews = [
        procedure("r1", "182836005", datetime(2025, 3, 10, 10, tzinfo=CET)),
        procedure("r2", "182836005", datetime(2026, 2, 1, 10, tzinfo=CET)),
        procedure("r3", "182836005", datetime(2026, 6, 1, 10, tzinfo=CET), status="not-done"),
    ]
    assert build([patient(), encounter(), *reviews]).last_medication_review == date(2026, 2, 1)


def test_empty_procedure_searchset_lets_the_builder_conclude_no_reconciliation() -> None:
    empty = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 0,
        "link": [{"relation": "self", "url": "Procedure?patient=kari"}],
    }
    assert build([patient(), encounter(), empty]).medication_reconciled is False
