"""A leaner call path into the fitted estimator for the few rows of one prediction, and a row cache.

`ReadmissionModel.predict` scores ten rows per snapshot (the patient and one
variant per feature for the contributions). For so few rows scikit-learn's
wrappers cost far more than the model: ``CalibratedClassifierCV.predict_proba``
re-fits a ``LabelEncoder`` and dispatches through ``_get_response_values``, and
gradient boosting validates its input, runs a ``ColumnTransformer`` and makes
one Cython call per tree. When the fitted estimator is the shape
`cds.model.training` produces (one calibrated classifier, sigmoid calibration,
binary classes), `direct_probability` computes the same two steps directly:
the inner model's decision function - from the tables of `cds.model.trees`
for gradient boosting (no scikit-learn call at all), else the estimator's
public ``decision_function`` - and the fitted sigmoid ``expit(-(a * f + b))``
with the calibrator's own ``a_`` and ``b_``. It is only used after `verified`
found it gives exactly (bit for bit) the probabilities of
``estimator.predict_proba`` on probe rows; any other estimator keeps the
generic path.

`RowCache` remembers the probability of each feature row: the model is a pure
function of the row, so a chart opened again (or a row shared by two patients)
is not scored twice. Bounded; thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import expit

from cds.model.threads import one_thread
from cds.model.trees import FlatTrees

__all__ = ["ProbabilityFn", "RowCache", "direct_probability", "verified"]

#: Feature matrix -> positive-class probabilities (1-D).
ProbabilityFn = Callable[[np.ndarray], np.ndarray]


def direct_probability(estimator: Any) -> ProbabilityFn | None:
    """The direct path for a single-fold sigmoid-calibrated binary classifier, else None."""
    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    if not calibrated or len(calibrated) != 1:
        return None
    only = calibrated[0]
    if getattr(only, "method", None) != "sigmoid" or len(getattr(only, "calibrators", ())) != 1:
        return None
    if list(getattr(only, "classes", [])) != [0, 1] or list(getattr(only.estimator, "classes_", [])) != [0, 1]:
        return None
    inner = getattr(only.estimator, "estimator", only.estimator)  # FrozenEstimator wraps the fitted model
    calibrator = only.calibrators[0]
    a, b = getattr(calibrator, "a_", None), getattr(calibrator, "b_", None)
    if a is None or b is None:
        return None
    trees = FlatTrees.from_estimator(inner)
    if trees is not None:

        def from_trees(X: np.ndarray) -> np.ndarray:
            return np.asarray(expit(-(a * trees.decision_function(X) + b)), dtype=float)

        return from_trees
    if not hasattr(inner, "decision_function"):
        return None

    def from_decision_function(X: np.ndarray) -> np.ndarray:
        with one_thread():  # scikit-learn may run OpenMP code (see cds.model.threads)
            decision = inner.decision_function(X)
        return np.asarray(expit(-(a * decision + b)), dtype=float)

    return from_decision_function


def verified(candidate: ProbabilityFn, reference: ProbabilityFn, probe: np.ndarray) -> bool:
    """True when ``candidate`` gives exactly the probabilities of ``reference`` on ``probe``."""
    try:
        return bool(np.array_equal(candidate(probe), reference(probe)))
    except Exception:  # noqa: BLE001 - any failure means: do not use the candidate
        return False


class RowCache:
    """Probabilities by feature row (a tuple of floats), at most ``size`` rows."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._rows: dict[tuple[float, ...], float] = {}
        self._lock = threading.Lock()

    def probabilities(self, X: np.ndarray, compute: ProbabilityFn) -> np.ndarray:
        """The probability of every row of ``X``; only rows not seen before are computed (in one call)."""
        keys = [tuple(row) for row in X.tolist()]
        rows = self._rows
        out = np.empty(len(keys), dtype=float)
        missing = []
        for i, key in enumerate(keys):
            value = rows.get(key)
            if value is None:
                missing.append(i)
            else:
                out[i] = value
        if missing:
            computed = compute(X[missing])
            out[missing] = computed
            with self._lock:
                for i, value in zip(missing, computed.tolist(), strict=True):
                    if len(rows) >= self._size:
                        rows.pop(next(iter(rows)))  # oldest first
                    rows[keys[i]] = value
        return out

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)
