"""LACE index: each table row, each band edge, unknown items, and hand-calculated personas."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from cds.scores.lace import Lace

LACE = Lace()


def item(result, name):
    return next(i for i in result.items if i.name == name)


def full(make: SimpleNamespace, **facts):
    """A snapshot with every LACE item known and zero unless overridden."""
    start = make.now - timedelta(days=2)
    base = dict(
        encounter_id="enc-1",
        encounter_start=start,
        length_of_stay_days=0,
        admission_emergent=False,
        conditions=(),
        ed_visits=(),
    )
    base.update(facts)
    return make.snapshot(**base)


@pytest.mark.parametrize(
    ("days", "points"),
    [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (6, 4), (7, 5), (13, 5), (14, 7), (40, 7)],
)
def test_length_of_stay_points(make, days: int, points: int) -> None:
    assert item(LACE.score(full(make, length_of_stay_days=days)), "length_of_stay").points == points


@pytest.mark.parametrize(("emergent", "points"), [(True, 3), (False, 0)])
def test_acute_admission_points(make, emergent: bool, points: int) -> None:
    assert item(LACE.score(full(make, admission_emergent=emergent)), "acute_admission").points == points


@pytest.mark.parametrize(
    ("code", "category", "weight"),
    [
        ("I21.0", "mi", 1),
        ("I63.9", "cvd", 1),
        ("I70.2", "pvd", 1),
        ("E11.9", "diabetes", 1),
        ("I50.0", "chf", 2),
        ("E11.2", "diabetes_complicated", 2),
        ("J44.1", "copd", 2),
        ("K70.3", "mild_liver", 2),
        ("C18.7", "malignancy", 2),
        ("C91.0", "malignancy", 2),
        ("F03", "dementia", 3),
        ("M05.3", "rheumatic", 3),
        ("K72.1", "severe_liver", 4),
        ("B20", "hiv_aids", 4),
        ("C78.7", "metastatic", 6),
        ("K25.0", "pud", 0),
        ("G81.1", "hemiplegia", 0),
        ("N18.5", "renal", 0),
    ],
)
def test_lace_comorbidity_weight_per_charlson_condition(make, code: str, category: str, weight: int) -> None:
    result = LACE.score(full(make, conditions=(make.dx(code, current=True),)))
    c = item(result, "comorbidity")
    assert c.value == weight
    assert any(u.startswith(f"{category} ") for u in c.used)


@pytest.mark.parametrize(
    ("codes", "summed", "points"),
    [
        ((), 0, 0),
        (("I21.0",), 1, 1),
        (("I50.0",), 2, 2),
        (("F03",), 3, 3),
        (("I50.0", "J44.1"), 4, 5),
        (("C78.7",), 6, 5),
    ],
)
def test_summed_comorbidity_weight_maps_to_c_points(make, codes, summed: int, points: int) -> None:
    conditions = tuple(make.dx(c, current=True) for c in codes)
    c = item(LACE.score(full(make, conditions=conditions)), "comorbidity")
    assert (c.value, c.points) == (summed, points)


def test_metastatic_cancer_supersedes_the_primary_tumour(make) -> None:
    conditions = (make.dx("C18.7", current=True), make.dx("C78.7", current=True))
    assert item(LACE.score(full(make, conditions=conditions)), "comorbidity").value == 6


def test_diabetes_with_complications_supersedes_uncomplicated(make) -> None:
    conditions = (make.dx("E11.9", current=True), make.dx("E11.2", current=True))
    assert item(LACE.score(full(make, conditions=conditions)), "comorbidity").value == 2


@pytest.mark.parametrize(("visits", "points"), [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (7, 4)])
def test_ed_visit_points(make, visits: int, points: int) -> None:
    start = make.now - timedelta(days=2)
    ed = tuple(make.visit(10 + 10 * i, of=start) for i in range(visits))
    e = item(LACE.score(full(make, encounter_start=start, ed_visits=ed)), "ed_visits")
    assert (e.value, e.points) == (visits, points)


def test_ed_visit_more_than_six_months_before_admission_is_not_counted(make) -> None:
    start = make.now - timedelta(days=2)
    ed = (make.visit(190, of=start), make.visit(170, of=start))
    assert item(LACE.score(full(make, encounter_start=start, ed_visits=ed)), "ed_visits").value == 1


def test_an_emergency_admission_without_an_ed_encounter_counts_as_an_ed_visit(make) -> None:
    """Norwegian stays often begin in akuttmottak inside the inpatient encounter: the acute admission itself is
    the emergency-department use (Astrid, persona j: emergency admission 2026-09-01, no ED encounter -> E 1)."""
    start = make.now - timedelta(days=2)
    admissions = (make.visit(80, of=start, emergency=True), make.visit(120, of=start, emergency=False))
    e = item(LACE.score(full(make, encounter_start=start, ed_visits=(), admissions=admissions)), "ed_visits")
    assert (e.value, e.points) == (1, 1)
    assert any("no ED visit of its own" in u for u in e.used)


def test_an_ed_visit_that_led_to_an_earlier_admission_is_counted_once(make) -> None:
    """By hand: ED visit 60.1 days before + the emergency admission it led to 60 days before = 1 visit;
    a second emergency admission 100 days before with no ED encounter = 1; an ED visit 30 days before
    that was not admitted = 1. E = 3."""
    start = make.now - timedelta(days=2)
    ed = (make.visit(60.1, of=start), make.visit(30, of=start))
    admissions = (make.visit(60, of=start, emergency=True), make.visit(100, of=start, emergency=True))
    e = item(LACE.score(full(make, encounter_start=start, ed_visits=ed, admissions=admissions)), "ed_visits")
    assert (e.value, e.points) == (3, 3)


def test_an_emergency_admission_outside_six_months_is_not_counted(make) -> None:
    start = make.now - timedelta(days=2)
    admissions = (make.visit(190, of=start, emergency=True),)
    e = item(LACE.score(full(make, encounter_start=start, ed_visits=(), admissions=admissions)), "ed_visits")
    assert e.value == 0


def test_ed_visit_that_led_to_this_admission_is_not_counted(make) -> None:
    start = make.now - timedelta(days=2)
    ed = (make.visit(0.2, of=start), make.visit(30, of=start))
    e = item(LACE.score(full(make, encounter_start=start, ed_visits=ed)), "ed_visits")
    assert e.value == 1
    assert any("led to this admission" in u for u in e.used)


@pytest.mark.parametrize(
    ("los", "emergent", "heart_failure", "total", "band"),
    [
        (4, False, False, 4, "low"),  # L 4
        (2, True, False, 5, "moderate"),  # L 2 + A 3
        (4, True, True, 9, "moderate"),  # L 4 + A 3 + C 2
        (7, True, True, 10, "high"),  # L 5 + A 3 + C 2
    ],
)
def test_band_edges_low_moderate_high(make, los: int, emergent: bool, heart_failure: bool, total: int, band: str) -> None:
    conditions = (make.dx("I50.0", current=True),) if heart_failure else ()
    result = LACE.score(full(make, length_of_stay_days=los, admission_emergent=emergent, conditions=conditions))
    assert (result.points, result.band) == (total, band)


def test_unknown_length_of_stay_is_unknown_not_zero(make) -> None:
    result = LACE.score(full(make, length_of_stay_days=None))
    los = item(result, "length_of_stay")
    assert los.unknown and los.points is None and los.max_points == 7
    assert result.unknown_items == ("length_of_stay",)


def test_unknown_item_that_could_lift_the_score_into_another_band_is_flagged(make) -> None:
    # known: A 3; unknown L could add up to 7 -> 10 = high
    result = LACE.score(full(make, length_of_stay_days=None, admission_emergent=True))
    assert (result.points, result.band, result.band_could_change) == (3, "low", True)


def test_unknown_item_too_small_to_change_the_band_is_not_flagged(make) -> None:
    # known: 0; unknown E adds at most 4 -> still low
    result = LACE.score(full(make, ed_visits=None))
    assert result.unknown_items == ("ed_visits",)
    assert result.band_could_change is False


def test_unknown_diagnoses_make_comorbidity_unknown(make) -> None:
    c = item(LACE.score(full(make, conditions=None)), "comorbidity")
    assert c.unknown and c.max_points == 5


def test_unknown_admission_start_makes_ed_visits_unknown(make) -> None:
    e = item(LACE.score(full(make, encounter_start=None)), "ed_visits")
    assert e.unknown and "admission start unknown" in e.used


def test_kari_84_heart_failure_copd_eight_days_emergency_three_ed_visits(make) -> None:
    """Kari, 84: heart failure and COPD, admitted as an emergency, 8 days, 3 ED visits in the last 6 months.

    By hand: L 8 days = 5; A emergent = 3; C heart failure 2 + COPD 2 = 4 -> 5; E 3 -> 3. LACE = 16, high.
    """
    start = make.now - timedelta(days=8)
    snapshot = make.snapshot(
        age=84,
        encounter_id="enc-kari",
        encounter_start=start,
        length_of_stay_days=8,
        admission_emergent=True,
        conditions=(make.dx("I50.0", current=True), make.dx("J44.1", recorded=(start - timedelta(days=400)).date())),
        ed_visits=tuple(make.visit(d, of=start) for d in (20, 75, 150)),
    )
    result = LACE.score(snapshot)
    assert [i.points for i in result.items] == [5, 3, 5, 3]
    assert (result.points, result.band, result.unknown_items) == (16, "high", ())


def test_norwegian_who_and_cm_codings_score_the_same(make) -> None:
    values = set()
    for system in (make.NO, make.WHO, make.CM):
        conditions = (make.dx("I50.0", system=system, current=True),)
        values.add(item(LACE.score(full(make, conditions=conditions)), "comorbidity").value)
    assert values == {2}


def test_codes_from_other_systems_are_ignored(make) -> None:
    conditions = (make.dx("84114007", system="http://snomed.info/sct", current=True),)
    assert item(LACE.score(full(make, conditions=conditions)), "comorbidity").value == 0
