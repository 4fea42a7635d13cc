"""Contributions are exact Shapley values: checked against a brute-force computation over all orderings."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.model import FEATURES, ReadmissionModel
from cds.model.features import FeatureConfig, features_from_snapshot
from cds.model.shapley import shapley_values

from .test_features import astrid


@pytest.fixture(scope="module")
def model(trained_dir: Path) -> ReadmissionModel:
    return ReadmissionModel.load(trained_dir)


def brute_force_shapley(x: np.ndarray, reference: np.ndarray, log_odds) -> np.ndarray:  # noqa: ANN001
    """Average marginal contribution of each feature over every ordering of all features (no shortcuts)."""
    n = len(x)
    memo: dict[frozenset[int], float] = {}

    def value(coalition: frozenset[int]) -> float:
        if coalition not in memo:
            row = np.array([x[j] if j in coalition else reference[j] for j in range(n)])
            memo[coalition] = float(log_odds(row[None, :])[0])
        return memo[coalition]

    total = np.zeros(n)
    for order in itertools.permutations(range(n)):
        coalition: frozenset[int] = frozenset()
        for j in order:
            grown = coalition | {j}
            total[j] += value(grown) - value(coalition)
            coalition = grown
    return total / math.factorial(n)


def _reference(model: ReadmissionModel) -> np.ndarray:
    return np.array([model.metadata["reference_values"][name] for name in FEATURES])


def test_contributions_equal_brute_force_shapley_values_of_the_trained_model(model: ReadmissionModel) -> None:
    reference = _reference(model)
    x = np.array([features_from_snapshot(astrid())[name] for name in FEATURES])
    players = np.flatnonzero(x != reference)[:7]  # 7! orderings: brute force stays fast
    x = np.where(np.isin(np.arange(len(x)), players), x, reference)
    assert len(players) >= 6  # a real game, not a trivial one
    exact = shapley_values(x, reference, model._log_odds)  # noqa: SLF001

    def game(rows: np.ndarray) -> np.ndarray:  # the model's log-odds as a function of the players' values only
        full = np.repeat(reference[None, :], len(rows), axis=0)
        full[:, players] = rows
        return model._log_odds(full)  # noqa: SLF001

    brute = brute_force_shapley(x[players], reference[players], game)
    np.testing.assert_allclose(exact[players], brute, atol=1e-9)
    assert np.all(exact[np.setdiff1d(np.arange(len(x)), players)] == 0.0)


def test_contributions_add_up_to_the_log_odds_above_the_reference_patient(model: ReadmissionModel) -> None:
    x = np.array([features_from_snapshot(astrid())[name] for name in FEATURES])
    reference = _reference(model)
    phi = shapley_values(x, reference, model._log_odds)  # noqa: SLF001
    ends = model._log_odds(np.vstack([x, reference]))  # noqa: SLF001
    assert phi.sum() == pytest.approx(ends[0] - ends[1], abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(
    weights=st.lists(st.floats(-2, 2), min_size=5, max_size=5),
    x=st.lists(st.integers(0, 3), min_size=5, max_size=5),
    reference=st.lists(st.integers(0, 3), min_size=5, max_size=5),
)
def test_shapley_values_match_brute_force_for_any_game_with_interactions(
    weights: list[float], x: list[int], reference: list[int]
) -> None:
    w = np.array(weights)

    def game(rows: np.ndarray) -> np.ndarray:  # linear part plus an interaction of features 0 and 1
        return rows @ w + 0.7 * rows[:, 0] * rows[:, 1] - np.maximum(rows[:, 2], rows[:, 3])

    xs, ref = np.array(x, dtype=float), np.array(reference, dtype=float)
    np.testing.assert_allclose(shapley_values(xs, ref, game), brute_force_shapley(xs, ref, game), atol=1e-9)
    assert np.all(shapley_values(xs, ref, game)[xs == ref] == 0.0)


def test_a_feature_at_its_reference_value_is_not_shown(model: ReadmissionModel) -> None:
    reference = model.metadata["reference_values"]
    values = dict(features_from_snapshot(astrid()))
    values["n_medications"] = reference["n_medications"]
    shown = dict(model.predict_features(values).contributions)
    assert "n_medications" not in shown


def test_contributions_below_the_threshold_are_left_out_and_the_rest_are_sorted(model: ReadmissionModel) -> None:
    smallest = FeatureConfig.load().contribution_min_log_odds
    contributions = model.predict(astrid()).contributions
    assert contributions, "astrid differs from the reference patient in features the synthetic model uses"
    assert all(abs(value) >= smallest for _, value in contributions)
    sizes = [abs(value) for _, value in contributions]
    assert sizes == sorted(sizes, reverse=True)
