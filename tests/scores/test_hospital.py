"""HOSPITAL score: each item and class edge, lab units, unknown labs, and a hand-calculated persona."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from cds.scores.hospital import Hospital

HOSPITAL = Hospital()


def item(result, name):
    return next(i for i in result.items if i.name == name)


def full(make: SimpleNamespace, **facts):
    """Every HOSPITAL item known and zero unless overridden (normal Hb and sodium in this stay)."""
    start = make.now - timedelta(days=2)
    base = dict(
        encounter_id="enc-1",
        encounter_start=start,
        length_of_stay_days=2,
        admission_emergent=False,
        oncology_discharge=False,
        procedures=(),
        admissions=(),
        conditions=(),
        labs=(make.lab("haemoglobin", 13.5, "g/dL"), make.lab("sodium", 140, "mmol/L")),
    )
    base.update(facts)
    return make.snapshot(**base)


def labs(make, hb=13.5, hb_unit="g/dL", na=140.0, na_unit="mmol/L"):
    return (make.lab("haemoglobin", hb, hb_unit), make.lab("sodium", na, na_unit))


@pytest.mark.parametrize(("hb", "points"), [(11.9, 1), (12.0, 0), (9.0, 1), (14.0, 0)])
def test_haemoglobin_below_12_g_dl_scores_one(make, hb: float, points: int) -> None:
    assert item(HOSPITAL.score(full(make, labs=labs(make, hb=hb))), "haemoglobin").points == points


@pytest.mark.parametrize(
    ("value", "unit", "points"),
    [(119, "g/L", 1), (120, "g/L", 0), (7.4, "mmol/L", 1), (7.5, "mmol/L", 0), (11.9, "g/dl", 1)],
)
def test_haemoglobin_in_g_l_and_mmol_l_is_converted_before_the_threshold(make, value, unit, points) -> None:
    # 7.4 mmol/L = 11.92 g/dL; 7.5 mmol/L = 12.09 g/dL
    assert item(HOSPITAL.score(full(make, labs=labs(make, hb=value, hb_unit=unit))), "haemoglobin").points == points


def test_haemoglobin_with_an_unknown_unit_is_not_used(make) -> None:
    hb = item(HOSPITAL.score(full(make, labs=labs(make, hb=11.0, hb_unit="mg/mL"))), "haemoglobin")
    assert hb.unknown and any("unit mg/mL" in u for u in hb.used)


def test_missing_haemoglobin_is_unknown_not_normal(make) -> None:
    result = HOSPITAL.score(full(make, labs=(make.lab("sodium", 140, "mmol/L"),)))
    hb = item(result, "haemoglobin")
    assert hb.unknown and hb.points is None and hb.max_points == 1
    assert "haemoglobin" in result.unknown_items


def test_last_haemoglobin_of_the_stay_is_the_discharge_value(make) -> None:
    early = make.lab("haemoglobin", 10.0, "g/dL", at=make.now - timedelta(days=1))
    late = make.lab("haemoglobin", 12.5, "g/dL", at=make.now - timedelta(hours=2))
    hb = item(HOSPITAL.score(full(make, labs=(late, early, make.lab("sodium", 140, "mmol/L")))), "haemoglobin")
    assert (hb.value, hb.points) == (12.5, 0)


def test_haemoglobin_from_an_earlier_stay_is_not_used(make) -> None:
    old = make.lab("haemoglobin", 9.0, "g/dL", at=make.now - timedelta(days=60), current=False)
    assert item(HOSPITAL.score(full(make, labs=(old,))), "haemoglobin").unknown


def test_haemoglobin_found_by_loinc_code_when_the_concept_is_not_set(make) -> None:
    hb = make.lab(None, 11.0, "g/dL", loinc="718-7")
    assert item(HOSPITAL.score(full(make, labs=(hb,))), "haemoglobin").points == 1


@pytest.mark.parametrize(("na", "points"), [(134, 1), (135, 0), (120, 1)])
def test_sodium_below_135_mmol_l_scores_one(make, na: float, points: int) -> None:
    assert item(HOSPITAL.score(full(make, labs=labs(make, na=na))), "sodium").points == points


def test_sodium_in_meq_l_is_accepted(make) -> None:
    assert item(HOSPITAL.score(full(make, labs=labs(make, na=133, na_unit="mEq/L"))), "sodium").points == 1


@pytest.mark.parametrize(("oncology", "points"), [(True, 2), (False, 0)])
def test_oncology_discharge_scores_two(make, oncology: bool, points: int) -> None:
    assert item(HOSPITAL.score(full(make, oncology_discharge=oncology)), "oncology").points == points


def test_procedure_during_the_stay_scores_one(make) -> None:
    assert item(HOSPITAL.score(full(make, procedures=(make.procedure(),))), "procedure").points == 1


def test_medication_reconciliation_is_not_a_donze_procedure(make) -> None:
    """Donzé 2013 counts coded procedures; SNOMED 430193006 medication reconciliation (a care process the
    engine's own card asks for) scores 0, so complying with that card never raises the readmission score."""
    reconciliation = make.procedure("430193006", system="http://snomed.info/sct")
    assert "procedure.medication-reconciliation" in reconciliation.value_sets
    p = item(HOSPITAL.score(full(make, procedures=(reconciliation,))), "procedure")
    assert (p.points, p.unknown) == (0, False)
    assert p.used == ("not counted (care process): 430193006",)


def test_an_ncsp_procedure_counts_next_to_a_reconciliation(make) -> None:
    reconciliation = make.procedure("430193006", system="http://snomed.info/sct")
    p = item(HOSPITAL.score(full(make, procedures=(reconciliation, make.procedure("JFB00")))), "procedure")
    assert (p.points, p.value, p.used) == (1, 1, ("procedure JFB00",))


def test_a_procedure_outside_every_value_set_leaves_the_item_unknown_not_zero(make) -> None:
    """SNOMED 52734007 total hip replacement is surgical, but the engine cannot check the SNOMED CT hierarchy:
    unknown (max 1 point), never 0, until a site adds its SNOMED codes to score.hospital-procedure."""
    hip = make.procedure("52734007", system="http://snomed.info/sct")
    result = HOSPITAL.score(full(make, procedures=(hip,)))
    p = item(result, "procedure")
    assert (p.points, p.unknown, p.max_points) == (None, True, 1)
    assert "procedure" in result.unknown_items


def test_ingrid_hospital_by_hand_without_the_reconciliation(make) -> None:
    """Ingrid (persona a) by hand: H 1 (Hb 11.3) + O 0 + S 0 (Na 135) + P 0 (only medication reconciliation)
    + IT 1 + A 2 (3 admissions) + L 2 (7 days) = 6, intermediate (it was 7, high, when any Procedure counted)."""
    start = make.now - timedelta(days=7)
    snapshot = full(
        make,
        encounter_start=start,
        length_of_stay_days=7,
        admission_emergent=True,
        oncology_discharge=False,
        procedures=(make.procedure("430193006", system="http://snomed.info/sct"),),
        admissions=tuple(make.visit(d, of=start, emergency=True) for d in (60, 150, 300)),
        labs=(make.lab("haemoglobin", 11.3, "g/dL"), make.lab("sodium", 135, "mmol/L")),
    )
    result = HOSPITAL.score(snapshot)
    assert [i.points for i in result.items] == [1, 0, 0, 0, 1, 2, 2]
    assert (result.points, result.band) == (6, "intermediate")


def test_procedure_from_an_earlier_stay_scores_nothing(make) -> None:
    assert item(HOSPITAL.score(full(make, procedures=(make.procedure(current=False),))), "procedure").points == 0


@pytest.mark.parametrize(("urgent", "points"), [(True, 1), (False, 0)])
def test_urgent_index_admission_scores_one(make, urgent: bool, points: int) -> None:
    assert item(HOSPITAL.score(full(make, admission_emergent=urgent)), "index_admission_type").points == points


@pytest.mark.parametrize(("n", "points"), [(0, 0), (1, 0), (2, 2), (5, 2), (6, 5), (9, 5)])
def test_admissions_in_the_previous_12_months(make, n: int, points: int) -> None:
    start = make.now - timedelta(days=2)
    earlier = tuple(make.visit(20 + 30 * i, of=start, emergency=False) for i in range(n))
    assert item(HOSPITAL.score(full(make, encounter_start=start, admissions=earlier)), "admissions").points == points


def test_admission_more_than_12_months_ago_is_not_counted(make) -> None:
    start = make.now - timedelta(days=2)
    earlier = (make.visit(400, of=start), make.visit(100, of=start))
    assert item(HOSPITAL.score(full(make, encounter_start=start, admissions=earlier)), "admissions").value == 1


@pytest.mark.parametrize(("days", "points"), [(4, 0), (5, 2), (12, 2)])
def test_length_of_stay_of_five_days_or_more_scores_two(make, days: int, points: int) -> None:
    assert item(HOSPITAL.score(full(make, length_of_stay_days=days)), "length_of_stay").points == points


@pytest.mark.parametrize(
    ("urgent", "procedure", "low_hb", "total", "band"),
    [
        (False, False, False, 4, "low"),  # O 2 + L 2
        (True, False, False, 5, "intermediate"),  # + IT 1
        (True, True, False, 6, "intermediate"),  # + P 1
        (True, True, True, 7, "high"),  # + H 1
    ],
)
def test_risk_class_edges(make, urgent: bool, procedure: bool, low_hb: bool, total: int, band: str) -> None:
    snapshot = full(
        make,
        oncology_discharge=True,
        length_of_stay_days=5,
        admission_emergent=urgent,
        procedures=(make.procedure(),) if procedure else (),
        labs=labs(make, hb=11.0 if low_hb else 13.5),
    )
    result = HOSPITAL.score(snapshot)
    assert (result.points, result.band) == (total, band)


def test_missing_labs_that_could_move_the_class_are_flagged(make) -> None:
    # known: oncology 2 + LOS 2 + urgent 1 = 5 intermediate; Hb and Na unknown -> up to 7 = high
    result = HOSPITAL.score(full(make, oncology_discharge=True, length_of_stay_days=5, admission_emergent=True, labs=()))
    assert (result.points, result.band) == (5, "intermediate")
    assert set(result.unknown_items) == {"haemoglobin", "sodium"}
    assert result.band_could_change is True


def test_missing_labs_that_cannot_move_the_class_are_not_flagged(make) -> None:
    # known 0; Hb and Na unknown -> at most 2, still low
    result = HOSPITAL.score(full(make, labs=()))
    assert result.band == "low" and result.band_could_change is False


def test_unknown_lab_list_makes_both_lab_items_unknown(make) -> None:
    result = HOSPITAL.score(full(make, labs=None))
    assert {"haemoglobin", "sodium"} <= set(result.unknown_items)


def test_ola_78_oncology_discharge_anaemia_hyponatraemia(make) -> None:
    """Ola, 78: emergency admission, discharged from oncology after 6 days, Hb 71 g/L, Na 131, biopsy,
    3 admissions in the last year. By hand: H 1 + O 2 + S 1 + P 1 + IT 1 + A 2 + L 2 = 10, high."""
    start = make.now - timedelta(days=6)
    snapshot = full(
        make,
        age=78,
        encounter_start=start,
        length_of_stay_days=6,
        admission_emergent=True,
        oncology_discharge=True,
        procedures=(make.procedure(),),
        admissions=tuple(make.visit(d, of=start, emergency=True) for d in (40, 120, 300)),
        labs=(make.lab("haemoglobin", 71, "g/L"), make.lab("sodium", 131, "mmol/L")),
    )
    result = HOSPITAL.score(snapshot)
    assert [i.points for i in result.items] == [1, 2, 1, 1, 1, 2, 2]
    assert (result.points, result.band, result.unknown_items) == (10, "high", ())
