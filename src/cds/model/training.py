"""Training the readmission model: seeded split, candidate models, calibration, held-out metrics.

Procedure (all seeded with ``seed``, default `DEFAULT_SEED`):

1. Stratified split of the rows into train / validation / test = 60 / 20 / 20 %.
2. Fit every candidate of `candidates` on the training rows; keep the one with
   the highest AUROC on the validation rows (ties: the first listed).
3. Calibrate the chosen model on the validation rows with Platt (sigmoid)
   scaling (`CalibratedClassifierCV` around the frozen model): monotone, so it
   keeps the ranking (AUROC), and with two parameters it is stable on ~1,000
   validation events where isotonic regression would give step-shaped risks.
4. Report AUROC (DeLong 95% CI), AUPRC and Brier score on the test rows, never
   seen in 2-3, for the model and the LACE-style and HOSPITAL-style baselines,
   overall and for age 70+.

Rows used in training are train + validation (the calibrator saw the
validation rows); their fingerprints go into the artefact so `evaluate` can
tell which rows of any file the model has met.
"""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass
from typing import Any

import numpy as np
import sklearn
from sklearn.base import ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    SplineTransformer,
    StandardScaler,
)

from cds.model.dataset import ReadmissionData
from cds.model.evaluation import evaluate_rows
from cds.model.features import CATEGORICAL_FEATURES, FEATURES, FeatureConfig
from cds.model.support import SupportConfig, feature_support
from cds.model.threads import one_thread

__all__ = ["DEFAULT_SEED", "SPLIT", "TrainingResult", "candidates", "train"]

DEFAULT_SEED = 2026
#: Fractions of the rows for train / validation / test.
SPLIT: dict[str, float] = {"train": 0.6, "validation": 0.2, "test": 0.2}
MODEL_NAME = "readmission-30d"


def candidates(seed: int) -> dict[str, ClassifierMixin]:
    """The model families tried, by name.

    * ``logistic_splines``: logistic regression on cubic splines (4 knots) of
      age band, LOS, diagnoses, procedures and medications, log(1 + visits) of
      each kind of earlier visit, one-hot HbA1c category, discharge group and
      diagnosis group, sex and emergency admission.
    * ``gradient_boosting``: histogram gradient boosting (the category codes as
      categorical features), risk constrained to rise with the features in
      ``monotonic_increasing`` of ``data/features.yaml``; early stopping on 15%
      of the training rows.
    """
    idx = {name: i for i, name in enumerate(FEATURES)}
    config = FeatureConfig.load()
    splines = [idx[n] for n in ("age_band", "los_days", "n_diagnoses", "n_procedures", "n_medications")]
    visits = [idx[n] for n in ("prior_inpatient", "prior_emergency", "prior_outpatient")]
    codes = [idx[n] for n in ("hba1c", "discharge_group", "diagnosis_group")]
    logistic = Pipeline(
        [
            (
                "encode",
                ColumnTransformer(
                    [
                        ("splines", SplineTransformer(n_knots=4, degree=3, extrapolation="constant"), splines),
                        ("log_prior_visits", FunctionTransformer(np.log1p), visits),
                        ("codes", OneHotEncoder(handle_unknown="ignore"), codes),
                        ("binary", "passthrough", [idx["female"], idx["emergency"]]),
                    ]
                ),
            ),
            ("scale", StandardScaler()),
            ("logistic", LogisticRegression(C=1.0, max_iter=5000)),
        ]
    )
    boosting = HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=300,
        max_leaf_nodes=15,
        min_samples_leaf=100,
        l2_regularization=1.0,
        categorical_features=codes,
        monotonic_cst=[1 if name in config.monotonic_increasing else 0 for name in FEATURES],
        early_stopping=True,
        validation_fraction=0.15,
        random_state=seed,
    )
    return {"logistic_splines": logistic, "gradient_boosting": boosting}


@dataclass(frozen=True)
class TrainingResult:
    estimator: Any
    metadata: dict[str, Any]
    training_rows: np.ndarray
    test: ReadmissionData
    test_probability: np.ndarray


