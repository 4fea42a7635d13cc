"""`FlatTrees` gives exactly scikit-learn's decision function, and declines estimators it does not reproduce."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from cds.model.fastpath import direct_probability
from cds.model.features import FEATURES, FeatureUnavailable, features_from_snapshot
from cds.model.readmission import ReadmissionModel
from cds.model.threads import one_thread
from cds.model.trees import FlatTrees

from .conftest import COMMITTED_MODEL

HBA1C = FEATURES.index("hba1c")


@pytest.fixture(scope="module")
def committed() -> ReadmissionModel:
    return ReadmissionModel.load(COMMITTED_MODEL)


def _boosting(model: ReadmissionModel) -> HistGradientBoostingClassifier:
    return model.estimator.calibrated_classifiers_[0].estimator.estimator


def random_rows(n: int, seed: int) -> np.ndarray:
    """Feature rows around and beyond the training range: fractions, NaN, +-inf, -0.0, unknown HbA1c codes."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.integers(0, 11, n) * 10.0,
            rng.integers(0, 2, n),
            rng.integers(0, 2, n),
            rng.integers(0, 30, n),
            rng.poisson(2.0, n),
            rng.integers(0, 20, n),
            rng.integers(0, 8, n),
            rng.integers(0, 60, n),
            rng.integers(-1, 6, n),  # HbA1c code: -1, 4 and 5 are not categories
        ]
    ).astype(float)
    X[rng.random(X.shape) < 0.05] *= 1.37
    X[rng.random(X.shape) < 0.03] = np.nan
    numerical = np.ones(X.shape[1], dtype=bool)
    numerical[HBA1C] = False
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
    from cds import bundled
    from cds.facts import build_snapshot
    from cds.quality.batch import prepare_patient
    from cds.quality.cohort import generate_cohort
    from cds.quality.export import BulkExport
    from cds.terminology import Terminology

    generate_cohort(80, seed=2, out_dir=tmp_path)
    types = frozenset(p.name.split(".", 1)[0] for p in tmp_path.glob("*.ndjson"))
    terminology = Terminology.load(bundled.RULES_DIR / "valuesets")
    rows = []
    for hook in ("encounter-discharge", "encounter-start"):
        for patient_id, resources in BulkExport(tmp_path).patients():
            encounter_id, now, parsed = prepare_patient(resources, hook, None, types)
            if now is None:
                continue
            assert isinstance(now, datetime)
            snapshot = build_snapshot(
                parsed, patient_id=patient_id, encounter_id=encounter_id, now=now,
                terminology=terminology, patient_key="cohort",
            )
            try:
                values = features_from_snapshot(snapshot)
            except FeatureUnavailable:
                continue
            rows.append([values[name] for name in FEATURES])
    assert len(rows) > 60
    X = np.array(rows)
    direct = direct_probability(committed.estimator)
    assert direct is not None
    assert np.array_equal(direct(X), committed.predict_proba(X))


def test_an_infinite_category_is_refused_as_scikit_learn_refuses_it(committed: ReadmissionModel) -> None:
    trees = FlatTrees.from_estimator(_boosting(committed))
    assert trees is not None
    row = np.array([[80.0, 1, 1, 5, 1, 8, 1, 10, np.inf]])
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
