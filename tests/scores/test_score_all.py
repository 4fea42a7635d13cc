"""score_all: one entry per published score, stored by with_scores; bad data never fails the pipeline."""

from __future__ import annotations

from datetime import datetime, timedelta

from cds.facts.snapshot import EventFact
from cds.scores import SCORES, Score, score_all, with_scores


def test_score_all_has_the_five_published_scores(make) -> None:
    assert list(score_all(make.snapshot())) == ["lace", "hospital", "hospital_simplified", "hfrs", "charlson"]


def test_every_score_implements_the_one_interface() -> None:
    assert all(isinstance(s, Score) for s in SCORES)


def test_with_scores_stores_the_results_in_the_snapshot(make) -> None:
    snapshot = with_scores(make.snapshot(age=80, conditions=(make.dx("F00.1", current=True),)))
    assert snapshot.scores["hfrs"].points == 7.1


def test_empty_snapshot_scores_everything_as_unknown_not_as_zero_risk(make) -> None:
    results = score_all(make.snapshot())
    assert all(r.unknown_items for r in results.values())


def test_inconsistent_dates_give_an_uncomputed_score_not_a_crash(make) -> None:
    naive_visit = EventFact(start=datetime(2026, 11, 1, 12, 0))  # no time zone, unlike the encounter start
    snapshot = make.snapshot(encounter_start=make.now - timedelta(days=2), ed_visits=(naive_visit,))
    lace = score_all(snapshot)["lace"]
    assert lace.points is None and "not computed" in (lace.note or "")
