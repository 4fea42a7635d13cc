"""Clinical safety properties over 2,000 generated patients at every hook (issue #12; docs/clinical-safety.md).

The patients are the calibrated cohort (`cds.quality.cohort`) with the safety
variants of `cds.quality.safety_cohort` (deceased, stale CFS, CFS 8/9,
palliative care, metastatic cancer, an accepted CGA referral, an emergency
department contact at any age), each through the
whole pipeline (FHIR -> snapshot -> scores -> rules -> cards) as the service
runs it. They are generated and evaluated once per module; every property
below reads the same evaluations, and checks that its situation occurred often
enough to mean something.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cds.evaluation import EvaluationCall, Evaluator
from cds.fhir.resources import ResourceSet
from cds.quality.batch import choose_moment, service_for_hook
from cds.quality.calibration import load_calibration
from cds.quality.safety_cohort import CGA_CODING, SafetyCase, safety_case

REPO = Path(__file__).resolve().parents[2]
PATIENTS = int(__import__("os").environ.get("CDS_SAFETY_PATIENTS", "2000"))
SEED = 1212
HOOKS = ("patient-view", "encounter-start", "encounter-discharge")


@dataclass(frozen=True)
class Seen:
    """One patient at one hook: the generator's ground truth and what the pipeline produced."""

    case: SafetyCase
    hook: str
    snapshot: Any
    rule_ids: tuple[str, ...]
    cards: list[dict[str, Any]]
    ed: bool = False  # evaluated in the ``ed_contact`` variant's emergency department contact

    @property
    def alive(self) -> bool:
        """Not recorded as deceased: neither by the safety variant nor by the cohort's own 'died in hospital' stays."""
        return "deceased" not in self.case.variants and self.snapshot.deceased is not True


def _parse(resources: list[dict[str, Any]]) -> ResourceSet:
    parsed = ResourceSet.from_json(resources, cache=False)
    # the whole record was generated: a type with no resource has none (not "not fetched")
    parsed.searched.update({r["resourceType"] for r in resources} | {"ServiceRequest", "Procedure", "Condition"})
    return parsed


def _evaluate(
    evaluator: Evaluator,
    parsed: ResourceSet,
    resources: list[dict[str, Any]],
    pid: str,
    hook: str,
    at: tuple[str, datetime] | None = None,
) -> Any:
    """Evaluate at the latest inpatient stay (`choose_moment`), or in the ED contact ``at`` (id, start) + 30 min."""
    encounter_id, now = (at[0], at[1] + timedelta(minutes=30)) if at else choose_moment(resources, hook, None)
    if now is None:
        return None
    call = EvaluationCall(
        service_id=service_for_hook(hook),
        hook=hook,
        patient_id=pid,
        encounter_id=encounter_id,
        user_id=None,
        now=now,
        resources=parsed,
    )
    return evaluator.evaluate(call)


def _decisions(evaluator: Evaluator, hook: str, snapshot: Any) -> tuple[str, ...]:
    """The rules that fire for ``snapshot`` at ``hook`` (rules only: for counterfactual snapshots)."""
    return tuple(sorted(f.rule_id for f in evaluator.rules.current().evaluate(hook, snapshot)))


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return Evaluator.from_paths(rules_dir=REPO / "rules", model_dir=None, pseudonym_key=b"safety-properties-key-000000000")


@pytest.fixture(scope="module")
def seen(evaluator: Evaluator) -> list[Seen]:
    calibration = load_calibration()
    out: list[Seen] = []
    for index in range(PATIENTS):
        case = safety_case(index, SEED, calibration)
        parsed = _parse(case.resources)
        for hook in HOOKS:
            evaluation = _evaluate(evaluator, parsed, case.resources, case.patient_id, hook)
            if evaluation is None:
                continue
            rule_ids = tuple(sorted(f.rule_id for f in evaluation.findings))
            out.append(Seen(case, hook, evaluation.snapshot, rule_ids, evaluation.cards))
        if case.ed_contact is not None:
            evaluation = _evaluate(evaluator, parsed, case.resources, case.patient_id, "encounter-start", case.ed_contact)
            rule_ids = tuple(sorted(f.rule_id for f in evaluation.findings))
            out.append(Seen(case, "encounter-start", evaluation.snapshot, rule_ids, evaluation.cards, ed=True))
    return out


def _texts(card: dict[str, Any]) -> str:
    return f"{card['summary']}\n{card.get('detail') or ''}"


def _rule_of(card: dict[str, Any]) -> str | None:
    provenance = next(iter(card.get("extension", {}).values()), {})
    return provenance.get("ruleId")


