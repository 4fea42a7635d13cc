"""Discrimination and calibration metrics: AUROC with a DeLong 95% CI, AUPRC, Brier.

The AUROC confidence interval uses DeLong's variance (DeLong et al., Biometrics
1988;44:837-845) computed with midranks (Sun & Xu, IEEE Signal Process Lett
2014;21:1389-1393); it is analytic, so it is deterministic and fast. Brier score
is only defined for probabilities; for point scores (the baselines) it is None.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm, rankdata
from sklearn.metrics import average_precision_score, brier_score_loss

__all__ = ["Metrics", "auroc_delong", "auroc_difference_delong", "compute_metrics"]


@dataclass(frozen=True)
class Metrics:
    n: int
    events: int
    auroc: float | None
    auroc_low: float | None
    auroc_high: float | None
    auprc: float | None
    brier: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def _components(y: np.ndarray, score: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUROC and DeLong's structural components (per positive, per negative), via midranks."""
    pos = score[y == 1]
    neg = score[y == 0]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        raise ValueError("AUROC needs both outcomes")
    all_ranks = rankdata(np.concatenate([pos, neg]))
    auc = (all_ranks[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (all_ranks[:m] - rankdata(pos)) / n
    v01 = 1.0 - (all_ranks[m:] - rankdata(neg)) / m
    return float(auc), v10, v01


def _interval(estimate: float, var: float, level: float, lo: float, hi: float) -> tuple[float, float, float]:
    half = norm.ppf(0.5 + level / 2) * math.sqrt(max(var, 0.0))
    return float(estimate), float(max(lo, estimate - half)), float(min(hi, estimate + half))


def _var(values: np.ndarray) -> float:
    return float(np.var(values, ddof=1)) if len(values) > 1 else 0.0


def auroc_delong(y: np.ndarray, score: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """AUROC and its DeLong confidence interval (clipped to [0, 1])."""
    auc, v10, v01 = _components(y, score)
    return _interval(auc, _var(v10) / len(v10) + _var(v01) / len(v01), level, 0.0, 1.0)


def auroc_difference_delong(
    y: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, level: float = 0.95
) -> tuple[float, float, float]:
    """AUROC(a) - AUROC(b) on the same rows, with DeLong's paired confidence interval."""
    auc_a, v10a, v01a = _components(y, score_a)
    auc_b, v10b, v01b = _components(y, score_b)
    var = _var(v10a - v10b) / len(v10a) + _var(v01a - v01b) / len(v01a)
    return _interval(auc_a - auc_b, var, level, -1.0, 1.0)


def compute_metrics(y: np.ndarray, score: np.ndarray, *, probability: bool) -> Metrics:
    """Metrics of one scorer on rows ``y``; AUROC/AUPRC are None when only one outcome occurs."""
    y = np.asarray(y)
    score = np.asarray(score, dtype=float)
    events = int(y.sum())
    both = 0 < events < len(y)
    auc = low = high = auprc = None
    if both:
        auc, low, high = auroc_delong(y, score)
        auprc = float(average_precision_score(y, score))
    brier = float(brier_score_loss(y, score)) if probability and len(y) else None
    return Metrics(n=len(y), events=events, auroc=auc, auroc_low=low, auroc_high=high, auprc=auprc, brier=brier)
