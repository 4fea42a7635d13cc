"""The features of the learned readmission model: one definition for CSV rows and snapshots.

The model sees exactly these features, in this order (``FEATURES``):

=====================  ========================================  ==============================================
feature                CSV row (readmission_dev_full)            PatientSnapshot (from FHIR)
=====================  ========================================  ==============================================
``age_band``           lower bound of ``age`` bin ``[70-80)``     ``age`` mapped to the same 10-year bins
``female``             ``sex == Female`` (1/0)                    ``sex`` female/male (other/unknown: missing)
``emergency``          ``admission_source == Emergency``          ``admission_emergent``
``los_days``           ``duration`` (days in hospital)            ``length_of_stay_days``
``prior_inpatient``    ``number_inpatient`` (preceding year)      earlier ``admissions`` within 365 days
``prior_emergency``    ``number_emergency`` (preceding year)      earlier ``ed_visits`` within 365 days
``prior_outpatient``   ``number_outpatient`` (preceding year)     earlier ``outpatient_visits`` within 365 days
``n_diagnoses``        ``n_diagnoses`` (diagnoses entered for     distinct conditions recorded for the current
                       the encounter)                             encounter
``n_procedures``       ``n_procedures`` (procedures other than    procedures in the current encounter
                       lab tests during the encounter)
``n_medications``      ``n_medications`` (distinct medications)   ``active_medication_count`` (distinct active)
``hba1c``              ``blood_glucose`` category code            latest HbA1c of the current encounter,
                       (0 unknown, 1 Normal, 2 High, 3 Very High) categorised with the same thresholds
``discharge_group``    ``discharge_disposition_id`` grouped       ``discharge_destination`` (+ municipal services
                                                                  after discharge, for home)
``diagnosis_group``    ``diag_1`` (ICD-9-CM) -> ICD-10 chapter    ``primary_diagnosis`` (ICD-10) -> chapter
                       -> group                                   -> group
=====================  ========================================  ==============================================

Race and insurer are never features. Thresholds, bins and category codes live in
``data/features.yaml`` and ``data/diagnosis_groups.yaml`` with their sources. A snapshot that lacks a feature the
model needs gives `FeatureUnavailable` (the model is not validated on imputed
inputs); an unmeasured HbA1c is not missing, it is the category *unknown*, as in
the CSV.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cds import bundled
from cds.facts.snapshot import EventFact, LabFact, PatientSnapshot, Sex
from cds.model.diagnoses import diagnosis_group, icd9_chapter, icd10_chapter
from cds.terminology import LabConcept, Terminology

__all__ = [
    "CATEGORICAL_FEATURES",
    "CSV_FEATURE_COLUMNS",
    "FEATURES",
    "FeatureConfig",
    "FeatureUnavailable",
    "features_from_frame",
    "features_from_snapshot",
    "hba1c_category",
]

#: Model features, in the order of the model's input columns.
FEATURES: tuple[str, ...] = (
    "age_band",
    "female",
    "emergency",
    "los_days",
    "prior_inpatient",
    "prior_emergency",
    "prior_outpatient",
    "n_diagnoses",
    "n_procedures",
    "n_medications",
    "hba1c",
    "discharge_group",
    "diagnosis_group",
)

#: Features whose values are codes of categories (not quantities).
CATEGORICAL_FEATURES: frozenset[str] = frozenset({"female", "emergency", "hba1c", "discharge_group", "diagnosis_group"})

#: Columns of the readmission CSV the features are computed from.
CSV_FEATURE_COLUMNS: tuple[str, ...] = (
    "sex",
    "age",
    "admission_source",
    "blood_glucose",
    "duration",
    "number_inpatient",
    "number_emergency",
    "number_outpatient",
    "n_diagnoses",
    "n_procedures",
    "n_medications",
    "discharge_disposition_id",
    "diag_1",
)

#: The bundled lab terminology: the HbA1c unit table (IFCC <-> NGSP) the categories convert with.
LAB_TERMINOLOGY_DIR = bundled.RULES_DIR / "valuesets"
_AGE_BIN = re.compile(r"^\[(\d+)-(\d+)\)$")


class FeatureUnavailable(ValueError):
    """The snapshot lacks facts the model needs; ``missing`` names the features."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = tuple(missing)
        super().__init__("readmission model features unknown: " + ", ".join(missing))


