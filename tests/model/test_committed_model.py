"""The committed artefact in models/readmission: loads verified, is reproducible, beats both baselines.

Uses the development data shipped in the repository (data/readmission/readmission_dev_full.csv.gz).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cds.model.artefact import METADATA_FILE
from cds.model.card import render_card
from cds.model.dataset import read_readmission_csv
from cds.model.evaluation import evaluate_rows
from cds.model.readmission import ReadmissionModel
from cds.model.training import train

from .conftest import COMMITTED_MODEL, DEV_FULL_DATA

#: Documented reproducibility tolerance on every predicted probability (docs/model.md).
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def committed() -> ReadmissionModel:
    return ReadmissionModel.load(COMMITTED_MODEL)


@pytest.fixture(scope="module")
def dev():  # noqa: ANN201
    assert DEV_FULL_DATA.is_file(), f"development data expected at {DEV_FULL_DATA}"
    return read_readmission_csv(DEV_FULL_DATA)


def test_committed_model_was_trained_on_the_development_file(committed: ReadmissionModel, dev) -> None:  # noqa: ANN001
    assert committed.metadata["training_data"]["sha256"] == dev.file_sha256


def test_retraining_reproduces_the_committed_predictions(committed: ReadmissionModel, dev) -> None:  # noqa: ANN001
    result = train(dev, seed=committed.metadata["seed"])
    again = committed.predict_proba(result.test.features.to_numpy())
    assert np.max(np.abs(again - result.test_probability)) <= TOLERANCE
    assert result.metadata["candidates"]["chosen"] == committed.metadata["candidates"]["chosen"]


def test_model_is_ahead_of_both_baselines_on_held_out_rows_overall_and_70_plus(
    committed: ReadmissionModel, dev  # noqa: ANN001
) -> None:
    from cds.model.training import split_indices

    test_rows = np.zeros(len(dev), dtype=bool)
    test_rows[split_indices(dev.outcome, committed.metadata["seed"])["test"]] = True
    held_out = dev.subset(test_rows)
    metrics = evaluate_rows(held_out, committed.predict_proba(held_out.features.to_numpy()))
    for group in ("all", "age_70_plus"):
        model = metrics[group]["model"]["auroc"]
        assert model > metrics[group]["lace_style"]["auroc"]
        assert model > metrics[group]["hospital_style"]["auroc"]
        for scorer, values in metrics[group].items():  # the same rows as the committed test split
            recorded = committed.metadata["held_out_metrics"][group][scorer]
            assert (values["n"], values["events"]) == (recorded["n"], recorded["events"])
            assert abs(values["auroc"] - recorded["auroc"]) < 1e-9


def test_evaluate_on_the_development_file_puts_the_model_ahead_on_the_held_out_rows(
    committed: ReadmissionModel,
) -> None:
    from .test_cli import cds

    result = cds("model", "evaluate", "--data", str(DEV_FULL_DATA), "--model", str(COMMITTED_MODEL), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    held_out = report["evaluations"]["held_out"]
    assert held_out["rows"] == committed.metadata["split"]["rows"]["test"]
    for group in ("all", "age_70_plus"):
        m = held_out["metrics"][group]
        assert m["model"]["auroc"] > max(m["lace_style"]["auroc"], m["hospital_style"]["auroc"])


def test_model_card_shows_the_committed_figures(committed: ReadmissionModel) -> None:
    metadata = json.loads((COMMITTED_MODEL / METADATA_FILE).read_text())
    assert (COMMITTED_MODEL / "MODEL_CARD.md").read_text() == render_card(metadata)
    assert (COMMITTED_MODEL / "roc.png").stat().st_size > 10_000
    assert (COMMITTED_MODEL / "calibration.png").stat().st_size > 10_000


def test_cross_validated_auroc_is_recorded_with_its_ci_and_is_in_the_expected_range(committed: ReadmissionModel) -> None:
    cv = committed.metadata["cross_validation"]
    assert cv["folds"] == 5 and len(cv["fold_auroc"]) == 5
    model = cv["metrics"]["all"]["model"]
    assert 0.62 <= model["auroc_low"] < model["auroc"] < model["auroc_high"] <= 0.67
    for group in ("all", "age_70_plus"):  # ahead of both proxies, paired DeLong CI above 0
        for baseline in ("lace_style", "hospital_style"):
            assert cv["metrics"][group][baseline]["model_auroc_difference"]["low"] > 0


def test_committed_model_is_not_validated_so_cards_do_not_show_it(committed: ReadmissionModel) -> None:
    assert committed.validated is False
