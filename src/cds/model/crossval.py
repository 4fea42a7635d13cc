"""Cross-validation of the whole training recipe: the figures the model card reports.

One 80/20 split gives one noisy AUROC; tuning or reporting on it overstates
the model (issue 19: a single split said 0.610 where rows never shared gave
0.577). Here the whole recipe of `cds.model.training.train` (candidate
selection, calibration) runs once per fold of a stratified, seeded k-fold
split on the other folds' rows, and predicts the fold it never saw. The
out-of-fold probabilities of all rows are then scored together
(`cds.model.evaluation.evaluate_rows`: AUROC with DeLong's 95% CI, the paired
DeLong CI of the difference to each baseline, overall and for age 70+), with
the AUROC of each fold and the calibration of the pooled predictions
(calibration-in-the-large E/O and the logistic calibration slope, Cox 1958).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from cds.model.dataset import ReadmissionData
from cds.model.evaluation import evaluate_rows

__all__ = ["DEFAULT_FOLDS", "calibration", "cross_validate"]

DEFAULT_FOLDS = 5


def calibration(y: np.ndarray, probability: np.ndarray) -> dict[str, float | None]:
    """Expected / observed events and the calibration slope (logistic regression of y on logit p)."""
    y = np.asarray(y)
    p = np.clip(np.asarray(probability, dtype=float), 1e-9, 1 - 1e-9)
    observed = float(y.sum())
    slope = None
    if 0 < observed < len(y):
        fit = LogisticRegression(C=1e12, max_iter=1000).fit(np.log(p / (1 - p))[:, None], y)
        slope = float(fit.coef_[0, 0])
    return {
        "expected_over_observed": float(p.sum() / observed) if observed else None,
        "slope": slope,
        "mean_predicted": float(p.mean()),
        "observed_rate": float(observed / len(y)) if len(y) else None,
        "share_predicted_20_percent_or_more": float(np.mean(p >= 0.20)),
    }


def cross_validate(data: ReadmissionData, *, seed: int, folds: int = DEFAULT_FOLDS) -> dict[str, Any]:
    """Out-of-fold evaluation of the training recipe (see module docstring)."""
    from cds.model.training import (
        train,  # the recipe; imported here as training records these figures
    )

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out_of_fold = np.full(len(data), np.nan)
    fold_auroc: list[float] = []
    chosen: list[str] = []
    for train_rows, test_rows in splitter.split(np.zeros(len(data)), data.outcome):
        fit_mask = np.zeros(len(data), dtype=bool)
        fit_mask[train_rows] = True
        result = train(data.subset(fit_mask), seed=seed)
        held = data.subset(~fit_mask)
        probability = result.estimator.predict_proba(held.features.to_numpy())[:, 1]
        out_of_fold[~fit_mask] = probability
        fold_auroc.append(float(roc_auc_score(held.outcome, probability)))
        chosen.append(str(result.metadata["candidates"]["chosen"]))
    return {
        "folds": folds,
        "seed": seed,
        "stratified_on": "readmitted",
        "fold_auroc": fold_auroc,
        "chosen_per_fold": chosen,
        "metrics": evaluate_rows(data, out_of_fold),
        "calibration": {
            "all": calibration(data.outcome, out_of_fold),
            "age_70_plus": calibration(data.outcome[data.age70], out_of_fold[data.age70]),
        },
    }
