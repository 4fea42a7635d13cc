"""LACE index (van Walraven 2010): Length of stay, Acuity, Comorbidity, ED visits.

Tables in ``data/lace.yaml``; the comorbidity item uses the Charlson conditions
(Quan 2005 ICD-10 coding) with the LACE weights, summed and then mapped to
0-5 points. Each item is unknown when its data is not in the snapshot.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from cds.facts.snapshot import EventFact, PatientSnapshot, ScoreItem, ScoreResult
from cds.scores._data import load_yaml
from cds.scores.base import bands_from, finish, known, months_before, points_for, points_rows, unknown
from cds.scores.comorbidity import find_categories

__all__ = ["Lace", "count_prior_ed_visits"]


@cache
def _table() -> dict[str, Any]:
    return load_yaml("lace.yaml")


def count_prior_ed_visits(snapshot: PatientSnapshot) -> tuple[int, list[str]] | None:
    """ED visits in the look-back before the admission, not counting the one that led to it.

    None when the visits or the admission start are unknown. Also returns what was used, in words.
    """
    table = _table()
    if snapshot.ed_visits is None or snapshot.encounter_start is None:
        return None
    admitted = snapshot.encounter_start
    since = months_before(admitted, int(table["ed_lookback_months"]))
    window = [
        v
        for v in snapshot.ed_visits
        if since <= v.start < admitted and (v.encounter_id is None or v.encounter_id != snapshot.encounter_id)
    ]
    used = [f"ED visits from {since.date()} to admission {admitted.date()}"]
    index_window = timedelta(hours=float(table["index_ed_visit_window_hours"]))
    leading: list[EventFact] = [v for v in window if admitted - v.start <= index_window]
    if leading:
        index_visit = max(leading, key=lambda v: v.start)
        window = [v for v in window if v is not index_visit]
        used.append(f"not counted: the ED visit at {index_visit.start.isoformat()} that led to this admission")
    return len(window), used


class Lace:
    """LACE index: 0-19 points; bands low 0-4, moderate 5-9, high >= 10."""

    name = "lace"

    def score(self, snapshot: PatientSnapshot) -> ScoreResult:
        table = _table()
        items = [
            self._length_of_stay(snapshot, table),
            self._acuity(snapshot, table),
            self._comorbidity(snapshot, table),
            self._ed_visits(snapshot, table),
        ]
        return finish(self.name, items, bands_from(table["bands"]))

    @staticmethod
    def _length_of_stay(snapshot: PatientSnapshot, table: dict[str, Any]) -> ScoreItem:
        rows = points_rows(table["length_of_stay"])
        top = max(r.points for r in rows)
        days = snapshot.length_of_stay_days
        if days is None or days < 0:
            return unknown("length_of_stay", "length of stay unknown", max_points=top)
        return known("length_of_stay", points_for(days, rows), days, [f"length of stay {days} days"], max_points=top)

    @staticmethod
    def _acuity(snapshot: PatientSnapshot, table: dict[str, Any]) -> ScoreItem:
        pts = float(table["acute_points"])
        if snapshot.admission_emergent is None:
            return unknown("acute_admission", "admission type (emergent or elective) unknown", max_points=pts)
        emergent = snapshot.admission_emergent
        return known(
            "acute_admission",
            pts if emergent else 0.0,
            emergent,
            ["emergent admission" if emergent else "elective admission"],
            max_points=pts,
        )

    @staticmethod
    def _comorbidity(snapshot: PatientSnapshot, table: dict[str, Any]) -> ScoreItem:
        rows = points_rows(table["comorbidity_points"])
        top = max(r.points for r in rows)
        if snapshot.conditions is None:
            return unknown("comorbidity", "diagnoses unknown", max_points=top)
        weights: dict[str, float] = {k: float(v) for k, v in table["comorbidity_weights"].items()}
        findings = find_categories(
            snapshot.conditions,
            now=snapshot.now,
            lookback_months=table["comorbidity_lookback_months"],
            hierarchy=bool(table["comorbidity_hierarchy"]),
        )
        total = 0.0
        used: list[str] = []
        for category in findings.evidence:
            weight = weights.get(category, 0.0)
            codes = "; ".join(findings.used(category))
            if category in findings.superseded:
                used.append(f"{category} 0 (superseded by {findings.superseded[category]}): {codes}")
            else:
                total += weight
                used.append(f"{category} {weight:g}: {codes}")
        if not used:
            used.append("no Charlson condition among the diagnoses")
        return known("comorbidity", points_for(int(total), rows), total, used, max_points=top)

    @staticmethod
    def _ed_visits(snapshot: PatientSnapshot, table: dict[str, Any]) -> ScoreItem:
        rows = points_rows(table["ed_visits"])
        top = max(r.points for r in rows)
        counted = count_prior_ed_visits(snapshot)
        if counted is None:
            why = "ED visits unknown" if snapshot.ed_visits is None else "admission start unknown"
            return unknown("ed_visits", why, max_points=top)
        n, used = counted
        return known("ed_visits", points_for(n, rows), n, [f"{n} ED visits", *used], max_points=top)
