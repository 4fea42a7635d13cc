"""Training: split, model choice, calibration, rows used in training."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cds.model.dataset import count_in_multiset, read_readmission_csv
from cds.model.training import SPLIT, split_indices, train


def test_split_is_stratified_and_has_the_documented_shares(synthetic_csv: Path) -> None:
    y = read_readmission_csv(synthetic_csv).outcome
    parts = split_indices(y, seed=1)
    for name, share in SPLIT.items():
        assert abs(len(parts[name]) / len(y) - share) < 0.01
        assert abs(y[parts[name]].mean() - y.mean()) < 0.01
    assert len(np.unique(np.concatenate(list(parts.values())))) == len(y)


def test_chosen_model_is_the_best_candidate_on_validation(synthetic_csv: Path) -> None:
    candidates = train(read_readmission_csv(synthetic_csv), seed=5).metadata["candidates"]
    assert candidates["validation_auroc"][candidates["chosen"]] == max(candidates["validation_auroc"].values())


def test_model_learns_the_synthetic_signal_better_than_chance(synthetic_csv: Path) -> None:
    held = train(read_readmission_csv(synthetic_csv), seed=5).metadata["held_out_metrics"]
    assert held["all"]["model"]["auroc_low"] > 0.5


def test_rows_used_in_training_are_found_again_in_the_training_file(synthetic_csv: Path) -> None:
    data = read_readmission_csv(synthetic_csv)
    result = train(data, seed=5)
    used = count_in_multiset(data.fingerprints, result.training_rows)
    assert used.sum() == len(result.training_rows) == round(len(data) * (SPLIT["train"] + SPLIT["validation"]))
    held_out = np.sort(data.fingerprints[~used])
    assert np.array_equal(held_out, np.sort(result.test.fingerprints))


def test_probabilities_are_calibrated_on_average(synthetic_csv: Path) -> None:
    result = train(read_readmission_csv(synthetic_csv), seed=5)
    assert abs(result.test_probability.mean() - result.test.outcome.mean()) < 0.03


def test_another_seed_gives_another_split(synthetic_csv: Path) -> None:
    y = read_readmission_csv(synthetic_csv).outcome
    assert not np.array_equal(split_indices(y, seed=5)["test"], split_indices(y, seed=6)["test"])
