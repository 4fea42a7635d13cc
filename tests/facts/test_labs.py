"""Laboratory results normalised to canonical units, abnormal flags and follow-up."""

from __future__ import annotations

from datetime import datetime

import pytest
from factkit import CET, EID, LOINC, build, concept, encounter, observation, patient

from cds.fhir.resources import ResourceIssue

UCUM = "http://unitsofmeasure.org"
NLK = "urn:oid:2.16.578.1.12.4.1.1.7280"
LAB = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}]
WHEN = datetime(2026, 11, 19, 7, 0, tzinfo=CET)


def lab(oid: str, system: str, code: str, value: float, unit: str, *, ucum: bool = True, **extra: object) -> dict:
    quantity = {"value": value, "unit": unit, **({"system": UCUM, "code": unit} if ucum else {})}
    return observation(oid, concept(system, code), WHEN, category=LAB, valueQuantity=quantity, **extra)


def only_lab(*resources: dict, issues: list[ResourceIssue] | None = None):  # noqa: ANN201
    labs = build([patient(), encounter(), *resources], issues=issues).labs
    assert labs is not None and len(labs) == 1
    return labs[0]


@pytest.mark.parametrize(
    ("system", "code", "value", "unit", "expected"),
    [
        (LOINC, "718-7", 11.2, "g/dL", 11.2),
        (LOINC, "718-7", 112, "g/L", 11.2),
        (NLK, "NPU02319", 7.0, "mmol/L", 11.28),
        (LOINC, "2951-2", 131, "mmol/L", 131.0),
        (LOINC, "4548-4", 7.0, "%", 53.0),
    ],
)
def test_values_are_converted_to_the_canonical_unit(
    system: str, code: str, value: float, unit: str, expected: float
) -> None:
    fact = only_lab(lab("x", system, code, value, unit))
    assert fact.value == pytest.approx(expected, abs=0.01)
    assert (fact.original_value, fact.original_unit) == (value, unit)


def test_concept_name_drops_the_value_set_prefix() -> None:
    assert only_lab(lab("hb", LOINC, "718-7", 11.2, "g/dL")).concept == "haemoglobin"


def test_unknown_unit_is_reported_and_left_unconverted(issues: list[ResourceIssue]) -> None:
    fact = only_lab(lab("hb", LOINC, "718-7", 11.2, "mg/mL"), issues=issues)
    assert fact.value is None and fact.unit is None and fact.original_value == 11.2
    assert issues and "mg/mL" in issues[0].message


def test_human_unit_text_is_used_when_the_quantity_is_not_ucum_coded() -> None:
    assert only_lab(lab("hb", LOINC, "718-7", 105, "g/l", ucum=False)).value == pytest.approx(10.5)


def test_comparator_keeps_the_text_and_no_numeric_value() -> None:
    crp = observation(
        "crp",
        concept(LOINC, "1988-5"),
        WHEN,
        category=LAB,
        valueQuantity={"value": 5, "comparator": "<", "unit": "mg/L", "system": UCUM, "code": "mg/L"},
    )
    fact = only_lab(crp)
    assert fact.value is None and fact.text_value == "<5 mg/L"


def test_interpretation_low_marks_abnormal() -> None:
    flagged = lab(
        "hb",
        LOINC,
        "718-7",
        11.9,
        "g/dL",
        interpretation=[concept("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "L")],
    )
    assert only_lab(flagged).abnormal is True


def test_reference_range_in_the_same_unit_decides_abnormal() -> None:
    ranged = lab(
        "na",
        LOINC,
        "2951-2",
        133,
        "mmol/L",
        referenceRange=[{"low": {"value": 137, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}}],
    )
    assert only_lab(ranged).abnormal is True


def test_reference_range_in_another_unit_is_never_compared() -> None:
    ranged = lab(
        "hb",
        LOINC,
        "718-7",
        11.0,
        "g/dL",
        referenceRange=[{"low": {"value": 117, "unit": "g/L", "system": UCUM, "code": "g/L"}}],
    )
    assert only_lab(ranged).abnormal is None


def test_result_referred_to_by_a_service_request_is_followed_up() -> None:
    order = {
        "resourceType": "ServiceRequest",
        "id": "sr",
        "status": "active",
        "intent": "order",
        "code": {"text": "Jernstatus"},
        "subject": {"reference": "Patient/kari"},
        "reasonReference": [{"reference": "Observation/hb"}],
    }
    assert only_lab(lab("hb", LOINC, "718-7", 10.8, "g/dL"), order).followed_up is True


def test_follow_up_is_false_when_orders_are_known_and_none_refers() -> None:
    fact = build(
        [patient(), encounter(), lab("hb", LOINC, "718-7", 10.8, "g/dL")],
        searched=["Observation", "ServiceRequest", "Task"],
    ).labs[0]
    assert fact.followed_up is False


def test_follow_up_is_unknown_without_order_or_task_data() -> None:
    assert only_lab(lab("hb", LOINC, "718-7", 10.8, "g/dL")).followed_up is None


def test_us_core_shaped_result_without_category_is_read_by_its_loinc_code() -> None:
    us_core = observation(
        "hb",
        {"coding": [{"system": LOINC, "code": "718-7", "display": "Hemoglobin"}], "text": "Hemoglobin"},
        WHEN,
        valueQuantity={"value": 10.2, "unit": "g/dL", "system": UCUM, "code": "g/dL"},
    )
    fact = only_lab(us_core)
    assert (fact.concept, fact.value) == ("haemoglobin", 10.2)


def test_laboratory_result_without_a_known_concept_is_kept_without_conversion() -> None:
    other = lab("ferritin", LOINC, "2276-4", 12, "ug/L")
    fact = only_lab(other)
    assert fact.concept is None and fact.value is None and fact.original_value == 12


def test_non_laboratory_observation_is_not_a_lab() -> None:
    vital = observation(
        "bp",
        concept(LOINC, "8480-6"),
        WHEN,
        valueQuantity={"value": 120, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"},
    )
    assert build([patient(), encounter(), vital]).labs == ()


def test_result_linked_to_the_stay_is_in_the_current_encounter() -> None:
    linked = lab("hb", LOINC, "718-7", 11.2, "g/dL", encounter={"reference": f"Encounter/{EID}"})
    assert only_lab(linked).in_current_encounter is True
