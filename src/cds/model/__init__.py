"""The learned 30-day readmission model: features, training, evaluation, artefact.

Public API::

    from cds.model import ReadmissionModel
    model = ReadmissionModel.load(Path("models/readmission"))   # once, at start
    prediction = model.try_predict(snapshot)                     # RiskPrediction | None

See ``docs/model.md`` and ``models/readmission/MODEL_CARD.md``.
"""

from cds.model.artefact import ArtefactError
from cds.model.features import FEATURES, FeatureUnavailable, features_from_snapshot
from cds.model.readmission import DEFAULT_MODEL_DIR, ReadmissionModel

__all__ = [
    "DEFAULT_MODEL_DIR",
    "FEATURES",
    "ArtefactError",
    "FeatureUnavailable",
    "ReadmissionModel",
    "features_from_snapshot",
]
