"""Shared fixtures: a small synthetic readmission CSV with a real signal, and paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
DEV_DATA = REPO / "data" / "readmission" / "readmission_dev.csv.gz"
COMMITTED_MODEL = REPO / "models" / "readmission"

COLUMNS = [
    "readmitted", "race", "sex", "age", "admission_source", "blood_glucose", "insurer",
    "duration", "n_previous_visits", "n_diagnoses", "n_procedures", "n_medications",
]


def synthetic_frame(n: int, seed: int) -> pd.DataFrame:
    """Rows in the readmission CSV format whose outcome depends on prior visits, LOS and age."""
    rng = np.random.default_rng(seed)
    bands = rng.integers(2, 10, n) * 10
    prior = rng.poisson(0.8, n)
    los = rng.integers(1, 15, n)
    emergency = rng.random(n) < 0.5
    logit = -3.0 + 0.45 * prior + 0.08 * los + 0.02 * (bands - 50) + 0.3 * emergency
    readmitted = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "readmitted": np.where(readmitted, "Yes", "No"),
            "race": rng.choice(["Caucasian", "African American", "Other"], n),
            "sex": rng.choice(["Female", "Male"], n),
            "age": [f"[{b}-{b + 10})" for b in bands],
            "admission_source": np.where(emergency, "Emergency", rng.choice(["Referral", "Other"], n)),
            "blood_glucose": rng.choice(["", "", "", "Normal", "High", "Very High"], n),
            "insurer": rng.choice(["", "Medicare", "Private"], n),
            "duration": los.astype(float),
            "n_previous_visits": prior.astype(float),
            "n_diagnoses": rng.integers(1, 17, n).astype(float),
            "n_procedures": rng.integers(0, 7, n).astype(float),
            "n_medications": rng.integers(1, 40, n).astype(float),
        }
    )[COLUMNS]


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("readmission") / "synthetic.csv"
    synthetic_frame(3000, seed=7).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory: pytest.TempPathFactory, synthetic_csv: Path) -> Path:
    """An artefact trained on the synthetic CSV (shared by the tests that only read it)."""
    from cds.model.artefact import write_artefact
    from cds.model.dataset import read_readmission_csv
    from cds.model.training import train

    out = tmp_path_factory.mktemp("artefact")
    result = train(read_readmission_csv(synthetic_csv), seed=11)
    write_artefact(out, result.estimator, result.metadata, result.training_rows)
    return out
