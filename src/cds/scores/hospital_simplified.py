"""Simplified HOSPITAL score (Aubert 2017), usable at admission.

The HOSPITAL items without "any procedure", with "discharge from oncology"
widened to "cancer diagnosis or discharge from an oncology division"; two risk
groups (likely to be readmitted at >= 5). Admission-time labs work almost as
well as discharge labs, so the lab items use the last value so far in the stay.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cds.facts.snapshot import PatientSnapshot, ScoreItem, ScoreResult
from cds.scores._data import load_yaml
from cds.scores.base import Band, bands_from, finish, known, unknown
from cds.scores.comorbidity import conditions_in_window, find_categories
from cds.scores.hospital import hospital_tables, shared_items

__all__ = ["HospitalSimplified"]


@cache
def _table() -> dict[str, Any]:
    return load_yaml("hospital_simplified.yaml")


@cache
def _bands() -> tuple[Band, ...]:
    return bands_from(_table()["bands"])


def oncology_or_cancer_item(snapshot: PatientSnapshot, table: dict[str, Any]) -> ScoreItem:
    """Points for a cancer diagnosis or a discharge from oncology; unknown only if neither can be shown or ruled out."""
    pts = float(table["oncology_or_cancer_points"])
    name = "oncology_or_cancer"
    if snapshot.oncology_discharge:
        return known(name, pts, True, ["discharged from an oncology service"], max_points=pts)
    cancer: list[str] = []
    if snapshot.conditions is not None:
        conditions = list(snapshot.conditions)
        if table["cancer_exclude_inactive"]:
            conditions = [c for c in conditions if c.in_current_encounter or c.active is not False]
        findings = find_categories(
            conditions_in_window(conditions, now=snapshot.now, start=None),
            now=snapshot.now,
            lookback_months=None,
            hierarchy=False,
        )
        for category in table["cancer_categories"]:
            cancer.extend(f"cancer diagnosis {u}" for u in findings.used(category))
    if cancer:
        return known(name, pts, True, cancer, max_points=pts)
    missing = []
    if snapshot.oncology_discharge is None:
        missing.append("discharging service (oncology or not) unknown")
    if snapshot.conditions is None:
        missing.append("diagnoses unknown")
    if missing:
        return unknown(name, "; ".join(missing), max_points=pts)
    return known(name, 0.0, False, ["no cancer diagnosis and not discharged from oncology"], max_points=pts)


class HospitalSimplified:
    """Simplified HOSPITAL score: 0-12 points; likely to be readmitted (high) at >= 5."""

    name = "hospital_simplified"

    def score(self, snapshot: PatientSnapshot) -> ScoreResult:
        shared = shared_items(snapshot, hospital_tables())
        items = [
            shared.haemoglobin,
            oncology_or_cancer_item(snapshot, _table()),
            shared.sodium,
            shared.admission_type,
            shared.admissions,
            shared.length_of_stay,
        ]
        return finish(self.name, items, _bands())