def _cga_suggestions(cards: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for card in cards:
        for suggestion in card.get("suggestions", []):
            for action in suggestion.get("actions", []):
                resource = action.get("resource") or {}
                codings = (resource.get("code") or {}).get("coding", [])
                if any(c.get("system") == CGA_CODING["system"] and c.get("code") == "cga" for c in codings):
                    yield suggestion


def test_the_cohort_covers_every_patient_and_hook(seen: list[Seen]) -> None:
    assert len({s.case.index for s in seen}) >= PATIENTS * 0.95
    assert {s.hook for s in seen} == set(HOOKS)


# -- HAZ-01: a deceased patient gets no card ---------------------------------------------------------


def test_a_deceased_patient_gets_no_card_at_any_hook(seen: list[Seen]) -> None:
    deceased = [s for s in seen if not s.alive]
    assert len(deceased) >= PATIENTS // 8
    assert all(s.snapshot.deceased is True for s in deceased)  # the generator's truth reaches the facts
    assert [(s.case.index, s.hook, s.rule_ids) for s in deceased if s.cards] == []


def test_patients_not_recorded_as_deceased_still_get_cards(seen: list[Seen]) -> None:
    """`deceased` absent (unknown, or False) blocks nothing: the guard is not a blanket silence."""
    living = [s for s in seen if s.alive]
    assert sum(1 for s in living if s.cards) >= len(living) // 2


# -- HAZ-03: end of life: no CGA or rehabilitation suggestion -------------------------------------------


def _end_of_life(s: Seen) -> bool:
    snap = s.snapshot
    score = snap.cfs.score if snap.cfs is not None else None
    return score == 9 or (score == 8 and snap.end_of_life_signs is True) or snap.palliative_care is True


def test_no_cga_or_rehabilitation_suggestion_at_the_end_of_life(seen: list[Seen]) -> None:
    at_end = [s for s in seen if s.alive and _end_of_life(s)]
    assert len(at_end) >= PATIENTS // 8
    assert sum(1 for s in at_end if "palliative" in s.case.variants and s.snapshot.cfs is not None) >= PATIENTS // 40
    offending = [
        (s.case.index, s.hook, s.rule_ids)
        for s in at_end
        if "cga-referral" in s.rule_ids
        or list(_cga_suggestions(s.cards))
        or any("rehabiliter" in _texts(c).lower() for c in s.cards if _rule_of(c) != "end-of-life")
    ]
    assert offending == []


def test_palliative_care_coded_is_recognised_as_end_of_life_at_every_hook(seen: list[Seen]) -> None:
    palliative = [s for s in seen if s.alive and "palliative" in s.case.variants]
    assert len(palliative) >= PATIENTS // 8
    assert [(s.case.index, s.hook) for s in palliative if "end-of-life" not in s.rule_ids] == []


def test_cfs_8_with_unknown_signs_never_gets_cga_and_is_asked_to_clarify(seen: list[Seen]) -> None:
    unclear = [
        s
        for s in seen
        if s.alive and s.snapshot.cfs is not None and s.snapshot.cfs.score == 8 and s.snapshot.end_of_life_signs is None
    ]
    assert len(unclear) >= PATIENTS // 80
    assert [(s.case.index, s.hook) for s in unclear if "cga-referral" in s.rule_ids] == []
    for s in unclear:
        (card,) = [c for c in s.cards if _rule_of(c) == "end-of-life"]
        assert "avklar om livets slutt nærmer seg" in card["summary"]


# -- HAZ-02: a CFS outside its validity window decides nothing ----------------------------------------


def test_a_stale_cfs_gives_the_same_decisions_as_no_cfs(seen: list[Seen], evaluator: Evaluator) -> None:
    stale = [s for s in seen if s.alive and not s.ed and s.case.variants & {"stale_cfs", "stale_cfs_9"}]
    assert len(stale) >= PATIENTS // 4
    assert sum(1 for s in stale if "stale_cfs_9" in s.case.variants) >= PATIENTS // 80
    differ = []
    for s in stale:
        assert s.snapshot.cfs is None and s.snapshot.cfs_latest is not None
        # the same patient with the CFS removed: no history, no age either
        without = s.snapshot.model_copy(update={"cfs": None, "cfs_latest": None, "cfs_age_days": None})
        rule_ids = _decisions(evaluator, s.hook, without)
        if rule_ids != s.rule_ids:
            differ.append((s.case.index, s.hook, s.rule_ids, rule_ids))
    assert differ == []


def test_the_screening_card_names_a_stale_score_and_its_date(seen: list[Seen]) -> None:
    screened = [
        s
        for s in seen
        if not s.ed and s.case.variants & {"stale_cfs", "stale_cfs_9"} and "cfs-screening-due" in s.rule_ids
    ]
    assert len(screened) >= PATIENTS // 20
    for s in screened:
        (card,) = [c for c in s.cards if _rule_of(c) == "cfs-screening-due"]
        latest = s.snapshot.cfs_latest
        day = latest.baseline_date
        assert f"Siste CFS: {latest.score}" in card["detail"]
        assert f"{day.day:02d}.{day.month:02d}.{day.year}" in card["detail"]


# -- HAZ-04: an accepted CGA referral is not suggested again --------------------------------------------


def test_an_accepted_or_earlier_cga_referral_stops_the_cga_card(seen: list[Seen], evaluator: Evaluator) -> None:
    referred = [s for s in seen if s.alive and "cga_accepted" in s.case.variants]
    assert [(s.case.index, s.hook) for s in referred if "cga-referral" in s.rule_ids] == []
    would_fire = sum(
        "cga-referral" in _decisions(evaluator, s.hook, s.snapshot.model_copy(update={"last_cga": None}))
        for s in referred
    )
    assert would_fire >= PATIENTS // 100  # the referral, not something else, is what stops the card


# -- HAZ-05: geriatric selection only where the CFS is valid ---------------------------------------------


def test_geriatric_selection_needs_a_current_cfs_and_age_65_or_more(seen: list[Seen]) -> None:
    ed = [s for s in seen if s.ed and s.alive and s.snapshot.home_dwelling is True and s.snapshot.cfs is not None]
    assert sum(1 for s in ed if s.snapshot.age is not None and s.snapshot.age < 65) >= PATIENTS // 100
    selected = [s for s in seen if "geriatric-selection" in s.rule_ids]
    assert len(selected) >= PATIENTS // 40
    assert [
        (s.case.index, s.snapshot.age)
        for s in selected
        if s.snapshot.age is None or s.snapshot.age < 65 or s.snapshot.cfs is None
    ] == []
