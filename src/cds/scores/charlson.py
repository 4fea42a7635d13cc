"""Charlson comorbidity index: Quan 2005 ICD-10 coding with Quan 2011 weights.

One item per Charlson condition (``data/charlson.yaml``): its weight when a
diagnosis in the look-back carries a code from its list
(``data/charlson_quan2005_icd10.csv``), 0 otherwise. The milder form of a
condition is not counted when its severe form is present (hierarchy in the
data file). No risk bands are published for these weights, so the result has
no band. All items are unknown when the diagnoses are unknown.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cds.facts.snapshot import PatientSnapshot, ScoreItem, ScoreResult
from cds.scores._data import load_yaml
from cds.scores.base import bands_from, finish, known, unknown
from cds.scores.comorbidity import find_categories

__all__ = ["Charlson"]


@cache
def _table() -> dict[str, Any]:
    return load_yaml("charlson.yaml")


class Charlson:
    """Charlson comorbidity index (Quan 2011 weights, 0-24)."""

    name = "charlson"

    def score(self, snapshot: PatientSnapshot) -> ScoreResult:
        table = _table()
        categories: dict[str, dict[str, Any]] = table["categories"]
        bands = bands_from(table["bands"])
        if snapshot.conditions is None:
            items = [
                unknown(key, "diagnoses unknown", max_points=float(c["weight"])) for key, c in categories.items()
            ]
            return finish(self.name, items, bands)
        findings = find_categories(
            snapshot.conditions, now=snapshot.now, lookback_months=table["lookback_months"], hierarchy=True
        )
        items: list[ScoreItem] = []
        for key, category in categories.items():
            weight = float(category["weight"])
            if key not in findings.evidence:
                items.append(known(key, 0.0, False, [f"no {category['en'].lower()} code"], max_points=weight))
            elif key in findings.superseded:
                severe = findings.superseded[key]
                used = [f"superseded by {severe}", *findings.used(key)]
                items.append(known(key, 0.0, True, used, max_points=weight))
            else:
                items.append(known(key, weight, True, findings.used(key), max_points=weight))
        lookback = table["lookback_months"]
        note = "whole record" if lookback is None else f"diagnoses of the last {lookback} months"
        return finish(self.name, items, bands, note=note)
