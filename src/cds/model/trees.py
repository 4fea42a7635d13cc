"""The fitted trees of a binary `HistGradientBoostingClassifier`, evaluated from arrays built once.

Why: for the ten rows of one prediction, scikit-learn's ``decision_function``
spends milliseconds in input validation, the categorical ``ColumnTransformer``
and one Cython call per tree (78 of them); the trees themselves are tiny.
`FlatTrees.from_estimator` reads the fitted estimator's own parameters once, at
load, into a few NumPy tables, and `FlatTrees.decision_function` evaluates all
trees with a handful of array operations per input column. It re-implements
``decision_function`` of scikit-learn 1.9 on those parameters; it is checked
bit for bit against ``predict_proba`` when the model is loaded
(`cds.model.fastpath.verified`) and in the tests, and an estimator it does not
recognise gives None, so the caller keeps scikit-learn's own path.

What ``decision_function`` does (``_hist_gradient_boosting/_predictor.pyx``),
and where it is reproduced:

1. Input: the categorical columns go through the fitted ``OrdinalEncoder``
   (category value -> code 0..k-1; a value that is not a category, or NaN,
   -> NaN; an infinite value is an error); the numerical columns pass
   unchanged. Here: `_ColumnSplits.outcome`.
2. At a split of a tree: a NaN goes the split's ``missing_go_to_left`` way; a
   number goes left when ``value <= num_threshold``; a category code goes left
   when it is in the split's left bitset, right when it is a known category,
   and otherwise the missing-value way. Here: `_column_splits`, per outcome.
3. The raw score is ``baseline + tree_1 + tree_2 + ...``, added in this order
   in float64. Here: the same additions in the same order (``np.cumsum``).

Finding each tree's leaf without walking the trees (QuickScorer: Lucchese et
al., SIGIR 2015). Number each tree's leaves left to right; a split that sends
a row right rules out the leaves of its left subtree. The leaf a row reaches
is the leftmost leaf no such split rules out: every leaf left of it lies in
the left subtree of a split on its path where the row went right, and no
split rules it out (only a split it lies left of could, and there the row
went left). Which splits of one column send a row right depends only on the
row's value in that column: for a number, exactly the splits with a threshold
below it. So, once at load, for each column and each possible outcome (each
interval between its thresholds, or each category code, or missing) the bit
mask per tree of the leaves not ruled out; per row, AND the masks of its
columns' outcomes and take the lowest set bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FlatTrees"]

#: The leaves of one tree must fit the bits of one mask.
_MAX_LEAVES = 64
_ALL_LEAVES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
_ONE = np.uint64(1)


@dataclass(frozen=True)
class _ColumnSplits:
    """Every split on one input column: per outcome of the column's value, the leaves each tree can still reach.

    ``masks`` has one row per outcome and one column per tree; its last row is
    the missing value (NaN; for a category, also a value that is not one of
    ``categories``). Numerical column (``categories`` None): ``bounds`` holds
    the distinct thresholds t_0 < t_1 < ... ascending and then +inf, and
    outcome ``k`` = the first bound at or above the value, so the splits that
    send the value right are those with a threshold below t_k (all of them
    for k = len(bounds) - 1); ``searchsorted`` sorts NaN after every bound,
    which is the row after them: missing. Categorical column: outcome = the
    category's code, its position in ``categories``.
    """

    column: int
    bounds: np.ndarray | None  # numerical: sorted distinct thresholds, then +inf
    categories: np.ndarray | None  # categorical: sorted category values
    masks: np.ndarray  # (outcome, tree) uint64

    def outcome(self, x: np.ndarray) -> np.ndarray:
        """The row of ``masks`` for each value of ``x``."""
        if self.categories is None:
            assert self.bounds is not None
            return self.bounds.searchsorted(x)  # NaN -> len(bounds), the missing row
        if np.isinf(x).any():
            raise ValueError(f"column {self.column}: infinite value in a categorical feature")
        code = np.minimum(self.categories.searchsorted(x), len(self.categories) - 1)
        return np.where(self.categories[code] == x, code, len(self.categories))


@dataclass(frozen=True)
class FlatTrees:
    """The trees as per-column outcome masks and a table of leaf values."""

    n_features: int
    baseline: float
    columns: tuple[_ColumnSplits, ...]  # only the columns some split reads
    leaf_values: np.ndarray  # (tree, leaf position, left to right) -> value
    _first_leaf: np.ndarray = field(init=False, repr=False, compare=False)  # index of each tree's first leaf value

    def __post_init__(self) -> None:
        n_trees, widest = self.leaf_values.shape
        object.__setattr__(self, "_first_leaf", np.arange(n_trees) * widest)

    @classmethod
    def from_estimator(cls, estimator: Any) -> FlatTrees | None:
        """The tables of a fitted binary ``HistGradientBoostingClassifier``; None for anything else."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        if type(estimator) is not HistGradientBoostingClassifier or estimator.n_trees_per_iteration_ != 1:
            return None
        try:
            return _flatten(estimator)
        except _Unsupported:
            return None

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The raw score of every row of ``X`` (n x n_features), as the estimator's ``decision_function``."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected rows of {self.n_features} features, got shape {X.shape}")
        reachable = np.full((len(X), len(self.leaf_values)), _ALL_LEAVES)
        for splits in self.columns:
            reachable &= splits.masks[splits.outcome(X[:, splits.column])]
        leftmost = np.bitwise_count(~reachable & (reachable - _ONE))  # trailing zeros: the lowest set bit
        terms = np.empty((len(X), len(self.leaf_values) + 1))
        terms[:, 0] = self.baseline
        terms[:, 1:] = self.leaf_values.ravel()[leftmost + self._first_leaf]
        return np.cumsum(terms, axis=1)[:, -1]  # baseline, then tree by tree, as scikit-learn adds them


