"""Diagnoses and procedures: every Condition and Procedure with all its codings."""

from __future__ import annotations

from datetime import date, timedelta

from factkit import ADMITTED, EID, NO_ICD10, SNOMED, build, concept, condition, encounter, patient

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def test_condition_keeps_every_coding_across_systems() -> None:
    both = condition("hf", NO_ICD10, "I50.0")
    both["code"]["coding"].append({"system": SNOMED, "code": "84114007"})
    fact = build([patient(), encounter(), both]).conditions[0]
    assert [c.system for c in fact.codings] == [NO_ICD10, SNOMED]


def test_clinical_status_sets_active() -> None:
    active = condition("a", NO_ICD10, "I50.0", clinicalStatus=concept(CLINICAL, "active"))
    resolved = condition("r", NO_ICD10, "J18.9", clinicalStatus=concept(CLINICAL, "resolved"))
    silent = condition("s", NO_ICD10, "I10")
    facts = {f.codings[0].code: f.active for f in build([patient(), encounter(), active, resolved, silent]).conditions}
    assert facts == {"I50.0": True, "J18.9": False, "I10": None}


def test_refuted_and_entered_in_error_conditions_are_left_out() -> None:
    refuted = condition("x", NO_ICD10, "F05.0", verificationStatus=concept(VERIFICATION, "refuted"))
    wrong = condition("y", NO_ICD10, "C34.1", verificationStatus=concept(VERIFICATION, "entered-in-error"))
    assert build([patient(), encounter(), refuted, wrong], searched=["Condition"]).conditions == ()


def test_encounter_diagnosis_of_this_stay_is_in_the_current_encounter() -> None:
    dx = condition(
        "dx",
        NO_ICD10,
        "J44.1",
        in_stay=True,
        category=[concept("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis")],
    )
    fact = build([patient(), encounter(), dx]).conditions[0]
    assert fact.in_current_encounter is True and fact.category == "encounter-diagnosis"


def test_recorded_and_onset_dates_are_kept() -> None:
    dated = condition("d", NO_ICD10, "E11.9", recorded=ADMITTED - timedelta(days=400), onsetDateTime="2015")
    fact = build([patient(), encounter(), dated]).conditions[0]
    assert fact.onset == date(2015, 1, 1) and fact.recorded == (ADMITTED - timedelta(days=400)).date()
    assert fact.in_current_encounter is False


def test_conditions_are_unknown_without_condition_data() -> None:
    assert build([patient(), encounter()]).conditions is None


def procedure(pid: str, status: str, **extra: object) -> dict:
    return {
        "resourceType": "Procedure",
        "id": pid,
        "status": status,
        "code": concept(SNOMED, "52734007"),
        "subject": {"reference": "Patient/kari"},
        **extra,
    }


def test_only_completed_or_in_progress_procedures_count() -> None:
    done = procedure("done", "completed", encounter={"reference": f"Encounter/{EID}"})
    planned = procedure("prep", "preparation")
    not_done = procedure("nd", "not-done")
    facts = build([patient(), encounter(), done, planned, not_done]).procedures
    assert len(facts) == 1 and facts[0].in_current_encounter is True


def test_performed_period_start_dates_the_procedure() -> None:
    timed = procedure("p", "completed", performedPeriod={"start": "2026-11-16T09:00:00+01:00"})
    assert build([patient(), encounter(), timed]).procedures[0].performed == date(2026, 11, 16)
