"""`FlatTrees` gives exactly scikit-learn's decision function, and declines estimators it does not reproduce."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)

from cds.model.fastpath import direct_probability
from cds.model.features import FEATURES
from cds.model.readmission import ReadmissionModel
from cds.model.threads import one_thread
from cds.model.trees import FlatTrees

from .conftest import COMMITTED_MODEL

CODES = [FEATURES.index(name) for name in ("hba1c", "discharge_group", "diagnosis_group")]


@pytest.fixture(scope="module")
def committed() -> ReadmissionModel:
    return ReadmissionModel.load(COMMITTED_MODEL)


def _boosting(model: ReadmissionModel) -> HistGradientBoostingClassifier:
    return model.estimator.calibrated_classifiers_[0].estimator.estimator


def random_rows(n: int, seed: int) -> np.ndarray:
    """Feature rows around and beyond the training range: fractions, NaN, +-inf, -0.0, unknown category codes."""
    rng = np.random.default_rng(seed)
    columns = {
        "age_band": rng.integers(0, 11, n) * 10.0,
        "female": rng.integers(0, 2, n),
        "emergency": rng.integers(0, 2, n),
        "los_days": rng.integers(0, 30, n),
        "prior_inpatient": rng.poisson(1.0, n),
        "prior_emergency": rng.poisson(0.5, n),
        "prior_outpatient": rng.poisson(1.0, n),
        "n_diagnoses": rng.integers(0, 20, n),
        "n_procedures": rng.integers(0, 8, n),
        "n_medications": rng.integers(0, 60, n),
        "hba1c": rng.integers(-1, 6, n),  # HbA1c code: -1, 4 and 5 are not categories
        "discharge_group": rng.integers(-1, 11, n),  # 7, 8, 9, 10 are not categories
        "diagnosis_group": rng.integers(-1, 24, n),
    }
    X = np.column_stack([columns[name] for name in FEATURES]).astype(float)
    X[rng.random(X.shape) < 0.05] *= 1.37
    X[rng.random(X.shape) < 0.03] = np.nan
    numerical = np.ones(X.shape[1], dtype=bool)
    numerical[CODES] = False
    X[:, numerical] = np.where(rng.random((n, numerical.sum())) < 0.01, np.inf, X[:, numerical])
    X[:, numerical] = np.where(rng.random((n, numerical.sum())) < 0.01, -np.inf, X[:, numerical])
    X[rng.random(X.shape) < 0.02] = -0.0
    return X


def test_the_committed_model_has_flat_trees(committed: ReadmissionModel) -> None:
    assert FlatTrees.from_estimator(_boosting(committed)) is not None


def test_flat_trees_equal_decision_function_bit_for_bit_on_random_rows(committed: ReadmissionModel) -> None:
    boosting = _boosting(committed)
    trees = FlatTrees.from_estimator(boosting)
    assert trees is not None
    for seed in range(3):
        X = random_rows(20_000, seed)
        with one_thread():
            expected = boosting.decision_function(X)
        assert np.array_equal(trees.decision_function(X), expected)


def test_the_direct_path_equals_predict_proba_bit_for_bit_on_random_rows(committed: ReadmissionModel) -> None:
    direct = direct_probability(committed.estimator)
    assert direct is not None
    X = random_rows(20_000, seed=11)
    assert np.array_equal(direct(X), committed.predict_proba(X))
    for row in X[:200]:  # one row at a time, as a cache miss may ask
        assert np.array_equal(direct(row[None, :]), committed.predict_proba(row[None, :]))


def test_the_direct_path_equals_predict_proba_on_a_generated_cohort(
    committed: ReadmissionModel, tmp_path: Path
) -> None:
    """Rows from snapshots of a FHIR export (the generated cohort format), not from the CSV."""
    from cds.model.local import feature_frame, read_export

    from .test_local_validation import write_cohort

    write_cohort(tmp_path, 120, seed=2)
    frame, _ = feature_frame(read_export(tmp_path, min_age=0))
    rows = frame[list(FEATURES)].to_numpy().tolist()
    assert len(rows) > 60
    X = np.array(rows)
    direct = direct_probability(committed.estimator)
    assert direct is not None
    assert np.array_equal(direct(X), committed.predict_proba(X))


def test_an_infinite_category_is_refused_as_scikit_learn_refuses_it(committed: ReadmissionModel) -> None:
    trees = FlatTrees.from_estimator(_boosting(committed))
    assert trees is not None
    row = np.array([[80.0, 1, 1, 5, 1, 0, 0, 8, 1, 10, np.inf, 1, 9]])
    with pytest.raises(ValueError):
        _boosting(committed).decision_function(row)
    with pytest.raises(ValueError, match="infinite"):
        trees.decision_function(row)
    with pytest.raises(ValueError, match="features"):
        trees.decision_function(row[:, :5])


def _training_rows(seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 5, n), rng.poisson(3.0, n), rng.normal(size=n)])
    y = (X[:, 0] + (X[:, 1] == 2) - 0.3 * X[:, 2] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    X[rng.random(X.shape) < 0.05] = np.nan  # missing values seen in training: learned directions
    return X, y


def _test_rows(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=5000), rng.integers(-1, 7, 5000), rng.poisson(3.0, 5000), rng.normal(size=5000)])
    X[rng.random(X.shape) < 0.05] = np.nan
    return X


def _fit(X: np.ndarray, y: np.ndarray, **options: object) -> HistGradientBoostingClassifier:
    with one_thread():
        return HistGradientBoostingClassifier(**{"max_iter": 40, "random_state": 0, **options}).fit(X, y)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {},  # numerical features only, no preprocessor
        {"categorical_features": [1]},  # a categorical column in the middle, NaN among its training values
        {"categorical_features": [1, 2], "max_leaf_nodes": 40},
    ],
)
def test_flat_trees_equal_freshly_fitted_models(options: dict[str, object]) -> None:
    X, y = _training_rows(seed=3)
    fitted = _fit(X, y, **options)
    trees = FlatTrees.from_estimator(fitted)
    assert trees is not None
    rows = _test_rows(seed=4)
    assert np.array_equal(trees.decision_function(rows), fitted.decision_function(rows))


def test_trees_that_are_a_single_leaf_give_that_leaf() -> None:
    X, y = _training_rows(seed=3)
    fitted = _fit(X, y, max_iter=5, min_samples_leaf=2000)
    assert {p.get_n_leaf_nodes() for (p,) in fitted._predictors} == {1}  # noqa: SLF001
    trees = FlatTrees.from_estimator(fitted)
    assert trees is not None
    rows = _test_rows(seed=4)
    assert np.array_equal(trees.decision_function(rows), fitted.decision_function(rows))


def test_estimators_it_does_not_reproduce_give_none() -> None:
    X, y = _training_rows(seed=5)
    with one_thread():
        wide = HistGradientBoostingClassifier(max_iter=3, max_leaf_nodes=100, min_samples_leaf=5).fit(X, y)
        three_classes = HistGradientBoostingClassifier(max_iter=3).fit(X, y + (X[:, 3] > 1))
        regressor = HistGradientBoostingRegressor(max_iter=3).fit(X, y)
    assert max(p.get_n_leaf_nodes() for (p,) in wide._predictors) > 64  # noqa: SLF001
    assert FlatTrees.from_estimator(wide) is None
    assert FlatTrees.from_estimator(three_classes) is None
    assert FlatTrees.from_estimator(regressor) is None
