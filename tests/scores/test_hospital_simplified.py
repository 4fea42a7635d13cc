"""Simplified HOSPITAL score: no procedure item, cancer diagnosis or oncology, two risk groups."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cds.scores.hospital_simplified import HospitalSimplified

SIMPLE = HospitalSimplified()


def item(result, name):
    return next(i for i in result.items if i.name == name)


def full(make, **facts):
    start = make.now - timedelta(days=1)
    base = dict(
        encounter_id="enc-1",
        encounter_start=start,
        length_of_stay_days=1,
        admission_emergent=False,
        oncology_discharge=False,
        admissions=(),
        conditions=(),
        procedures=(make.procedure(),),
        labs=(make.lab("haemoglobin", 13.5, "g/dL"), make.lab("sodium", 140, "mmol/L")),
    )
    base.update(facts)
    return make.snapshot(**base)


def test_procedure_is_not_an_item(make) -> None:
    result = SIMPLE.score(full(make))
    assert "procedure" not in [i.name for i in result.items]
    assert result.points == 0


def test_cancer_diagnosis_scores_two_without_oncology_discharge(make) -> None:
    result = SIMPLE.score(full(make, conditions=(make.dx("C34.1", current=True),)))
    assert item(result, "oncology_or_cancer").points == 2


def test_metastatic_cancer_code_counts_as_cancer(make) -> None:
    result = SIMPLE.score(full(make, conditions=(make.dx("C79.5", recorded=make.now.date() - timedelta(days=90)),)))
    assert item(result, "oncology_or_cancer").points == 2


def test_resolved_cancer_in_the_history_does_not_count(make) -> None:
    from cds.facts.snapshot import Coding, ConditionFact

    old = ConditionFact(codings=(Coding(system=make.NO, code="C50.9"),), active=False)
    assert item(SIMPLE.score(full(make, conditions=(old,))), "oncology_or_cancer").points == 0


def test_oncology_discharge_scores_two_even_with_unknown_diagnoses(make) -> None:
    assert item(SIMPLE.score(full(make, oncology_discharge=True, conditions=None)), "oncology_or_cancer").points == 2


def test_unknown_diagnoses_and_no_oncology_discharge_is_unknown(make) -> None:
    assert item(SIMPLE.score(full(make, conditions=None)), "oncology_or_cancer").unknown


@pytest.mark.parametrize(
    ("facts", "total", "band"),
    [
        (dict(oncology_discharge=True, length_of_stay_days=5), 4, "low"),
        (dict(oncology_discharge=True, length_of_stay_days=5, admission_emergent=True), 5, "high"),
    ],
)
def test_likely_readmission_from_five_points(make, facts, total: int, band: str) -> None:
    result = SIMPLE.score(full(make, **facts))
    assert (result.points, result.band) == (total, band)


def test_scorable_at_admission_with_admission_labs(make) -> None:
    """Per, 81, day one of an emergency stay: Hb 11.2 g/dL, Na 133, lung cancer, 2 admissions this year.
    By hand: H 1 + cancer 2 + S 1 + IT 1 + A 2 + L 0 = 7 -> likely readmission (high)."""
    start = make.now - timedelta(hours=20)
    snapshot = full(
        make,
        age=81,
        encounter_start=start,
        length_of_stay_days=0,
        admission_emergent=True,
        conditions=(make.dx("C34.9", current=True),),
        admissions=tuple(make.visit(d, of=start) for d in (60, 200)),
        labs=(make.lab("haemoglobin", 11.2, "g/dL"), make.lab("sodium", 133, "mmol/L")),
    )
    result = SIMPLE.score(snapshot)
    assert [i.points for i in result.items] == [1, 2, 1, 1, 2, 0]
    assert (result.points, result.band) == (7, "high")


def test_both_hospital_scores_read_the_same_discharge_haemoglobin_from_one_snapshot(make) -> None:
    """The simplified score reuses the full score's lab reading of the same snapshot: same value, same notes."""
    from cds.scores.hospital import Hospital

    early = make.lab("haemoglobin", 10.0, "g/dL", at=make.now - timedelta(days=1))
    odd = make.lab("haemoglobin", 9.0, "furlongs", at=make.now - timedelta(hours=1))
    snapshot = full(make, labs=(early, odd, make.lab("sodium", 140, "mmol/L")))
    full_item = item(Hospital().score(snapshot), "haemoglobin")
    simple_item = item(SIMPLE.score(snapshot), "haemoglobin")
    again = item(SIMPLE.score(snapshot), "haemoglobin")
    assert full_item.value == simple_item.value == again.value == 10.0
    assert full_item.used == simple_item.used == again.used
    assert any("furlongs" in line for line in again.used)


def test_a_lab_reading_is_not_reused_for_another_snapshot(make) -> None:
    low = full(make, labs=(make.lab("haemoglobin", 10.0, "g/dL"), make.lab("sodium", 140, "mmol/L")))
    high = full(make, labs=(make.lab("haemoglobin", 13.0, "g/dL"), make.lab("sodium", 140, "mmol/L")))
    assert item(SIMPLE.score(low), "haemoglobin").value == 10.0
    assert item(SIMPLE.score(high), "haemoglobin").value == 13.0