@dataclass(frozen=True)
class FeatureConfig:
    """The parameters of ``data/features.yaml``."""

    age_band_width: int
    age_band_lowest: int
    age_band_highest: int
    hba1c_concepts: tuple[str, ...]
    hba1c_high_from: float
    hba1c_very_high_above: float
    hba1c_lab: LabConcept
    percent_unit: str
    percent_units: frozenset[str]
    ngsp_decimals: int
    hba1c_codes: dict[str, int]
    prior_visits_window_days: int
    csv_emergency_source: str
    monotonic_increasing: tuple[str, ...]
    discharge_codes_by_uci: dict[int, int]
    discharge_codes_by_destination: dict[str, int]
    discharge_home_destination: str
    discharge_home_code: int
    discharge_home_with_services_code: int
    discharge_not_recorded_code: int
    died_uci_ids: frozenset[int]
    support_tail_share: float
    support_min_value_share: float
    contribution_min_log_odds: float

    @classmethod
    @cache
    def load(cls) -> FeatureConfig:
        text = resources.files("cds.model").joinpath("data/features.yaml").read_text(encoding="utf-8")
        raw: dict[str, Any] = yaml.safe_load(text)
        h = raw["hba1c"]
        lab = Terminology.load(LAB_TERMINOLOGY_DIR).lab(str(h["lab_concept"]))
        percent_unit = str(h["percent_unit"])
        percent_units = lab.spellings_of(percent_unit)
        if not percent_units:
            raise ValueError(f"features.yaml: unit {percent_unit!r} is not a unit of {lab.id} in {LAB_TERMINOLOGY_DIR}")
        return cls(
            age_band_width=int(raw["age_bands"]["width_years"]),
            age_band_lowest=int(raw["age_bands"]["lowest"]),
            age_band_highest=int(raw["age_bands"]["highest"]),
            hba1c_concepts=tuple(str(c) for c in h["concepts"]),
            hba1c_high_from=float(h["high_from_percent"]),
            hba1c_very_high_above=float(h["very_high_above_percent"]),
            hba1c_lab=lab,
            percent_unit=percent_unit,
            percent_units=percent_units,
            ngsp_decimals=int(h["ngsp_decimals"]),
            hba1c_codes={str(k): int(v) for k, v in h["categories"].items()},
            prior_visits_window_days=int(raw["prior_visits_window_days"]),
            csv_emergency_source=str(raw["csv_emergency_admission_source"]),
            monotonic_increasing=tuple(str(f) for f in raw.get("monotonic_increasing", [])),
            discharge_codes_by_uci={
                int(uci): int(group["code"])
                for group in (*raw["discharge_groups"].values(), raw["died"])
                for uci in group["uci_ids"]
            },
            discharge_codes_by_destination={
                str(d): int(group["code"])
                for group in (*raw["discharge_groups"].values(), raw["died"])
                for d in group.get("destinations", [])
            },
            discharge_home_destination=str(raw["discharge_home_destination"]),
            discharge_home_code=int(raw["discharge_groups"]["home"]["code"]),
            discharge_home_with_services_code=int(raw["discharge_groups"]["home_with_services"]["code"]),
            discharge_not_recorded_code=int(raw["discharge_groups"]["not_recorded"]["code"]),
            died_uci_ids=frozenset(int(i) for i in raw["died"]["uci_ids"]),
            support_tail_share=float(raw["training_support"]["tail_share"]),
            support_min_value_share=float(raw["training_support"]["min_value_share"]),
            contribution_min_log_odds=float(raw["contribution_min_log_odds"]),
        )

    def age_band(self, age_years: int) -> int:
        band = (age_years // self.age_band_width) * self.age_band_width
        return max(self.age_band_lowest, min(self.age_band_highest, band))


# -- CSV rows -------------------------------------------------------------------


class CsvFormatError(ValueError):
    """A CSV value the feature definition does not know (one line, names the column)."""


def _age_band_from_bin(value: str, config: FeatureConfig) -> int:
    match = _AGE_BIN.match(value.strip())
    if not match:
        raise CsvFormatError(f"column 'age': expected a bin like '[70-80)', got {value!r}")
    return config.age_band(int(match.group(1)))


def features_from_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Compute the feature matrix (columns ``FEATURES``, float) from readmission CSV rows.

    ``frame`` must hold `CSV_FEATURE_COLUMNS` as read with ``keep_default_na=False``
    (empty HbA1c = not measured). Unknown category values raise `CsvFormatError`.
    """
    config = FeatureConfig.load()
    out = pd.DataFrame(index=frame.index)
    out["age_band"] = [_age_band_from_bin(str(v), config) for v in frame["age"]]
    sex = frame["sex"].astype(str).str.strip()
    bad_sex = sorted(set(sex) - {"Female", "Male"})
    if bad_sex:
        raise CsvFormatError(f"column 'sex': unknown values {bad_sex[:3]} (expected Female/Male)")
    out["female"] = (sex == "Female").astype(float)
    out["emergency"] = (frame["admission_source"].astype(str).str.strip() == config.csv_emergency_source).astype(float)
    for feature, column in (
        ("los_days", "duration"),
        ("prior_inpatient", "number_inpatient"),
        ("prior_emergency", "number_emergency"),
        ("prior_outpatient", "number_outpatient"),
        ("n_diagnoses", "n_diagnoses"),
        ("n_procedures", "n_procedures"),
        ("n_medications", "n_medications"),
    ):
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any() or (values < 0).any():
            raise CsvFormatError(f"column {column!r}: expected non-negative numbers in every row")
        out[feature] = values.astype(float)
    disposition = pd.to_numeric(frame["discharge_disposition_id"], errors="coerce")
    unknown = sorted(set(disposition.dropna().astype(int)) - set(config.discharge_codes_by_uci) | ({"?"} if disposition.isna().any() else set()), key=str)
    if unknown:
        raise CsvFormatError(f"column 'discharge_disposition_id': codes not in features.yaml: {unknown[:3]}")
    out["discharge_group"] = disposition.astype(int).map(config.discharge_codes_by_uci).astype(float)
    out["diagnosis_group"] = [float(diagnosis_group(icd9_chapter(str(code)))) for code in frame["diag_1"]]
    glucose = frame["blood_glucose"].astype(str).str.strip().replace({"": "unknown", "NA": "unknown"})
    bad = sorted(set(glucose) - set(config.hba1c_codes))
    if bad:
        raise CsvFormatError(f"column 'blood_glucose': unknown values {bad[:3]}")
    out["hba1c"] = glucose.map(config.hba1c_codes).astype(float)
    return out[list(FEATURES)].astype(float)


# -- snapshots ----------------------------------------------------------------


def hba1c_category(value: float, unit: str | None) -> str:
    """Categorise an HbA1c value given in % (NGSP) or another unit of the lab concept (IFCC mmol/mol).

    The conversion is the lab terminology's unit table for ``lab.hba1c``.
    """
    config = FeatureConfig.load()
    lab = config.hba1c_lab
    canonical = lab.to_canonical(value, unit) if unit is not None else None
    if unit in config.percent_units:
        percent: float | None = value
    elif canonical is not None:
        converted = lab.from_canonical(canonical, config.percent_unit)
        percent = None if converted is None else round(converted, config.ngsp_decimals)
    else:
        percent = None
    if percent is None:
        raise ValueError(f"HbA1c unit {unit!r} not supported (expected a unit of {lab.id}: % or mmol/mol)")
    if percent > config.hba1c_very_high_above:
        return "Very High"
    if percent >= config.hba1c_high_from:
        return "High"
    return "Normal"


def _in_encounter(lab: LabFact, snapshot: PatientSnapshot) -> bool:
    if lab.in_current_encounter:
        return True
    if lab.effective is None or snapshot.encounter_start is None:
        return False
    end = snapshot.encounter_end or snapshot.now
    return _comparable(snapshot.encounter_start) <= _comparable(lab.effective) <= _comparable(end)


def _comparable(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC so aware and naive moments compare."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _snapshot_hba1c(snapshot: PatientSnapshot, config: FeatureConfig) -> int | None:
    """HbA1c category code of the latest HbA1c of the stay; 0 when none was measured.

    None (missing) when the labs are unknown (not searched) or the unit is unusable.
    """
    if snapshot.labs is None:
        return None
    labs = [
        lab
        for lab in snapshot.labs
        if lab.concept in config.hba1c_concepts
        and (lab.value is not None or lab.original_value is not None or lab.text_value)
        and _in_encounter(lab, snapshot)
    ]
    if not labs:
        return config.hba1c_codes["unknown"]
    latest = max(labs, key=lambda lab: _comparable(lab.effective or datetime.min))
    # measured, so never "not measured": a value we cannot categorise makes the feature missing
    if latest.original_value is not None and latest.original_unit in config.percent_units:
        value, unit = latest.original_value, latest.original_unit  # as reported, no round trip through mmol/mol
    elif latest.value is not None:
        value, unit = latest.value, latest.unit
    elif latest.original_value is not None:
        value, unit = latest.original_value, latest.original_unit
    else:
        return None
    try:
        return config.hba1c_codes[hba1c_category(value, unit)]
    except ValueError:
        return None


def _prior_count(events: tuple[EventFact, ...] | None, snapshot: PatientSnapshot, config: FeatureConfig) -> int | None:
    """Distinct earlier visits of one kind starting within the window before the encounter start."""
    if events is None:
        return None
    anchor = _comparable(snapshot.encounter_start or snapshot.now)
    since = anchor - timedelta(days=config.prior_visits_window_days)
    seen: set[tuple[str | None, datetime]] = set()
    for event in events:
        start = _comparable(event.start)
        if since <= start < anchor and event.encounter_id != snapshot.encounter_id:
            seen.add((event.encounter_id, start))
    return len(seen)


def _discharge_group(snapshot: PatientSnapshot, config: FeatureConfig) -> int | None:
    """Group code of the discharge destination; None when it cannot be told (home, services unknown)."""
    destination = snapshot.discharge_destination
    if destination is None:
        return config.discharge_not_recorded_code
    if destination == config.discharge_home_destination:
        after = snapshot.municipal_services_after
        if after is None:
            return None
        return config.discharge_home_with_services_code if after else config.discharge_home_code
    return config.discharge_codes_by_destination.get(destination)


def _n_diagnoses(snapshot: PatientSnapshot) -> int | None:
    if snapshot.conditions is None:
        return None
    keys = {
        tuple(sorted((c.system or "", c.code) for c in condition.codings))
        for condition in snapshot.conditions
        if condition.in_current_encounter
    }
    return len(keys)


def _n_procedures(snapshot: PatientSnapshot) -> int | None:
    if snapshot.procedures is None:
        return None
    return sum(1 for p in snapshot.procedures if p.in_current_encounter)


def _n_medications(snapshot: PatientSnapshot) -> int | None:
    if snapshot.active_medication_count is not None:
        return snapshot.active_medication_count
    if snapshot.medications is None:
        return None
    keys = {tuple(sorted((c.system or "", c.code) for c in m.codings)) or (m.text,) for m in snapshot.medications if m.active}
    return len(keys)


def features_from_snapshot(snapshot: PatientSnapshot) -> dict[str, float]:
    """The model's features for one snapshot, keyed by feature name.

    Raises `FeatureUnavailable` naming every feature the snapshot cannot give.
    """
    config = FeatureConfig.load()
    sex = {Sex.female: 1.0, Sex.male: 0.0}.get(snapshot.sex) if snapshot.sex is not None else None
    values: dict[str, float | None] = {
        "age_band": float(config.age_band(snapshot.age)) if snapshot.age is not None else None,
        "female": sex,
        "emergency": float(snapshot.admission_emergent) if snapshot.admission_emergent is not None else None,
        "los_days": float(snapshot.length_of_stay_days) if snapshot.length_of_stay_days is not None else None,
        "prior_inpatient": _as_float(_prior_count(snapshot.admissions, snapshot, config)),
        "prior_emergency": _as_float(_prior_count(snapshot.ed_visits, snapshot, config)),
        "prior_outpatient": _as_float(_prior_count(snapshot.outpatient_visits, snapshot, config)),
        "n_diagnoses": _as_float(_n_diagnoses(snapshot)),
        "n_procedures": _as_float(_n_procedures(snapshot)),
        "n_medications": _as_float(_n_medications(snapshot)),
        "hba1c": _as_float(_snapshot_hba1c(snapshot, config)),
        "discharge_group": _as_float(_discharge_group(snapshot, config)),
        "diagnosis_group": _as_float(
            None if snapshot.primary_diagnosis is None else diagnosis_group(icd10_chapter(snapshot.primary_diagnosis))
        ),
    }
    missing = [name for name in FEATURES if values[name] is None or math.isnan(values[name])]  # type: ignore[arg-type]
    if missing:
        raise FeatureUnavailable(missing)
    return {name: float(values[name]) for name in FEATURES}  # type: ignore[arg-type]


def _as_float(value: int | None) -> float | None:
    return None if value is None else float(value)


def feature_vector(values: dict[str, float]) -> np.ndarray:
    """One row (shape 1 x len(FEATURES)) in model column order."""
    return np.array([[values[name] for name in FEATURES]], dtype=float)
