"""Local validation from a site's own history: a FHIR bulk export in, outcome, predictions and scores out.

Index stays: finished inpatient encounters (class IMP, ACUTE or NONAC) with an
end, of patients aged ``min_age`` or older at discharge, whose 30-day follow-up
lies inside the export (discharge at least 30 days before the latest moment in
the export) and who did not die in the stay. Outcome, as the Norwegian quality
indicator "reinnleggelse av eldre" defines it (national indicator: age >= 67,
acute admission to any hospital 8 hours to 30 days after discharge;
domain/clinical-content.md): another inpatient encounter of the patient that
is acute (emergency priority, admit source or class, as the fact builder reads
``admission_emergent``) and starts more than 8 hours and at most 30 days after
the index discharge.

For each index stay the record is cut to what it held at discharge
(`cds.quality.batch.as_of`), the snapshot is built as the service builds it,
and the model's probability, the LACE and HOSPITAL points (`cds.scores`) and
the model's feature row are kept. `validate_export` then reports AUROC with
DeLong's CI for the model and both published scores on the stays each can
score, the paired difference on the stays all three score, and calibration;
`rows_from_export` gives the feature rows and outcomes for `cds model train
--from-fhir`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cds.model.features import FEATURES, FeatureUnavailable, features_from_snapshot

__all__ = ["IndexStay", "LocalCohort", "read_export", "validate_export"]

INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC"})
#: The indicator's window (domain/clinical-content.md): more than 8 hours, at most 30 days after discharge.
EARLIEST = timedelta(hours=8)
LATEST = timedelta(days=30)
DEFAULT_MIN_AGE = 67


@dataclass(frozen=True)
class IndexStay:
    readmitted: int
    age: int | None
    features: dict[str, float] | None  # None: a feature is unknown
    lace: float | None
    hospital: float | None


@dataclass(frozen=True)
class LocalCohort:
    stays: list[IndexStay]
    export_sha256: str
    skipped: dict[str, int]


def _instant(value: Any) -> datetime | None:
    from cds.quality.kpi_records import (
        parse_instant,  # the batch runs' parsing of FHIR moments
    )

    return parse_instant(value)


def _class(encounter: Mapping[str, Any]) -> str | None:
    cls = encounter.get("class")
    return cls.get("code") if isinstance(cls, Mapping) else None


def _export_digest(files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def read_export(directory: Path, *, min_age: int = DEFAULT_MIN_AGE) -> LocalCohort:
    """Index stays of a FHIR bulk export (NDJSON) with outcome, features and published scores."""
    from cds.bundled import RULES_DIR
    from cds.facts.builder import build_snapshot
    from cds.fhir.resources import ENGINE_RESOURCE_TYPES, ResourceSet
    from cds.quality.batch import as_of
    from cds.quality.export import BulkExport
    from cds.scores import score_all
    from cds.terminology import Terminology

    export = BulkExport(directory)
    terminology = Terminology.load(RULES_DIR / "valuesets")
    patients = list(export.patients())
    latest = max(
        (
            moment
            for _, resources in patients
            for r in resources
            if r.get("resourceType") == "Encounter"
            for moment in (_instant((r.get("period") or {}).get("start")), _instant((r.get("period") or {}).get("end")))
            if moment is not None
        ),
        default=None,
    )
    skipped = {"no_follow_up": 0, "younger": 0, "died": 0}
    stays: list[IndexStay] = []
    for patient_id, resources in patients:
        encounters = [r for r in resources if r.get("resourceType") == "Encounter" and _class(r) in INPATIENT_CLASSES]
        for index in encounters:
            end = _instant((index.get("period") or {}).get("end"))
            if end is None or index.get("status") != "finished":
                continue
            if latest is None or end + LATEST > latest:
                skipped["no_follow_up"] += 1
                continue
            held = ResourceSet.from_json(as_of(resources, end))
            snapshot = build_snapshot(
                held, patient_id=patient_id, encounter_id=str(index.get("id")), now=end,
                terminology=terminology, patient_key="local-validation", searched=ENGINE_RESOURCE_TYPES,
            )
            if snapshot.discharge_destination == "deceased":
                skipped["died"] += 1
                continue
            if snapshot.age is None or snapshot.age < min_age:
                skipped["younger"] += 1
                continue
            scores = score_all(snapshot)
            try:
                features: dict[str, float] | None = features_from_snapshot(snapshot)
            except FeatureUnavailable:
                features = None
            stays.append(
                IndexStay(
                    readmitted=int(_readmitted(resources, index, end, terminology)),
                    age=snapshot.age,
                    features=features,
                    lace=_points(scores, "lace"),
                    hospital=_points(scores, "hospital"),
                )
            )
    return LocalCohort(stays=stays, export_sha256=_export_digest(export.files), skipped=skipped)


def _points(scores: Mapping[str, Any], name: str) -> float | None:
    result = scores.get(name)
    return None if result is None or result.points is None else float(result.points)


def _readmitted(resources: Sequence[Mapping[str, Any]], index: Mapping[str, Any], end: datetime, terminology: Any) -> bool:
    """An acute inpatient encounter starting more than 8 h and at most 30 days after ``end``."""
    from cds.facts.context import BuildContext
    from cds.facts.encounters import emergent
    from cds.fhir.resources import ResourceSet

    for other in resources:
        if other.get("resourceType") != "Encounter" or other.get("id") == index.get("id"):
            continue
        if _class(other) not in INPATIENT_CLASSES:
            continue
        start = _instant((other.get("period") or {}).get("start"))
        if start is None or not (end + EARLIEST < start <= end + LATEST):
            continue
        parsed = ResourceSet.from_json([other])
        ctx = BuildContext(resources=parsed, patient_id="", encounter_id=str(other.get("id")), now=start,
                           terminology=terminology, searched=None)
        if emergent(ctx, ctx.encounter):
            return True
    return False


def feature_frame(cohort: LocalCohort) -> tuple[pd.DataFrame, np.ndarray]:
    """The feature rows (columns `FEATURES`) and outcomes of the stays whose features are all known."""
    known = [s for s in cohort.stays if s.features is not None]
    frame = pd.DataFrame([s.features for s in known], columns=list(FEATURES)).astype(float)
    return frame, np.array([s.readmitted for s in known], dtype=np.int64)


def validate_export(cohort: LocalCohort, model: Any) -> dict[str, Any]:
    """Discrimination, calibration and the comparison with LACE and HOSPITAL on a site's own stays."""
    from cds.model.crossval import calibration
    from cds.model.metrics import auroc_difference_delong, compute_metrics
    from cds.model.support import OutsideTrainingData

    y_all = np.array([s.readmitted for s in cohort.stays], dtype=np.int64)
    probability = np.full(len(cohort.stays), np.nan)
    outside = 0
    for i, stay in enumerate(cohort.stays):
        if stay.features is None:
            continue
        try:
            probability[i] = model.predict_features(stay.features).probability
        except OutsideTrainingData:
            outside += 1
    lace = np.array([np.nan if s.lace is None else s.lace for s in cohort.stays])
    hospital = np.array([np.nan if s.hospital is None else s.hospital for s in cohort.stays])
    report: dict[str, Any] = {
        "stays": len(cohort.stays),
        "events": int(y_all.sum()),
        "skipped": cohort.skipped,
        "model_predictions": int(np.sum(~np.isnan(probability))),
        "model_no_prediction": {
            "feature_unknown": sum(1 for s in cohort.stays if s.features is None),
            "outside_training_data": outside,
        },
        "export_sha256": cohort.export_sha256,
    }
    scorers = {"model": (probability, True), "lace": (lace, False), "hospital": (hospital, False)}
    report["metrics"] = {}
    for name, (score, is_probability) in scorers.items():
        known = ~np.isnan(score)
        report["metrics"][name] = compute_metrics(y_all[known], score[known], probability=is_probability).as_dict()
    every = ~np.isnan(probability) & ~np.isnan(lace) & ~np.isnan(hospital)
    y = y_all[every]
    report["paired_stays"] = int(every.sum())
    report["model_minus"] = {}
    for name, score in (("lace", lace), ("hospital", hospital)):
        if 0 < int(y.sum()) < len(y):
            estimate, low, high = auroc_difference_delong(y, probability[every], score[every])
            report["model_minus"][name] = {"estimate": estimate, "low": low, "high": high}
        else:
            report["model_minus"][name] = None
    has_model = ~np.isnan(probability)
    report["calibration"] = calibration(y_all[has_model], probability[has_model]) if has_model.any() else None
    return report
