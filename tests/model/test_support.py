"""Out-of-distribution guard: values the training rows do not support give no probability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.model import ReadmissionModel
from cds.model.features import features_from_snapshot
from cds.model.support import (
    OutsideTrainingData,
    SupportConfig,
    feature_support,
    outside_support,
)

from .test_features import astrid


@pytest.fixture(scope="module")
def model(trained_dir: Path) -> ReadmissionModel:
    return ReadmissionModel.load(trained_dir)


def test_support_holds_range_density_and_the_central_interval() -> None:
    frame = pd.DataFrame({"los_days": np.arange(1, 201, dtype=float), "female": [0.0] * 199 + [1.0]})
    support = feature_support(frame, SupportConfig(tail_share=0.01, min_value_share=0.01), frozenset({"female"}))
    assert (support["los_days"]["min"], support["los_days"]["max"]) == (1.0, 200.0)
    assert (support["los_days"]["low"], support["los_days"]["high"]) == (2.0, 199.0)
    assert support["los_days"]["shares"]["1"] == 0.005
    assert support["female"]["supported_values"] == [0.0]  # 1 of 200 rows is below the 1 % share


@settings(max_examples=30, deadline=None)
@given(los=st.integers(1, 60), diagnoses=st.integers(0, 30))
def test_a_value_outside_the_supported_interval_is_named(los: int, diagnoses: int) -> None:
    frame = pd.DataFrame({"los_days": np.tile(np.arange(1, 15, dtype=float), 10), "n_diagnoses": np.tile(np.arange(2, 16, dtype=float), 10)})
    support = feature_support(frame, SupportConfig(tail_share=0.0, min_value_share=0.0), frozenset())
    outside = outside_support({"los_days": float(los), "n_diagnoses": float(diagnoses)}, support)
    assert ("los_days" in outside) == (los > 14)
    assert ("n_diagnoses" in outside) == (diagnoses < 2 or diagnoses > 15)


def test_a_stay_longer_than_any_training_stay_gets_no_probability(model: ReadmissionModel) -> None:
    longest = model.metadata["feature_support"]["los_days"]["high"]
    long_stay = astrid(length_of_stay_days=int(longest) + 10)
    with pytest.raises(OutsideTrainingData, match="los_days"):
        model.predict(long_stay)
    assert model.try_predict(long_stay) is None
    assert model.try_predict(astrid()) is not None


def test_the_committed_model_refuses_a_norwegian_snapshot_with_one_diagnosis() -> None:
    """The training rows hold 2-9 diagnoses in their central 99 %; one diagnosis is an extrapolation."""
    committed = ReadmissionModel.load(Path(__file__).resolve().parents[2] / "models" / "readmission")
    values = features_from_snapshot(astrid())
    values["n_diagnoses"] = 1.0
    with pytest.raises(OutsideTrainingData, match="n_diagnoses"):
        committed.predict_features(values)


def test_a_model_without_training_support_in_its_metadata_is_refused(trained_dir: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from cds.model.artefact import ArtefactError, write_metadata

    copy = tmp_path / "m"
    shutil.copytree(trained_dir, copy)
    metadata = json.loads((copy / "metadata.json").read_text())
    del metadata["feature_support"]
    write_metadata(copy, metadata)
    with pytest.raises(ArtefactError, match="support"):
        ReadmissionModel.load(copy)
