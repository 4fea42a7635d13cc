"""The score data tables: each names its source and is internally consistent."""

from __future__ import annotations

from importlib import resources

import pytest

from cds.scores._data import DataTableError, load_csv, load_yaml

DATA = resources.files("cds.scores").joinpath("data")
YAML_FILES = sorted(p.name for p in DATA.iterdir() if p.name.endswith(".yaml"))
CSV_FILES = sorted(p.name for p in DATA.iterdir() if p.name.endswith(".csv"))


@pytest.mark.parametrize("name", YAML_FILES)
def test_yaml_table_names_its_source(name: str) -> None:
    assert load_yaml(name)["source"]


@pytest.mark.parametrize("name", CSV_FILES)
def test_csv_table_names_its_source(name: str) -> None:
    assert load_csv(name)


def test_missing_table_is_a_clear_error() -> None:
    with pytest.raises(DataTableError, match="not found"):
        load_yaml("no-such-table.yaml")


def test_every_code_list_category_has_a_charlson_weight() -> None:
    categories = set(load_yaml("charlson.yaml")["categories"])
    assert {r["category"] for r in load_csv("charlson_quan2005_icd10.csv")} == categories


def test_lace_weights_name_only_charlson_categories() -> None:
    categories = set(load_yaml("charlson.yaml")["categories"])
    assert set(load_yaml("lace.yaml")["comorbidity_weights"]) <= categories


def test_simplified_hospital_cancer_categories_are_charlson_categories() -> None:
    categories = set(load_yaml("charlson.yaml")["categories"])
    assert set(load_yaml("hospital_simplified.yaml")["cancer_categories"]) <= categories
