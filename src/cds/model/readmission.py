"""`ReadmissionModel`: the committed artefact, loaded once, predicting from a snapshot.

Load it once at service start (``ReadmissionModel.load(models/readmission)``);
`predict` is pure and thread-safe (fresh feature arrays; where scikit-learn
runs, its OpenMP code is limited to one thread: see `cds.model.threads`). A
snapshot's rows go through the verified direct path and the row cache of
`cds.model.fastpath` (same probabilities as ``predict_proba``, without
scikit-learn's per-call work, and each distinct row scored once).

Contributions (``RiskPrediction.contributions``): exact Shapley values on the
log-odds scale against the reference patient (the training median; the most
frequent value for sex, emergency admission and HbA1c category), see
`cds.model.shapley`. They add up to the patient's log-odds minus the reference
patient's. A feature equal to the reference value contributes exactly 0;
contributions smaller than ``contribution_min_log_odds`` of
``data/features.yaml`` are left out, so only features that move the estimate
are named.

Out of distribution (`cds.model.support`): a snapshot with a feature value
where the training data is too thin gets no prediction, like a snapshot that
lacks a feature; `try_predict` gives None for both.

Validation (``RiskPrediction.validated``): True only when the artefact's
metadata records a local validation that a site accepted (``cds model validate
--accept``); the readmission rules show the model's figure only then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cds.facts.snapshot import PatientSnapshot, RiskPrediction
from cds.model.artefact import (
    ArtefactError,
    load_estimator,
    load_metadata,
    load_training_rows,
)
from cds.model.fastpath import ProbabilityFn, RowCache, direct_probability, verified
from cds.model.features import (
    FEATURES,
    FeatureConfig,
    FeatureUnavailable,
    feature_vector,
    features_from_snapshot,
)
from cds.model.shapley import shapley_values
from cds.model.support import OutsideTrainingData, outside_support
from cds.model.threads import one_thread

__all__ = ["DEFAULT_MODEL_DIR", "ReadmissionModel"]

#: The committed artefact, relative to the repository root.
DEFAULT_MODEL_DIR = Path("models/readmission")
_EPS = 1e-9


@dataclass(frozen=True)
class ReadmissionModel:
    """A verified, loaded readmission model and its metadata."""

    estimator: Any
    metadata: dict[str, Any]
    directory: Path
    _rows: RowCache = field(default_factory=RowCache, init=False, repr=False, compare=False)
    _row_proba: ProbabilityFn = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        direct = direct_probability(self.estimator)
        generic = self._generic_proba
        usable = direct is not None and verified(direct, generic, self._probe_rows())
        object.__setattr__(self, "_row_proba", direct if usable else generic)

    @classmethod
    def load(cls, directory: Path) -> ReadmissionModel:
        """Load from an artefact directory; raises `ArtefactError` on a checksum mismatch or untrusted types."""
        directory = Path(directory)
        metadata = load_metadata(directory)
        if list(metadata.get("features", [])) != list(FEATURES):
            raise ArtefactError(f"{directory}: model features {metadata.get('features')} differ from this code's")
        support = metadata.get("feature_support", {})
        if not set(FEATURES) <= set(support):
            raise ArtefactError(f"{directory}: metadata has no training support for every feature (retrain the model)")
        return cls(estimator=load_estimator(directory, metadata), metadata=metadata, directory=directory)

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @property
    def validated(self) -> bool:
        """A site accepted a local validation of this artefact (``validation.accepted`` in the metadata)."""
        return bool(self.metadata.get("validation", {}).get("accepted", False))

    def training_rows(self) -> np.ndarray:
        """Fingerprints of the rows the model was trained (and calibrated) on."""
        return load_training_rows(self.directory, self.metadata)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for a feature matrix in `FEATURES` column order."""
        return self._generic_proba(np.asarray(X, dtype=float))

    def _generic_proba(self, X: np.ndarray) -> np.ndarray:
        """scikit-learn's own ``predict_proba``, its OpenMP code on one thread."""
        with one_thread():
            return np.asarray(self.estimator.predict_proba(X)[:, 1], dtype=float)

    def _snapshot_proba(self, X: np.ndarray) -> np.ndarray:
        """`predict_proba` for the rows of one prediction: direct path when verified, each row scored once."""

        return self._rows.probabilities(X, self._row_proba)

    def clear_cache(self) -> None:
        """Forget the cached row probabilities (benchmarks measure the uncached cost)."""
        self._rows.clear()

    def _probe_rows(self) -> np.ndarray:
        """The reference patient and, per feature, that patient with the feature at 0 and at 1, 3 and 30."""
        reference = np.array([[float(self.metadata.get("reference_values", {}).get(n, 0.0)) for n in FEATURES]])
        rows = [reference]
        for j in range(len(FEATURES)):
            for value in (0.0, 1.0, 3.0, 30.0):
                changed = reference.copy()
                changed[0, j] = value
                rows.append(changed)
        return np.vstack(rows)

    def predict(self, snapshot: PatientSnapshot) -> RiskPrediction:
        """The 30-day readmission probability.

        Raises `FeatureUnavailable` when facts are unknown and `OutsideTrainingData`
        when a value lies where the training data is too thin.
        """
        values = features_from_snapshot(snapshot)
        return self.predict_features(values)

    def try_predict(self, snapshot: PatientSnapshot) -> RiskPrediction | None:
        """Like `predict`, but None when a feature is unknown or outside the training data."""
        try:
            return self.predict(snapshot)
        except (FeatureUnavailable, OutsideTrainingData):
            return None

    def predict_features(self, values: dict[str, float]) -> RiskPrediction:
        outside = outside_support(values, self.metadata["feature_support"])
        if outside:
            raise OutsideTrainingData(outside)
        row = feature_vector(values)
        probability = float(self._snapshot_proba(row)[0])
        reference = np.array([float(self.metadata["reference_values"][name]) for name in FEATURES])
        phi = shapley_values(row[0], reference, self._log_odds)
        smallest = FeatureConfig.load().contribution_min_log_odds
        contributions = [(name, round(float(value), 6)) for name, value in zip(FEATURES, phi, strict=True)]
        shown = [(name, value) for name, value in contributions if abs(value) >= smallest]
        shown.sort(key=lambda item: (-abs(item[1]), item[0]))
        return RiskPrediction(
            probability=probability,
            model_version=self.version,
            contributions=tuple(shown),
            validated=self.validated,
        )

    def _log_odds(self, X: np.ndarray) -> np.ndarray:
        """Log-odds of the calibrated probability of every row (the coalition rows of the Shapley values)."""
        p = np.clip(self._row_proba(X), _EPS, 1 - _EPS)
        return np.asarray(np.log(p / (1 - p)), dtype=float)


def _logit(p: float) -> float:
    p = min(max(float(p), _EPS), 1 - _EPS)
    return math.log(p / (1 - p))
