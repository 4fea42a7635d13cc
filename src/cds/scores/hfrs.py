"""Hospital Frailty Risk Score (Gilbert 2018).

Each of the 109 ICD-10 three-character categories in ``data/hfrs.csv`` counts
once with its weight when a diagnosis of the current stay or of the
``lookback_months`` (24) before the admission carries a code in it; an earlier
diagnosis that is still active counts too (``count_active_problems``). The score
is validated for people aged 75 and older; for younger patients (or unknown
age) it is still computed but marked not applicable.

Norwegian records: the UK-only code U80 is kept in the table (so UK-coded data
score as published) but has no Norwegian equivalent and is not mapped from any
other code, so a Norwegian record can reach at most 173.2 - 0.8 = 172.4.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cds.facts.snapshot import PatientSnapshot, ScoreItem, ScoreResult
from cds.scores._data import load_csv, load_yaml
from cds.scores.base import Band, bands_from, finish, known, months_before, unknown
from cds.scores.comorbidity import diagnoses
from cds.scores.icd10 import CodeMatch, PrefixCodeList, describe

__all__ = ["Hfrs", "hfrs_weights"]


@cache
def _params() -> dict[str, Any]:
    return load_yaml("hfrs.yaml")


@cache
def hfrs_weights() -> dict[str, float]:
    """Category (three-character ICD-10 code) -> weight, in table order."""
    return {row["code"]: float(row["weight"]) for row in load_csv("hfrs.csv")}


@cache
def _code_list() -> PrefixCodeList:
    return PrefixCodeList((code, code) for code in hfrs_weights())


@cache
def _bands() -> tuple[Band, ...]:
    return bands_from(_params()["bands"])


class Hfrs:
    """HFRS: bands low < 5, intermediate 5-15, high > 15; applicable from age 75."""

    name = "hfrs"

    def score(self, snapshot: PatientSnapshot) -> ScoreResult:
        params = _params()
        min_age = int(params["min_age"])
        applicable = snapshot.age is not None and snapshot.age >= min_age
        note = None
        if snapshot.age is None:
            note = f"age unknown; the HFRS is validated for people aged {min_age} and older"
        elif not applicable:
            note = f"age {snapshot.age}: the HFRS is validated for people aged {min_age} and older"
        weights = hfrs_weights()
        bands = _bands()
        if snapshot.conditions is None:
            item = unknown("diagnoses", "diagnoses unknown", max_points=round(sum(weights.values()), 1))
            return finish(self.name, [item], bands, applicable=applicable, note=note, ndigits=1)
        reference = snapshot.encounter_start or snapshot.now
        since = months_before(reference, int(params["lookback_months"]))
        recorded = diagnoses(snapshot.conditions)
        window = recorded.window(now=snapshot.now, start=since, include_active=bool(params["count_active_problems"]))
        found: dict[str, list[CodeMatch]] = {}
        for match in recorded.matches(_code_list(), window):
            found.setdefault(match.category, []).append(match)
        items: list[ScoreItem] = []
        for category in sorted(found, key=_table_order().__getitem__):  # table order
            used = sorted({describe(m.coding) for m in found[category]})
            items.append(known(category, weights[category], category, used, max_points=weights[category]))
        window_note = f"diagnoses of this stay, from {since.date()}"
        if params["count_active_problems"]:
            window_note += " and still-active earlier diagnoses"
        note = f"{note}; {window_note}" if note else window_note
        return finish(self.name, items, bands, applicable=applicable, note=note, ndigits=1)


@cache
def _table_order() -> dict[str, int]:
    """Category -> its row in ``data/hfrs.csv`` (items are listed in table order)."""
    return {category: i for i, category in enumerate(hfrs_weights())}
