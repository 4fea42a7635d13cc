"""LACE-style and HOSPITAL-style baselines: one test per band of each point table."""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd
import pytest
import yaml

from cds.model.baselines import baseline, baseline_points
from cds.model.features import FEATURES


@cache
def tables() -> dict:
    return yaml.safe_load(resources.files("cds.model").joinpath("data/baselines.yaml").read_text(encoding="utf-8"))


def neutral(**values: float) -> pd.DataFrame:
    """A row scoring 0 on every item except those set."""
    row = {name: 0.0 for name in FEATURES}
    row.update({"los_days": 0.0, "age_band": 70.0})
    row.update(values)
    return pd.DataFrame([row])


def band_cases() -> list[tuple[str, str, str, float, float]]:
    cases = []
    for name, spec in tables().items():
        for item, item_spec in spec["items"].items():
            for band in item_spec.get("bands", []):
                edges = [band["min"]] + ([band["max"]] if band["max"] is not None else [band["min"] + 30])
                cases += [(name, item, item_spec["column"], float(v), float(band["points"])) for v in edges]
    return cases


@pytest.mark.parametrize(("name", "item", "column", "value", "points"), band_cases())
def test_each_band_edge_gives_its_points(name: str, item: str, column: str, value: float, points: float) -> None:
    assert baseline(name).points(neutral(**{column: value}))[0] == points


@pytest.mark.parametrize(("name", "points"), [("lace_style", 3.0), ("hospital_style", 1.0)])
def test_emergency_admission_gives_the_acute_item_points(name: str, points: float) -> None:
    assert baseline(name).points(neutral(emergency=1.0))[0] == points


def test_neutral_row_scores_zero_on_both_baselines() -> None:
    assert all(p[0] == 0.0 for p in baseline_points(neutral()).values())


def test_items_the_columns_lack_are_documented_as_omitted() -> None:
    assert set(baseline("lace_style").omitted) == {"C"}
    assert set(baseline("hospital_style").omitted) == {"H", "O", "S"}


def test_olav_gets_the_sum_of_his_items() -> None:
    """Olav, 78: emergency admission, 8 days, 3 ED visits and 3 admissions in the last year, one procedure."""
    olav = neutral(emergency=1.0, los_days=8.0, prior_emergency=3.0, prior_inpatient=3.0, n_procedures=1.0)
    points = baseline_points(olav)
    assert points["lace_style"][0] == 5 + 3 + 3  # L 7-13 days, A, E 3
    assert points["hospital_style"][0] == 1 + 1 + 2 + 2  # P, IT, A 2-5, L >= 5
