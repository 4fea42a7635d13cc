"""AUROC with DeLong confidence intervals, AUPRC, Brier."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from cds.model.metrics import auroc_delong, auroc_difference_delong, compute_metrics


def scores(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.round(y * 0.4 + rng.random(n), 1)  # rounded: many ties


def test_delong_auroc_equals_sklearns_with_ties() -> None:
    y, s = scores(500)
    assert abs(auroc_delong(y, s)[0] - roc_auc_score(y, s)) < 1e-12


def test_confidence_interval_holds_the_estimate_and_narrows_with_more_rows() -> None:
    small = auroc_delong(*scores(200))
    large = auroc_delong(*scores(20000))
    assert small[1] < small[0] < small[2]
    assert (large[2] - large[1]) < (small[2] - small[1])


def test_difference_of_a_scorer_with_itself_is_exactly_zero() -> None:
    y, s = scores(300)
    assert auroc_difference_delong(y, s, s) == (0.0, 0.0, 0.0)


def test_difference_estimate_is_the_difference_of_aurocs() -> None:
    y, s = scores(1000)
    other = np.random.default_rng(3).random(1000)
    diff = auroc_difference_delong(y, s, other)
    assert abs(diff[0] - (roc_auc_score(y, s) - roc_auc_score(y, other))) < 1e-12
    assert diff[1] < diff[0] < diff[2]


def test_rows_with_one_outcome_have_no_auroc_but_a_brier_score() -> None:
    m = compute_metrics(np.zeros(10, dtype=int), np.full(10, 0.1), probability=True)
    assert m.auroc is None and m.auprc is None
    assert abs(m.brier - 0.01) < 1e-12


def test_point_scores_have_no_brier_score() -> None:
    y, s = scores(100)
    assert compute_metrics(y, s * 10, probability=False).brier is None
