"""Clinical signals of the current contact."""

from __future__ import annotations

from datetime import timedelta

from factkit import ADMITTED, LOCAL, NO_ICD10, NOW, SNOMED, build, concept, condition, encounter, observation, patient

SIGNAL = f"{LOCAL}/clinical-signal"
STAY = encounter()


def test_icd10_delirium_diagnosis_in_this_stay_is_suspected_delirium() -> None:
    delirium = condition("d", NO_ICD10, "F05.0", recorded=ADMITTED + timedelta(hours=5), in_stay=True)
    assert build([patient(), STAY, delirium]).suspected_delirium is True


def test_snomed_delirium_from_us_style_data_counts() -> None:
    delirium = condition("d", SNOMED, "2776000", recorded=ADMITTED + timedelta(days=1))
    assert build([patient(), STAY, delirium]).suspected_delirium is True


def test_screening_observation_positive_and_negative() -> None:
    positive = observation("p", concept(SIGNAL, "suspected-delirium"), ADMITTED + timedelta(hours=2), valueBoolean=True)
    negative = observation(
        "n", concept(SIGNAL, "suspected-delirium"), ADMITTED + timedelta(hours=2), valueBoolean=False
    )
    assert build([patient(), STAY, positive]).suspected_delirium is True
    assert build([patient(), STAY, negative]).suspected_delirium is False


def test_signal_before_this_contact_does_not_count() -> None:
    old = condition("d", NO_ICD10, "F05.9", recorded=ADMITTED - timedelta(days=300))
    assert build([patient(), STAY, old]).suspected_delirium is None


def test_signals_are_unknown_without_a_current_encounter() -> None:
    delirium = condition("d", NO_ICD10, "F05.0", recorded=NOW - timedelta(hours=1))
    assert build([patient(), delirium], encounter_id=None).suspected_delirium is None


def test_fall_external_cause_code_is_a_new_fall() -> None:
    fall = condition("f", NO_ICD10, "W19", recorded=ADMITTED + timedelta(hours=1), in_stay=True)
    assert build([patient(), STAY, fall]).new_falls is True


def test_functional_decline_uses_the_local_code() -> None:
    flag = {
        "resourceType": "Flag",
        "id": "fl",
        "status": "active",
        "code": concept(SIGNAL, "acute-functional-decline"),
        "subject": {"reference": "Patient/kari"},
        "period": {"start": (ADMITTED + timedelta(hours=3)).isoformat()},
    }
    assert build([patient(), STAY, flag]).acute_functional_decline is True


def test_active_palliative_care_problem_is_an_end_of_life_sign_even_from_before() -> None:
    palliative = condition(
        "p",
        NO_ICD10,
        "Z51.5",
        recorded=ADMITTED - timedelta(days=40),
        clinicalStatus=concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
    )
    assert build([patient(), STAY, palliative]).end_of_life_signs is True


def test_palliative_care_plan_is_an_end_of_life_sign() -> None:
    plan = {
        "resourceType": "CarePlan",
        "id": "cp",
        "status": "active",
        "intent": "plan",
        "category": [concept(SNOMED, "103735009")],
        "subject": {"reference": "Patient/kari"},
    }
    assert build([patient(), STAY, plan]).end_of_life_signs is True


def test_new_symptoms_count_only_in_the_24_hours_before_discharge() -> None:
    discharging = encounter(end=NOW)
    recent = observation("r", concept(SIGNAL, "new-symptoms"), NOW - timedelta(hours=6), valueBoolean=True)
    early = observation("e", concept(SIGNAL, "new-symptoms"), NOW - timedelta(hours=40), valueBoolean=True)
    assert build([patient(), discharging, recent]).new_symptoms_before_discharge is True
    assert build([patient(), discharging, early]).new_symptoms_before_discharge is None
