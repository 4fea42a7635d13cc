"""Shared fixtures: a small synthetic readmission CSV with a real signal, and paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
DEV_DATA = REPO / "data" / "readmission" / "readmission_dev.csv.gz"
COMMITTED_MODEL = REPO / "models" / "readmission"
#: The development rows with the source's further columns: what the committed model is trained on.
DEV_FULL_DATA = REPO / "data" / "readmission" / "readmission_dev_full.csv.gz"

COLUMNS = [
    "readmitted", "race", "sex", "age", "admission_source", "blood_glucose", "insurer",
    "duration", "n_previous_visits", "n_diagnoses", "n_procedures", "n_medications",
    "discharge_disposition_id", "number_outpatient", "number_emergency", "number_inpatient", "diag_1",
]
#: UCI discharge codes and ICD-9-CM primary diagnoses the synthetic rows draw from (home weighs most).
DISCHARGE_IDS = [1, 1, 1, 1, 6, 3, 22, 2, 7, 18]
DIAG_1 = ["428", "414", "786", "486", "250.83", "V57", "38", "820", "599", "715", "491", "E885"]


def synthetic_frame(n: int, seed: int) -> pd.DataFrame:
    """Rows in the readmission CSV format whose outcome depends on prior visits, LOS, age and discharge."""
    rng = np.random.default_rng(seed)
    bands = rng.integers(2, 10, n) * 10
    inpatient = rng.poisson(0.4, n)
    emergency_visits = rng.poisson(0.2, n)
    outpatient = rng.poisson(0.3, n)
    los = rng.integers(1, 15, n)
    emergency = rng.random(n) < 0.5
    discharge = rng.choice(DISCHARGE_IDS, n)
    logit = -3.0 + 0.6 * inpatient + 0.3 * emergency_visits + 0.08 * los + 0.02 * (bands - 50) + 0.3 * emergency
    logit = logit + 0.6 * (discharge == 3)
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
            "n_previous_visits": (inpatient + emergency_visits + outpatient).astype(float),
            "n_diagnoses": rng.integers(1, 17, n).astype(float),
            "n_procedures": rng.integers(0, 7, n).astype(float),
            "n_medications": rng.integers(1, 40, n).astype(float),
            "discharge_disposition_id": discharge,
            "number_outpatient": outpatient,
            "number_emergency": emergency_visits,
            "number_inpatient": inpatient,
            "diag_1": rng.choice(DIAG_1, n),
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
