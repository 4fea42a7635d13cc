"""Charlson comorbidity index (Quan 2005 codes, Quan 2011 weights): rows, hierarchy, unknowns."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cds.scores._data import load_csv
from cds.scores.charlson import Charlson

CHARLSON = Charlson()
ROWS = load_csv("charlson_quan2005_icd10.csv")

def oracle_categories(code: str) -> set[str]:
    import pycomorb

    found = set()
    with open(Path(pycomorb.__file__).parent / "common" / "CHARLSON_QUAN.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["category"] != "Age" and any(code.startswith(p) for p in row["icd10_codes"].split("|")):
                found.add(row["category"])
    return found


def found(result) -> set[str]:
    return {i.name for i in result.items if i.value}


def scored(make, *codes: str):
    return CHARLSON.score(make.snapshot(conditions=tuple(make.dx(c, current=True) for c in codes)))


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['category']}-{r['code']}" for r in ROWS])
def test_each_code_list_row_finds_its_category_as_in_quan_2005(make, pycomorb_names, row: dict[str, str]) -> None:
    assert found(scored(make, row["code"])) == {row["category"]}
    assert oracle_categories(row["code"]) == {pycomorb_names[row["category"]]}


@pytest.mark.parametrize(
    ("code", "category", "weight"),
    [
        ("I21.9", "mi", 0),
        ("I50.1", "chf", 2),
        ("I73.9", "pvd", 0),
        ("I64", "cvd", 0),
        ("F01.9", "dementia", 2),
        ("J44.9", "copd", 1),
        ("M06.9", "rheumatic", 1),
        ("K26.9", "pud", 0),
        ("K74.6", "mild_liver", 2),
        ("E10.9", "diabetes", 0),
        ("E10.2", "diabetes_complicated", 1),
        ("G82.2", "hemiplegia", 2),
        ("N18.4", "renal", 1),
        ("C61", "malignancy", 2),
        ("I85.0", "severe_liver", 4),
        ("C79.3", "metastatic", 6),
        ("B24", "hiv_aids", 4),
    ],
)
def test_quan_2011_weight_per_condition(make, code: str, category: str, weight: int) -> None:
    result = scored(make, code)
    assert found(result) == {category}
    assert result.points == weight


@pytest.mark.parametrize(
    ("mild", "severe", "total", "superseded"),
    [
        ("K70.3", "K72.1", 4, "mild_liver"),
        ("E11.9", "E11.2", 1, "diabetes"),
        ("C18.7", "C78.7", 6, "malignancy"),
    ],
)
def test_severe_form_supersedes_the_mild_form(make, mild, severe, total: int, superseded: str) -> None:
    result = scored(make, mild, severe)
    item = next(i for i in result.items if i.name == superseded)
    assert result.points == total
    assert item.points == 0 and item.used[0].startswith("superseded by")


def test_every_condition_at_once_scores_the_quan_2011_maximum_of_24(make) -> None:
    codes = ["I21", "I50", "I70", "I63", "F00", "J44", "M05", "K25", "K70.0", "E11.9", "E11.2", "G81", "N18",
             "C50", "K72.1", "C78", "B20"]
    assert scored(make, *codes).points == 24


def test_no_band_is_given_because_none_is_published(make) -> None:
    assert scored(make, "I50.0").band is None


def test_unknown_diagnoses_make_every_item_unknown(make) -> None:
    result = CHARLSON.score(make.snapshot(conditions=None))
    assert len(result.unknown_items) == 17 and result.points == 0


def test_kari_heart_failure_and_copd_scores_three(make) -> None:
    assert scored(make, "I50.0", "J44.1").points == 3


def test_four_character_code_outside_the_list_does_not_match_its_stem(make) -> None:
    # I25.2 (old MI) is in the list; I25.1 is not
    assert scored(make, "I25.1").points == 0 and found(scored(make, "I25.1")) == set()
    assert found(scored(make, "I25.2")) == {"mi"}
