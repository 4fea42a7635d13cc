"""The cohort generator's calibration (``data/cohort.yaml``) and FHIR codings (``data/fhir_codings.yaml``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

__all__ = ["DATA_DIR", "Calibration", "CalibrationError", "load_calibration", "load_codings"]

DATA_DIR = Path(__file__).parent / "data"
_OSLO = ZoneInfo("Europe/Oslo")
_REQUIRED = (
    "window",
    "age_bands",
    "female_share",
    "municipalities",
    "frailty_by_age",
    "cfs_levels",
    "cfs_documented_share",
    "lives_alone",
    "nursing_home_resident",
    "municipal_services_before",
    "chronic_conditions",
    "medications",
    "procedures",
    "follow_up",
    "admissions",
    "length_of_stay",
    "discharge_destination",
    "ready_for_discharge",
    "short_term_stay",
    "admission_reasons",
    "readmission",
    "gp_notification",
    "cga_referral",
    "has_gp_share",
)


class CalibrationError(ValueError):
    """The calibration file is missing, not YAML, or lacks a section."""


def _add_months(day: date, months: int) -> date:
    total = day.month - 1 + months
    return date(day.year + total // 12, total % 12 + 1, 1)


def load_codings(path: Path | None = None) -> dict[str, Any]:
    """The FHIR codings the generator writes and the KPI module reads.

    Extension URLs, encounter classes and priorities are taken from
    `cds.facts.conventions` (the facts layer's single source), the rest from
    ``data/fhir_codings.yaml``.
    """
    from cds.facts import conventions

    path = path or DATA_DIR / "fhir_codings.yaml"
    codings: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    codings["patient"]["municipality_extension"] = conventions.NO_BASIS_MUNICIPALITY
    codings["patient"]["municipality_system"] = conventions.MUNICIPALITY_SYSTEM
    codings["encounter"]["ready_for_discharge_extension"] = conventions.READY_FOR_DISCHARGE
    reading = codings["reading"]
    reading["inpatient_classes"] = sorted(k for k, v in conventions.ENCOUNTER_CLASSES.items() if v == "inpatient")
    reading["emergency_classes"] = sorted(k for k, v in conventions.ENCOUNTER_CLASSES.items() if v == "emergency")
    reading["acute_priorities"] = sorted(conventions.EMERGENT_PRIORITIES)
    reading["acute_admit_sources"] = sorted(conventions.EMERGENCY_ADMIT_SOURCES)
    return codings


@dataclass(frozen=True)
class Calibration:
    """A loaded calibration: the raw mapping plus the derived dates the generator uses."""

    raw: dict[str, Any]
    codings: dict[str, Any]
    digest: str
    source: Path

    @property
    def window_start(self) -> date:
        return date.fromisoformat(str(self.raw["window"]["start"]))

    @property
    def window_end(self) -> date:
        return _add_months(self.window_start, int(self.raw["window"]["months"]))

    @property
    def window_start_dt(self) -> datetime:
        return datetime.combine(self.window_start, time(0, 0), tzinfo=_OSLO)

    @property
    def window_end_dt(self) -> datetime:
        return datetime.combine(self.window_end, time(0, 0), tzinfo=_OSLO)

    @property
    def kpi_start_dt(self) -> datetime:
        """When KPI improvement starts: one year into the window (the baseline year before it)."""
        return datetime.combine(_add_months(self.window_start, 12), time(0, 0), tzinfo=_OSLO)

    @property
    def age_bands(self) -> list[dict[str, Any]]:
        return list(self.raw["age_bands"]["bands"])

    @property
    def municipalities(self) -> list[dict[str, Any]]:
        return list(self.raw["municipalities"]["list"])


def load_calibration(path: Path | None = None) -> Calibration:
    """Load and check a calibration file (default: the bundled ``data/cohort.yaml``)."""
    path = path or DATA_DIR / "cohort.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"cannot read calibration file {path}: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CalibrationError(f"{path}: not valid YAML ({exc.__class__.__name__})") from exc
    if not isinstance(raw, dict):
        raise CalibrationError(f"{path}: expected a mapping of calibration sections")
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise CalibrationError(f"{path}: missing section(s): {', '.join(missing)}")
    for key, section in raw.items():
        if isinstance(section, dict) and "source" not in section and key not in ("window",):
            raise CalibrationError(f"{path}: section '{key}' has no 'source' (seed lines, reference or 'assumption')")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return Calibration(raw=raw, codings=load_codings(), digest=digest, source=path)
