"""Published scores computed from the patient snapshot.

Every score implements `Score` (``name`` and ``score(snapshot) -> ScoreResult``);
`score_all` runs them all and `with_scores` returns the snapshot with
``scores`` filled in. `interpret_cfs` interprets a Clinical Frailty Scale level.
Tables and their sources live in ``src/cds/scores/data/``; see docs/scores.md.
"""

from __future__ import annotations

import logging
from typing import Any

from cds.facts.snapshot import PatientSnapshot, ScoreResult
from cds.scores.base import Score
from cds.scores.cfs import CfsInterpretation, interpret_cfs
from cds.scores.charlson import Charlson
from cds.scores.hfrs import Hfrs
from cds.scores.hospital import Hospital
from cds.scores.hospital_simplified import HospitalSimplified
from cds.scores.lace import Lace

__all__ = [
    "SCORES",
    "CfsInterpretation",
    "Charlson",
    "Hfrs",
    "Hospital",
    "HospitalSimplified",
    "Lace",
    "Score",
    "interpret_cfs",
    "score_all",
    "with_scores",
]

_log = logging.getLogger(__name__)

#: Every published score, in report order; keys of `score_all`.
SCORES: tuple[Score, ...] = (Lace(), Hospital(), HospitalSimplified(), Hfrs(), Charlson())


def score_all(snapshot: PatientSnapshot, terminology: Any = None) -> dict[str, ScoreResult]:
    """Every score by name: 'lace', 'hospital', 'hospital_simplified', 'hfrs', 'charlson'.

    ``terminology`` is accepted for the architecture contract; the score code lists are the
    published ones in ``data/`` and are not site-configurable.
    """
    del terminology
    return {s.name: _safe_score(s, snapshot) for s in SCORES}


def _safe_score(score: Score, snapshot: PatientSnapshot) -> ScoreResult:
    """One score; inconsistent input data (e.g. mixed naive and aware dates) gives an uncomputed
    result (points None) instead of failing the whole evaluation."""
    try:
        return score.score(snapshot)
    except (TypeError, ValueError, ArithmeticError) as exc:
        _log.warning("score %s not computed: %s", score.name, type(exc).__name__)
        return ScoreResult(name=score.name, points=None, note=f"not computed: inconsistent input ({type(exc).__name__})")


def with_scores(snapshot: PatientSnapshot, terminology: Any = None) -> PatientSnapshot:
    """The snapshot with ``scores`` set to `score_all`."""
    return snapshot.model_copy(update={"scores": score_all(snapshot, terminology)})
