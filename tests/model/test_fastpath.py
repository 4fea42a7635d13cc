"""The direct path and the row cache give exactly the probabilities of scikit-learn's predict_proba."""

from __future__ import annotations

import numpy as np
import pytest

from cds.model.dataset import read_readmission_csv
from cds.model.fastpath import RowCache, direct_probability, verified
from cds.model.readmission import ReadmissionModel

from .conftest import COMMITTED_MODEL, DEV_FULL_DATA
from .test_features import astrid


@pytest.fixture(scope="module")
def committed() -> ReadmissionModel:
    return ReadmissionModel.load(COMMITTED_MODEL)


def test_the_direct_path_equals_predict_proba_bit_for_bit_on_every_development_row(
    committed: ReadmissionModel,
) -> None:
    rows = read_readmission_csv(DEV_FULL_DATA).features.to_numpy()[:5000]
    direct = direct_probability(committed.estimator)
    assert direct is not None
    assert np.array_equal(direct(rows), committed.predict_proba(rows))


def test_the_committed_model_predicts_snapshots_through_the_direct_path(committed: ReadmissionModel) -> None:
    assert committed._row_proba is not committed._generic_proba  # noqa: SLF001 - the verified choice at load


def test_an_estimator_of_another_shape_has_no_direct_path() -> None:
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))
    assert direct_probability(fitted) is None


def test_a_candidate_that_differs_from_the_reference_is_not_verified() -> None:
    probe = np.zeros((3, 2))
    assert not verified(lambda X: np.full(len(X), 0.5), lambda X: np.full(len(X), 0.25), probe)
    assert not verified(lambda X: 1 / 0, lambda X: np.zeros(len(X)), probe)


def test_astrid_predicted_twice_gets_the_same_prediction_as_with_an_empty_cache(committed: ReadmissionModel) -> None:
    committed.clear_cache()
    first = committed.predict(astrid())
    again = committed.predict(astrid())
    committed.clear_cache()
    assert first == again == committed.predict(astrid())


def test_the_row_cache_computes_only_rows_it_has_not_seen_and_stays_bounded() -> None:
    cache = RowCache(size=3)
    asked: list[int] = []

    def compute(X: np.ndarray) -> np.ndarray:
        asked.append(len(X))
        return X[:, 0] / 10

    X = np.array([[1.0, 0.0], [2.0, 0.0]])
    assert cache.probabilities(X, compute).tolist() == [0.1, 0.2]
    assert cache.probabilities(np.array([[2.0, 0.0], [3.0, 0.0], [4.0, 0.0]]), compute).tolist() == [0.2, 0.3, 0.4]
    assert asked == [2, 2]
    assert len(cache) == 3
