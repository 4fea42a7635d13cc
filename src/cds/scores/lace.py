"""LACE index (van Walraven 2010): Length of stay, Acuity, Comorbidity, ED visits.

Tables in ``data/lace.yaml``; the comorbidity item uses the Charlson conditions
(Quan 2005 ICD-10 coding) with the LACE weights, summed and then mapped to
0-5 points. "E" counts emergency department use: ED encounters and emergency
admissions without an ED encounter of their own, each once. Each item is
unknown when its data is not in the snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from cds.facts.snapshot import EventFact, PatientSnapshot, ScoreItem, ScoreResult
from cds.scores._data import load_yaml
from cds.scores.base import (
    Band,
    PointsRow,
    bands_from,
    finish,
    known,
    months_before,
    points_for,
    points_rows,
    unknown,
)
from cds.scores.comorbidity import snapshot_categories

__all__ = ["Lace", "count_prior_ed_visits"]


@dataclass(frozen=True)
class _Tables:
    """``data/lace.yaml`` in the form the items use, built once."""

    bands: tuple[Band, ...]
    length_of_stay: tuple[PointsRow, ...]
    length_of_stay_top: float
    acute_points: float
    comorbidity_points: tuple[PointsRow, ...]
    comorbidity_top: float
    comorbidity_weights: dict[str, float]
    comorbidity_lookback_months: int | None
    comorbidity_hierarchy: bool
    ed_visits: tuple[PointsRow, ...]
    ed_visits_top: float
    ed_lookback_months: int
    index_ed_visit_window: timedelta


@cache
def _tables() -> _Tables:
    table = load_yaml("lace.yaml")
    length_of_stay = points_rows(table["length_of_stay"])
    comorbidity = points_rows(table["comorbidity_points"])
    ed_visits = points_rows(table["ed_visits"])
    return _Tables(
        bands=bands_from(table["bands"]),
        length_of_stay=length_of_stay,
        length_of_stay_top=max(r.points for r in length_of_stay),
        acute_points=float(table["acute_points"]),
        comorbidity_points=comorbidity,
        comorbidity_top=max(r.points for r in comorbidity),
        comorbidity_weights={k: float(v) for k, v in table["comorbidity_weights"].items()},
        comorbidity_lookback_months=table["comorbidity_lookback_months"],
        comorbidity_hierarchy=bool(table["comorbidity_hierarchy"]),
        ed_visits=ed_visits,
        ed_visits_top=max(r.points for r in ed_visits),
        ed_lookback_months=int(table["ed_lookback_months"]),
        index_ed_visit_window=timedelta(hours=float(table["index_ed_visit_window_hours"])),
    )


def count_prior_ed_visits(snapshot: PatientSnapshot) -> tuple[int, list[str]] | None:
    """Emergency visits in the look-back before the admission, not counting the one that led to it.

    Counted: ED encounters, and emergency admissions that had no ED encounter of
    their own (a Norwegian stay often starts in akuttmottak within the inpatient
    encounter, with the acute admission coded on Encounter.priority or
    hospitalization.admitSource). An emergency admission that an ED visit led
    to (the visit started at most ``index_ed_visit_window_hours`` before it) is
    that visit, counted once. None when the visits or the admission start are
    unknown. Also returns what was used, in words.
    """
    tables = _tables()
    if snapshot.ed_visits is None or snapshot.encounter_start is None:
        return None
    admitted = snapshot.encounter_start
    since = months_before(admitted, tables.ed_lookback_months)
    index_window = tables.index_ed_visit_window

    def in_window(event: EventFact) -> bool:
        return since <= event.start < admitted and (event.encounter_id is None or event.encounter_id != snapshot.encounter_id)

    visits = [v for v in snapshot.ed_visits if in_window(v)]
    used = [f"ED visits from {since.date()} to admission {admitted.date()}"]
    leading: list[EventFact] = [v for v in visits if admitted - v.start <= index_window]
    if leading:
        index_visit = max(leading, key=lambda v: v.start)
        visits = [v for v in visits if v is not index_visit]
        used.append(f"not counted: the ED visit at {index_visit.start.isoformat()} that led to this admission")
    if snapshot.admissions is None:
        used.append("emergency admissions without an ED visit unknown (earlier admissions not in the record)")
        return len(visits), used
    ed_starts = [v.start for v in snapshot.ed_visits]
    direct = [
        a
        for a in snapshot.admissions
        if a.emergency is True
        and in_window(a)
        and not any(timedelta(0) <= a.start - start <= index_window for start in ed_starts)
    ]
    used += [f"emergency admission at {a.start.isoformat()} with no ED visit of its own" for a in direct]
    return len(visits) + len(direct), used


class Lace:
    """LACE index: 0-19 points; bands low 0-4, moderate 5-9, high >= 10."""

    name = "lace"

    def score(self, snapshot: PatientSnapshot) -> ScoreResult:
        tables = _tables()
        items = [
            self._length_of_stay(snapshot, tables),
            self._acuity(snapshot, tables),
            self._comorbidity(snapshot, tables),
            self._ed_visits(snapshot, tables),
        ]
        return finish(self.name, items, tables.bands)

    @staticmethod
    def _length_of_stay(snapshot: PatientSnapshot, tables: _Tables) -> ScoreItem:
        top = tables.length_of_stay_top
        days = snapshot.length_of_stay_days
        if days is None or days < 0:
            return unknown("length_of_stay", "length of stay unknown", max_points=top)
        points = points_for(days, tables.length_of_stay)
        return known("length_of_stay", points, days, [f"length of stay {days} days"], max_points=top)

    @staticmethod
    def _acuity(snapshot: PatientSnapshot, tables: _Tables) -> ScoreItem:
        pts = tables.acute_points
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
    def _comorbidity(snapshot: PatientSnapshot, tables: _Tables) -> ScoreItem:
        top = tables.comorbidity_top
        if snapshot.conditions is None:
            return unknown("comorbidity", "diagnoses unknown", max_points=top)
        weights = tables.comorbidity_weights
        findings = snapshot_categories(
            snapshot, lookback_months=tables.comorbidity_lookback_months, hierarchy=tables.comorbidity_hierarchy
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
        return known("comorbidity", points_for(int(total), tables.comorbidity_points), total, used, max_points=top)

    @staticmethod
    def _ed_visits(snapshot: PatientSnapshot, tables: _Tables) -> ScoreItem:
        top = tables.ed_visits_top
        counted = count_prior_ed_visits(snapshot)
        if counted is None:
            why = "ED visits unknown" if snapshot.ed_visits is None else "admission start unknown"
            return unknown("ed_visits", why, max_points=top)
        n, used = counted
        return known(
            "ed_visits", points_for(n, tables.ed_visits), n, [f"{n} ED visits or emergency admissions", *used], max_points=top
        )
