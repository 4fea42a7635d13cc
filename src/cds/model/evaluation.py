"""Side-by-side evaluation of the model and the baselines on rows of the readmission data.

`evaluate_rows` gives, for all rows and for the age-70+ subgroup, AUROC with a
95% CI, AUPRC and Brier score of the model and of the LACE-style and
HOSPITAL-style baselines (`cds.model.baselines`), and for each baseline the
model's AUROC minus the baseline's with DeLong's paired 95% CI (same rows, so
the paired interval - not the overlap of the two separate intervals - says
whether the model is ahead). Baselines are point totals, so they have no Brier
score.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cds.model.baselines import BASELINES, baseline_points
from cds.model.dataset import ReadmissionData
from cds.model.metrics import auroc_difference_delong, compute_metrics

__all__ = ["SCORERS", "SUBGROUPS", "evaluate_rows"]

SCORERS: tuple[str, ...] = ("model", *BASELINES)
SUBGROUPS: tuple[str, ...] = ("all", "age_70_plus")


def evaluate_rows(data: ReadmissionData, probability: np.ndarray) -> dict[str, dict[str, dict[str, Any]]]:
    """``{subgroup: {scorer: metrics dict}}`` on the given rows."""
    points = baseline_points(data.features)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for group in SUBGROUPS:
        mask = np.ones(len(data), dtype=bool) if group == "all" else data.age70
        y = data.outcome[mask]
        row: dict[str, dict[str, Any]] = {
            "model": compute_metrics(y, probability[mask], probability=True).as_dict()
        }
        both = 0 < int(y.sum()) < len(y)
        for name in BASELINES:
            row[name] = compute_metrics(y, points[name][mask], probability=False).as_dict()
            difference = auroc_difference_delong(y, probability[mask], points[name][mask]) if both else None
            row[name]["model_auroc_difference"] = (
                None if difference is None else dict(zip(("estimate", "low", "high"), difference, strict=True))
            )
        out[group] = row
    return out
