"""Exact Shapley values of one prediction against the reference patient.

The game: for a coalition S of features, v(S) is the model's log-odds for the
patient's values on S and the reference patient's values elsewhere (the
training median, or the most frequent value; ``reference_values`` of the
artefact). The Shapley value of feature j,

    phi_j = sum over S not holding j of |S|! (n - |S| - 1)! / n! * (v(S + j) - v(S)),

is computed exactly over all 2^n coalitions (Shapley 1953; the "baseline
Shapley" of Sundararajan & Najmi, ICML 2020). With the model's handful of
features that is at most a few thousand rows, scored in one call on the fast
tree arrays (`cds.model.trees`). The values add up: sum phi_j = v(all) - v(none)
= log-odds of the patient minus log-odds of the reference patient. A feature
whose value equals the reference value gets exactly 0 (it never changes a
coalition's row), and only features that differ from the reference enter the
enumeration.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["coalition_rows", "shapley_values"]

#: Feature matrix -> log-odds per row.
LogOddsFn = Callable[[np.ndarray], np.ndarray]


def coalition_rows(x: np.ndarray, reference: np.ndarray, players: np.ndarray) -> np.ndarray:
    """One row per coalition of ``players`` (bit k of the row index = player k takes the patient's value)."""
    n = len(players)
    masks = np.arange(1 << n)
    rows = np.repeat(reference[None, :], 1 << n, axis=0)
    for k, column in enumerate(players):
        taken = ((masks >> k) & 1).astype(bool)
        rows[taken, column] = x[column]
    return rows


def shapley_values(x: np.ndarray, reference: np.ndarray, log_odds: LogOddsFn) -> np.ndarray:
    """Exact Shapley value of every feature of ``x`` (1-D) against ``reference`` (1-D), on the log-odds scale."""
    x = np.asarray(x, dtype=float)
    reference = np.asarray(reference, dtype=float)
    players = np.flatnonzero(x != reference)
    phi = np.zeros(len(x), dtype=float)
    n = len(players)
    if n == 0:
        return phi
    value = np.asarray(log_odds(coalition_rows(x, reference, players)), dtype=float)
    masks = np.arange(1 << n)
    size = np.bitwise_count(masks.astype(np.uint64)).astype(int)
    weight = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)])
    for k, column in enumerate(players):
        without = masks[((masks >> k) & 1) == 0]
        phi[column] = float(np.sum(weight[size[without]] * (value[without | (1 << k)] - value[without])))
    return phi