class _Unsupported(Exception):
    """The fitted estimator has a form `FlatTrees` does not reproduce."""


@dataclass(frozen=True)
class _Split:
    tree: int
    column: int  # the caller's column
    threshold: float
    missing_left: bool
    goes_left: np.ndarray | None  # categorical: goes left, by code 0..255
    ruled_out: int  # bits of the leaves of the left subtree


def _flatten(estimator: Any) -> FlatTrees:
    column_of, categories = _input_columns(estimator)
    known_bitsets, bitset_of_feature = estimator._bin_mapper.make_known_categories_bitsets()  # noqa: SLF001
    splits: list[_Split] = []
    leaf_values: list[list[float]] = []
    for tree, (predictor,) in enumerate(estimator._predictors):  # noqa: SLF001 - one tree per iteration (binary)
        nodes = predictor.nodes
        leaves = _leaves_left_to_right(nodes, 0)
        if len(leaves) > _MAX_LEAVES:
            raise _Unsupported
        position = {node: i for i, node in enumerate(leaves)}
        leaf_values.append([float(nodes[n]["value"]) for n in leaves])
        for n in range(len(nodes)):
            node = nodes[n]
            if node["is_leaf"]:
                continue
            feature = int(node["feature_idx"])
            goes_left = None
            if node["is_categorical"]:
                goes_left = _category_directions(
                    predictor.raw_left_cat_bitsets[int(node["bitset_idx"])],
                    known_bitsets[bitset_of_feature[feature]],
                    bool(node["missing_go_to_left"]),
                )
            splits.append(
                _Split(
                    tree=tree,
                    column=int(column_of[feature]),
                    threshold=float(node["num_threshold"]),
                    missing_left=bool(node["missing_go_to_left"]),
                    goes_left=goes_left,
                    ruled_out=sum(1 << position[leaf] for leaf in _leaves_left_to_right(nodes, int(node["left"]))),
                )
            )
    n_trees = len(leaf_values)
    widest = max(len(v) for v in leaf_values)
    columns = tuple(
        _column_splits(column, [s for s in splits if s.column == column], categories.get(column), n_trees)
        for column in sorted({s.column for s in splits})
    )
    return FlatTrees(
        n_features=len(column_of),
        baseline=float(np.asarray(estimator._baseline_prediction).reshape(-1)[0]),  # noqa: SLF001
        columns=columns,
        leaf_values=np.asarray([v + [0.0] * (widest - len(v)) for v in leaf_values], dtype=np.float64),
    )


