"""LACE-style and HOSPITAL-style baselines computed from the readmission CSV columns.

Only the items the columns allow are scored; the point tables, the proxies used
and the items left out (with the reason) are in ``data/baselines.yaml``, which
cites ``domain/scores.md`` (van Walraven 2010; Donzé 2013). These are
*benchmarks on the same rows*, not the published scores: the full LACE and
HOSPITAL scores of a patient are computed by `cds.scores` from FHIR data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

__all__ = ["BASELINES", "Baseline", "baseline_points"]

BASELINES: tuple[str, ...] = ("lace_style", "hospital_style")


@dataclass(frozen=True)
class Baseline:
    """One baseline: its items (feature column + point table), source and omitted items."""

    name: str
    source: str
    items: dict[str, dict[str, Any]]
    omitted: dict[str, str]

    def points(self, features: pd.DataFrame) -> np.ndarray:
        """Total points per row of a feature frame (columns as in `cds.model.features.FEATURES`)."""
        total = np.zeros(len(features), dtype=float)
        for item, spec in self.items.items():
            values = features[spec["column"]].to_numpy(dtype=float)
            if "points_if_true" in spec:
                total += np.where(values > 0, float(spec["points_if_true"]), 0.0)
                continue
            item_points = np.full(len(values), np.nan)
            for band in spec["bands"]:
                upper = np.inf if band["max"] is None else float(band["max"])
                inside = (values >= float(band["min"])) & (values <= upper)
                item_points = np.where(inside & np.isnan(item_points), float(band["points"]), item_points)
            if np.isnan(item_points).any():
                raise ValueError(f"{self.name} item {item}: value outside every band")
            total += item_points
        return total


@cache
def _load() -> dict[str, Baseline]:
    text = resources.files("cds.model").joinpath("data/baselines.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    return {
        name: Baseline(name=name, source=spec["source"], items=spec["items"], omitted=spec.get("omitted", {}))
        for name, spec in raw.items()
    }


def baseline(name: str) -> Baseline:
    return _load()[name]


def baseline_points(features: pd.DataFrame) -> dict[str, np.ndarray]:
    """Points of every baseline for every row."""
    return {name: baseline(name).points(features) for name in BASELINES}
