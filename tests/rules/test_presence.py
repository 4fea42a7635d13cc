"""`known: true` / `unknown: true` work on every fact: dates, datetimes, lists and groups too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cds.facts.snapshot import CfsFact, PatientSnapshot
from cds.rules import RuleSet

RULE = """
id: presence
version: "1.0"
title: {{nb: Til stede, en: Present}}
hooks: [encounter-discharge]
when: {{fact: {fact}, {test}: true}}
derive:
  flagged: {{type: bool, value: true, description: the presence test held}}
source: {{paper: test}}
"""


def _flagged(make_rules: Callable[..., Path], fact: str, test: str, snap: PatientSnapshot) -> bool:
    ruleset = RuleSet.load(make_rules({"p.yaml": RULE.format(fact=fact, test=test)}))
    engine = ruleset.run("encounter-discharge", snap).derived.get("flagged")
    python = ruleset.evaluate_python("encounter-discharge", snap).derived.get("flagged")
    assert engine == python
    return engine is True


def test_reidar_without_a_medication_review_on_record_matches_unknown_on_a_date_fact(make_rules, patient) -> None:  # type: ignore[no-untyped-def]
    assert _flagged(make_rules, "last_medication_review", "unknown", patient())
    assert not _flagged(make_rules, "last_medication_review", "unknown", patient(last_medication_review=date(2024, 6, 1)))


def test_a_sent_early_notice_matches_known_on_a_datetime_fact(make_rules, patient) -> None:  # type: ignore[no-untyped-def]
    sent = datetime(2025, 1, 14, 9, 0, tzinfo=UTC)
    assert _flagged(make_rules, "early_notice_sent", "known", patient(early_notice_sent=sent))
    assert not _flagged(make_rules, "early_notice_sent", "known", patient())


def test_an_empty_service_list_is_known_and_a_missing_one_is_not(make_rules, patient) -> None:  # type: ignore[no-untyped-def]
    assert _flagged(make_rules, "municipal_services_before", "known", patient(municipal_services_before=()))
    assert not _flagged(make_rules, "municipal_services_before", "known", patient())


def test_a_group_of_facts_can_be_tested_for_presence(make_rules, patient) -> None:  # type: ignore[no-untyped-def]
    assert _flagged(make_rules, "cfs", "known", patient(cfs=CfsFact(score=5)))
    assert _flagged(make_rules, "cfs", "unknown", patient())


def test_explain_shows_the_date_of_a_known_date_fact(make_rules, patient) -> None:  # type: ignore[no-untyped-def]
    ruleset = RuleSet.load(make_rules({"p.yaml": RULE.format(fact="last_medication_review", test="known")}))
    trace = ruleset.explain("encounter-discharge", patient(last_medication_review=date(2024, 6, 1))).rule("presence")
    assert "last_medication_review = 2024-06-01  known  -> true" in str(trace.conditions[0])


@pytest.mark.parametrize("op", ["==", ">="])
def test_comparing_a_date_fact_directly_is_still_a_load_error(make_rules, op: str) -> None:  # type: ignore[no-untyped-def]
    from cds.rules import RuleSetError

    rule = RULE.format(fact="last_medication_review", test="known").replace("known: true", f'op: "{op}", value: 3')
    with pytest.raises(RuleSetError, match="is a date"):
        RuleSet.load(make_rules({"p.yaml": rule}))
