"""Hospital Frailty Risk Score: each table row, band edges, look-back, applicability, U80."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest

from cds.scores._data import load_csv
from cds.scores.hfrs import Hfrs, hfrs_weights

HFRS = Hfrs()
ROWS = load_csv("hfrs.csv")


def published_weights() -> dict[str, float]:
    """Gilbert 2018's table as copied independently in pycomorb (pycomorb/common/HFRS.csv)."""
    import pycomorb

    with open(Path(pycomorb.__file__).parent / "common" / "HFRS.csv", encoding="utf-8") as f:
        return {r["icd10_codes"]: float(r["weight"]) for r in csv.DictReader(f)}


def scored(make, *codes: str, age: int = 80, **facts):
    conditions = tuple(make.dx(c, current=True) for c in codes)
    return HFRS.score(make.snapshot(age=age, conditions=conditions, **facts))


@pytest.mark.parametrize("row", ROWS, ids=[r["code"] for r in ROWS])
def test_each_category_scores_its_published_weight(make, row: dict[str, str]) -> None:
    code = row["code"] + ".9"
    result = scored(make, code)
    assert result.points == pytest.approx(published_weights()[row["code"]])
    assert [i.name for i in result.items] == [row["code"]]


def test_table_has_109_categories_summing_to_173_2() -> None:
    weights = hfrs_weights()
    assert (len(weights), round(sum(weights.values()), 1)) == (109, 173.2)


def test_heaviest_categories_are_those_named_in_scores_md() -> None:
    heaviest = sorted(hfrs_weights().items(), key=lambda kv: -kv[1])[:5]
    assert heaviest == [("F00", 7.1), ("G81", 4.4), ("G30", 4.0), ("I69", 3.7), ("R29", 3.6)]


@pytest.mark.parametrize(
    ("codes", "total", "band"),
    [
        (("R29", "R33"), 4.9, "low"),
        (("R31", "F01"), 5.0, "intermediate"),
        (("F00", "G81", "W19", "R11"), 15.0, "intermediate"),
        (("F00", "G81", "W19", "E83"), 15.1, "high"),
    ],
)
def test_band_edges_low_below_5_high_above_15(make, codes, total: float, band: str) -> None:
    result = scored(make, *codes)
    assert (result.points, result.band) == (total, band)


def test_each_category_counts_once(make) -> None:
    assert scored(make, "I69.3", "I69.4", "I698").points == 3.7


def test_diagnosis_23_months_before_admission_counts_and_25_months_does_not(make) -> None:
    start = make.now - timedelta(days=3)
    recent = make.dx("F03", recorded=(start - timedelta(days=700)).date())
    old = make.dx("G30.1", recorded=(start - timedelta(days=770)).date())
    result = HFRS.score(make.snapshot(age=85, encounter_start=start, conditions=(recent, old)))
    assert [i.name for i in result.items] == ["F03"]


def test_still_active_diagnosis_recorded_before_the_window_counts(make) -> None:
    ckd = make.dx("N18.3", recorded=make.now.date() - timedelta(days=5 * 365), active=True)
    resolved = make.dx("S72.0", recorded=make.now.date() - timedelta(days=5 * 365), active=False)
    result = HFRS.score(make.snapshot(age=85, conditions=(ckd, resolved)))
    assert [i.name for i in result.items] == ["N18"]


def test_diagnosis_dated_after_now_is_not_counted(make) -> None:
    future = make.dx("F03", recorded=(make.now + timedelta(days=3)).date())
    assert HFRS.score(make.snapshot(age=85, conditions=(future,))).points == 0


@pytest.mark.parametrize(("age", "applicable"), [(74, False), (75, True), (None, False)])
def test_applicable_from_age_75_but_always_computed(make, age, applicable: bool) -> None:
    result = scored(make, "F00.1", age=age)
    assert (result.applicable, result.points) == (applicable, 7.1)
    if not applicable:
        assert "75" in (result.note or "")


def test_unknown_diagnoses_make_the_score_unknown(make) -> None:
    result = HFRS.score(make.snapshot(age=80, conditions=None))
    assert result.unknown_items == ("diagnoses",)
    assert result.band_could_change is True


def test_uk_code_u80_scores_as_published(make) -> None:
    assert scored(make, "U80.1").points == 0.8


def test_who_resistance_codes_are_not_mapped_to_u80(make) -> None:
    """U80 has no Norwegian equivalent; U82-U85 (WHO) are not treated as U80."""
    assert scored(make, "U82.1", "U83.0").points == 0


def test_norwegian_who_and_cm_codes_score_the_same(make) -> None:
    totals = set()
    for system in (make.NO, make.WHO, make.CM):
        conditions = (make.dx("S72.0", system=system, current=True), make.dx("r29.6", system=system, current=True))
        totals.add(HFRS.score(make.snapshot(age=88, conditions=conditions)).points)
    assert totals == {5.0}


def test_items_name_the_codes_they_used(make) -> None:
    result = scored(make, "S72.00")
    assert result.items[0].used == ("S72.00 (ICD-10 (NO))",)