def split_indices(y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Stratified, seeded train/validation/test row indices (sorted)."""
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=SPLIT["test"], stratify=y, random_state=seed)
    val_share = SPLIT["validation"] / (SPLIT["train"] + SPLIT["validation"])
    train, val = train_test_split(rest, test_size=val_share, stratify=y[rest], random_state=seed)
    return {"train": np.sort(train), "validation": np.sort(val), "test": np.sort(test)}


def _references(data: ReadmissionData) -> dict[str, float]:
    """Reference value per feature for contributions: the training median (mode for categories)."""
    refs: dict[str, float] = {}
    for name in FEATURES:
        column = data.features[name]
        refs[name] = float(column.mode().iloc[0]) if name in CATEGORICAL_FEATURES else float(column.median())
    return refs


def training_support(data: ReadmissionData) -> dict[str, Any]:
    """Range and density of every feature on the training rows (the out-of-distribution guard)."""
    config = FeatureConfig.load()
    return feature_support(
        data.features, SupportConfig(config.support_tail_share, config.support_min_value_share), CATEGORICAL_FEATURES
    )


def prediction_fingerprint(probability: np.ndarray) -> str:
    """SHA-256 of the probabilities rounded to 12 decimals: equal models give equal fingerprints."""
    return hashlib.sha256(np.round(probability, 12).astype("<f8").tobytes()).hexdigest()


def train(data: ReadmissionData, *, seed: int = DEFAULT_SEED) -> TrainingResult:
    """Train, select, calibrate and evaluate on held-out rows (see module docstring)."""
    with one_thread():
        return _train(data, seed)


def _train(data: ReadmissionData, seed: int) -> TrainingResult:
    if len(np.unique(data.outcome)) < 2:
        raise ValueError("training needs both readmitted and not readmitted rows")
    parts = split_indices(data.outcome, seed)
    train_rows, val_rows, test_rows = (data.subset(_mask(len(data), parts[k])) for k in ("train", "validation", "test"))
    X_train, X_val = train_rows.features.to_numpy(), val_rows.features.to_numpy()

    validation_auroc: dict[str, float] = {}
    fitted: dict[str, ClassifierMixin] = {}
    for name, estimator in candidates(seed).items():
        model = clone(estimator).fit(X_train, train_rows.outcome)
        fitted[name] = model
        validation_auroc[name] = float(roc_auc_score(val_rows.outcome, model.predict_proba(X_val)[:, 1]))
    chosen = max(validation_auroc, key=lambda n: (validation_auroc[n], -list(validation_auroc).index(n)))

    calibrated = CalibratedClassifierCV(FrozenEstimator(fitted[chosen]), method="sigmoid")
    calibrated.fit(X_val, val_rows.outcome)

    probability = calibrated.predict_proba(test_rows.features.to_numpy())[:, 1]
    held_out = evaluate_rows(test_rows, probability)
    metadata: dict[str, Any] = {
        "name": MODEL_NAME,
        "version": "",  # filled below from the prediction fingerprint
        "features": list(FEATURES),
        "reference_values": _references(train_rows),
        "feature_support": training_support(train_rows),
        "seed": seed,
        "split": {**SPLIT, "stratified_on": "readmitted", "rows": {k: len(v) for k, v in parts.items()}},
        "training_data": {
            "sha256": data.file_sha256,
            "rows": len(data),
            "events": int(data.outcome.sum()),
        },
        "candidates": {"validation_auroc": validation_auroc, "chosen": chosen},
        "calibration": "sigmoid (Platt) on the validation rows",
        "held_out_metrics": held_out,
        "test_prediction_sha256": prediction_fingerprint(probability),
        "versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
    }
    metadata["version"] = f"{MODEL_NAME}-{metadata['test_prediction_sha256'][:12]}"
    used = np.concatenate([train_rows.fingerprints, val_rows.fingerprints])
    return TrainingResult(
        estimator=calibrated, metadata=metadata, training_rows=used, test=test_rows, test_probability=probability
    )


def _mask(n: int, rows: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask
