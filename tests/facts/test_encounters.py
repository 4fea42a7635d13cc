"""The current encounter and the history of earlier encounters."""

from __future__ import annotations

from datetime import date, timedelta

from factkit import ADMITTED, NOW, SNOMED, build, concept, encounter, patient

from cds.facts.snapshot import EncounterClass
from cds.fhir.resources import ResourceIssue

PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
DAY = timedelta(days=1)


def test_v3_actcode_classes_map_to_snapshot_classes() -> None:
    assert build([patient(), encounter(cls="IMP")]).encounter_class is EncounterClass.inpatient
    assert build([patient(), encounter(cls="ACUTE")]).encounter_class is EncounterClass.inpatient
    assert build([patient(), encounter(cls="EMER")]).encounter_class is EncounterClass.emergency
    assert build([patient(), encounter(cls="FLD")]).encounter_class is EncounterClass.other


def test_length_of_stay_counts_calendar_days_to_the_end() -> None:
    stay = encounter(start=ADMITTED, end=ADMITTED + 3 * DAY - timedelta(hours=9))
    assert build([patient(), stay]).length_of_stay_days == 3  # 63 hours over three date changes


def test_length_of_stay_runs_to_now_while_in_progress() -> None:
    assert build([patient(), encounter()]).length_of_stay_days == (NOW.date() - ADMITTED.date()).days


def test_emergency_priority_makes_the_admission_emergent() -> None:
    assert build([patient(), encounter(priority=concept(PRIORITY, "EM"))]).admission_emergent is True


def test_admit_source_from_the_ed_makes_the_admission_emergent() -> None:
    stay = encounter(
        hospitalization={"admitSource": concept("http://terminology.hl7.org/CodeSystem/admit-source", "emd")}
    )
    assert build([patient(), stay]).admission_emergent is True


def test_elective_priority_is_not_emergent() -> None:
    assert build([patient(), encounter(priority=concept(PRIORITY, "EL"))]).admission_emergent is False


def test_silent_encounter_leaves_emergent_unknown() -> None:
    assert build([patient(), encounter()]).admission_emergent is None


def test_ed_visit_ending_just_before_the_admission_makes_it_emergent() -> None:
    ed = encounter("ed", cls="EMER", start=ADMITTED - timedelta(hours=5), end=ADMITTED - timedelta(minutes=20))
    assert build([patient(), encounter(), ed]).admission_emergent is True


def test_oncology_service_type_marks_an_oncology_discharge() -> None:
    oncology = encounter(serviceType=concept(SNOMED, "394593009"))
    medicine = encounter(serviceType=concept(SNOMED, "394802001"))
    assert build([patient(), oncology]).oncology_discharge is True
    assert build([patient(), medicine]).oncology_discharge is False
    assert build([patient(), encounter()]).oncology_discharge is None


def test_discharge_disposition_maps_to_a_destination() -> None:
    stay = encounter(hospitalization={"dischargeDisposition": concept(DISPOSITION, "snf")})
    assert build([patient(), stay]).discharge_destination == "nursing-home"


def test_unknown_discharge_disposition_is_unknown_and_reported(issues: list[ResourceIssue]) -> None:
    stay = encounter(hospitalization={"dischargeDisposition": concept("urn:local", "x")})
    assert build([patient(), stay], issues=issues).discharge_destination is None
    assert any("discharge" in i.message for i in issues)


def test_ready_for_discharge_and_tentative_date_come_from_extensions() -> None:
    stay = encounter(
        extension=[
            {
                "url": "https://fhir.cds-frailty.no/StructureDefinition/ready-for-discharge",
                "valueDateTime": "2026-11-19T14:00:00+01:00",
            },
            {
                "url": "https://fhir.cds-frailty.no/StructureDefinition/expected-discharge-date",
                "valueDate": "2026-11-21",
            },
        ]
    )
    snapshot = build([patient(), stay])
    assert snapshot.ready_for_discharge is not None and snapshot.ready_for_discharge.hour == 14
    assert snapshot.tentative_discharge_date == date(2026, 11, 21)


def test_r5_planned_end_date_cross_version_extension_is_accepted() -> None:
    stay = encounter(
        extension=[
            {
                "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedEndDate",
                "valueDateTime": "2026-11-22T12:00:00+01:00",
            }
        ]
    )
    assert build([patient(), stay]).tentative_discharge_date == date(2026, 11, 22)


def test_history_sorts_earlier_encounters_by_class() -> None:
    old = ADMITTED - 90 * DAY
    resources = [
        patient(),
        encounter(),
        encounter(
            "adm",
            cls="IMP",
            start=old,
            end=old + 4 * DAY,
            hospitalization={"dischargeDisposition": concept(DISPOSITION, "home")},
        ),
        encounter("ed", cls="EMER", start=old - DAY, end=old - DAY + timedelta(hours=4)),
        encounter("opd", cls="AMB", start=old + 30 * DAY, end=old + 30 * DAY + timedelta(hours=1)),
    ]
    snapshot = build(resources)
    assert [a.encounter_id for a in snapshot.admissions or ()] == ["adm"]
    assert snapshot.admissions[0].discharge_destination == "home"
    assert snapshot.admissions[0].emergency is None
    assert [e.encounter_id for e in snapshot.ed_visits or ()] == ["ed"]
    assert [o.encounter_id for o in snapshot.outpatient_visits or ()] == ["opd"]


def test_history_leaves_out_the_current_cancelled_and_later_encounters() -> None:
    cancelled = {**encounter("cancelled", start=ADMITTED - 10 * DAY), "status": "cancelled"}
    later = encounter("later", start=ADMITTED + DAY, end=ADMITTED + 2 * DAY)
    assert build([patient(), encounter(), cancelled, later]).admissions == ()


def test_history_is_unknown_without_encounter_data() -> None:
    snapshot = build([patient()], encounter_id=None)
    assert snapshot.admissions is None and snapshot.ed_visits is None


def test_history_is_empty_when_encounters_were_searched_and_none_found() -> None:
    assert build([patient()], encounter_id=None, searched=["Encounter"]).admissions == ()


def test_missing_current_encounter_is_reported(issues: list[ResourceIssue]) -> None:
    snapshot = build([patient()], issues=issues)
    assert snapshot.encounter_id == "stay" and snapshot.encounter_start is None
    assert any(i.resource_type == "Encounter" for i in issues)