def _column_splits(column: int, splits: list[_Split], categories: np.ndarray | None, n_trees: int) -> _ColumnSplits:
    """The outcome masks of one column (see `_ColumnSplits`)."""

    def masks(goes_right: list[list[_Split]]) -> np.ndarray:
        table = np.full((len(goes_right), n_trees), _ALL_LEAVES)
        for row, right in enumerate(goes_right):
            for split in right:
                table[row, split.tree] &= np.uint64(~split.ruled_out & 0xFFFF_FFFF_FFFF_FFFF)
        return table

    missing = [s for s in splits if not s.missing_left]
    if categories is None:
        if any(s.goes_left is not None for s in splits):
            raise _Unsupported
        bounds = np.append(np.unique([s.threshold for s in splits]), np.inf)
        right_of = [[s for s in splits if s.threshold < t] for t in bounds[:-1]]  # value in (t_k-1, t_k]
        right_of.append(list(splits))  # value above every threshold
        return _ColumnSplits(column, bounds, None, masks([*right_of, missing]))
    if any(s.goes_left is None for s in splits) or len(categories) > 256:
        raise _Unsupported
    by_code = [[s for s in splits if not s.goes_left[code]] for code in range(len(categories))]  # type: ignore[index]
    return _ColumnSplits(column, None, categories, masks([*by_code, missing]))


def _input_columns(estimator: Any) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The caller's column for each feature index of the trees, and the categories of each categorical column."""
    n_features = int(estimator.n_features_in_)
    preprocessor = estimator._preprocessor  # noqa: SLF001 - fitted state, read only
    if preprocessor is None:
        return np.arange(n_features), {}
    from sklearn.preprocessing import OrdinalEncoder

    encoder = preprocessor.named_transformers_["encoder"]
    if (
        type(encoder) is not OrdinalEncoder
        or encoder.handle_unknown != "use_encoded_value"
        or not np.isnan(encoder.unknown_value)
        or not np.isnan(encoder.encoded_missing_value)
        or getattr(encoder, "_infrequent_enabled", False)
        or set(preprocessor.output_indices_) - {"encoder", "numerical", "remainder"}
    ):
        raise _Unsupported
    is_categorical = np.asarray(estimator.is_categorical_, dtype=bool)
    categorical_columns = np.flatnonzero(is_categorical)
    encoded, numerical = preprocessor.output_indices_["encoder"], preprocessor.output_indices_["numerical"]
    if (encoded.stop - encoded.start) + (numerical.stop - numerical.start) != n_features:
        raise _Unsupported
    column_of = np.empty(n_features, dtype=np.intp)
    column_of[encoded] = categorical_columns
    column_of[numerical] = np.flatnonzero(~is_categorical)
    categories: dict[int, np.ndarray] = {}
    for column, values in zip(categorical_columns, encoder.categories_, strict=True):
        values = np.asarray(values)
        if values.dtype.kind != "f":
            raise _Unsupported
        values = values[~np.isnan(values)]  # NaN, when seen in training, is last and encodes as missing
        if len(values) == 0 or np.any(np.diff(values) <= 0):
            raise _Unsupported
        categories[int(column)] = values.astype(np.float64)
    return column_of, categories


def _leaves_left_to_right(nodes: np.ndarray, start: int) -> list[int]:
    """The leaf nodes under ``start``, leftmost first."""
    leaves: list[int] = []
    stack = [start]
    while stack:
        n = stack.pop()
        if nodes[n]["is_leaf"]:
            leaves.append(n)
        else:
            stack.append(int(nodes[n]["right"]))
            stack.append(int(nodes[n]["left"]))
    return leaves


def _category_directions(left_bitset: np.ndarray, known_bitset: np.ndarray, missing_left: bool) -> np.ndarray:
    """Goes left, for each category code 0..255: in the left bitset; else right if known; else as missing."""
    codes = np.arange(256)
    in_left = (left_bitset[codes // 32] >> (codes % 32)) & 1
    known = (known_bitset[codes // 32] >> (codes % 32)) & 1
    return np.where(in_left == 1, True, np.where(known == 1, False, missing_left))
