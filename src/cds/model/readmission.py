"""`ReadmissionModel`: the committed artefact, loaded once, predicting from a snapshot.

Load it once at service start (``ReadmissionModel.load(models/readmission)``);
`predict` is pure and thread-safe (fresh feature arrays; where scikit-learn
runs, its OpenMP code is limited to one thread: see `cds.model.threads`). A
snapshot's rows go through the verified direct path and the row cache of
`cds.model.fastpath` (same probabilities as ``predict_proba``, without
scikit-learn's per-call work, and each distinct row scored once).

Contributions (``RiskPrediction.contributions``): for each feature, the change
in the predicted log-odds when that feature alone is set back to its reference
value (the training median; the most frequent value for sex, emergency
admission and HbA1c category): ``logit p(x) - logit p(x with x_j = ref_j)``.
Positive means the patient's value raises the risk compared with the reference
patient. It is an honest one-at-a-time attribution, not a decomposition: the
contributions do not add up to the prediction when the model is non-linear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cds.facts.snapshot import PatientSnapshot, RiskPrediction
from cds.model.artefact import ArtefactError, load_estimator, load_metadata, load_training_rows
from cds.model.fastpath import ProbabilityFn, RowCache, direct_probability, verified
from cds.model.threads import one_thread
from cds.model.features import FEATURES, FeatureUnavailable, feature_vector, features_from_snapshot

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
        return cls(estimator=load_estimator(directory, metadata), metadata=metadata, directory=directory)

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

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
        """The 30-day readmission probability; raises `FeatureUnavailable` when facts are unknown."""
        values = features_from_snapshot(snapshot)
        return self.predict_features(values)

    def try_predict(self, snapshot: PatientSnapshot) -> RiskPrediction | None:
        """Like `predict`, but None when the snapshot lacks a feature."""
        try:
            return self.predict(snapshot)
        except FeatureUnavailable:
            return None

    def predict_features(self, values: dict[str, float]) -> RiskPrediction:
        row = feature_vector(values)
        references = self.metadata["reference_values"]
        variants = [row]
        for j, name in enumerate(FEATURES):
            changed = row.copy()
            changed[0, j] = float(references[name])
            variants.append(changed)
        probs = self._snapshot_proba(np.vstack(variants))
        base = _logit(probs[0])
        contributions = [(name, round(base - _logit(probs[j + 1]), 6)) for j, name in enumerate(FEATURES)]
        contributions.sort(key=lambda item: (-abs(item[1]), item[0]))
        return RiskPrediction(
            probability=float(probs[0]), model_version=self.version, contributions=tuple(contributions)
        )


def _logit(p: float) -> float:
    p = min(max(float(p), _EPS), 1 - _EPS)
    return math.log(p / (1 - p))
