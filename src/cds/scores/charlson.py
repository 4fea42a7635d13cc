"""Charlson comorbidity index: Quan 2005 ICD-10 coding with Quan 2011 weights.

One item per Charlson condition (``data/charlson.yaml``): its weight when a
diagnosis in the look-back carries a code from its list
(``data/charlson_quan2005_icd10.csv``), 0 otherwise. The milder form of a
condition is not counted when its severe form is present (hierarchy in the
data file). No risk bands are published for these weights, so the result has
no band. All items are unknown when the diagnoses are unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from cds.facts.snapshot import PatientSnapshot, ScoreItem, ScoreResult
from cds.scores._data import load_yaml
from cds.scores.base import Band, bands_from, finish, known, unknown
from cds.scores.comorbidity import snapshot_categories

__all__ = ["Charlson"]


@dataclass(frozen=True)
class _Tables:
    """``data/charlson.yaml`` in the form the score uses, built once.

    The item of a category without any code is the same for every patient,
    so it is made once here, as are the items of unknown diagnoses.
    """

    categories: dict[str, dict[str, Any]]
    weights: dict[str, float]
    bands: tuple[Band, ...]
    lookback_months: int | None
    note: str
    absent: dict[str, ScoreItem]  # category -> its item when no diagnosis has a code of it
    all_unknown: tuple[ScoreItem, ...]


@cache
def _tables() -> _Tables:
    table = load_yaml("charlson.yaml")
    categories: dict[str, dict[str, Any]] = table["categories"]
    weights = {key: float(c["weight"]) for key, c in categories.items()}
    lookback = table["lookback_months"]
    return _Tables(
        categories=categories,
        weights=weights,
        bands=bands_from(table["bands"]),
        lookback_months=lookback,
        note="whole record" if lookback is None else f"diagnoses of the last {lookback} months",
        absent={
            key: known(key, 0.0, False, [f"no {c['en'].lower()} code"], max_points=weights[key])
            for key, c in categories.items()
        },
        all_unknown=tuple(unknown(key, "diagnoses unknown", max_points=weights[key]) for key in categories),
    )


class Charlson:
    """Charlson comorbidity index (Quan 2011 weights, 0-24)."""

    name = "charlson"

    def score(self, snapshot: PatientSnapshot) -> ScoreResult:
        tables = _tables()
        if snapshot.conditions is None:
            return finish(self.name, tables.all_unknown, tables.bands)
        findings = snapshot_categories(snapshot, lookback_months=tables.lookback_months, hierarchy=True)
        items: list[ScoreItem] = []
        for key, weight in tables.weights.items():
            if key not in findings.evidence:
                items.append(tables.absent[key])
            elif key in findings.superseded:
                severe = findings.superseded[key]
                used = [f"superseded by {severe}", *findings.used(key)]
                items.append(known(key, 0.0, True, used, max_points=weight))
            else:
                items.append(known(key, weight, True, findings.used(key), max_points=weight))
        return finish(self.name, items, tables.bands, note=tables.note)
