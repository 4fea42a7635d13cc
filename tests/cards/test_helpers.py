"""Template helpers in the card language: number filters, cfs_level(score), label(group, key)."""

from __future__ import annotations

import shutil
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cds.cards import render_cards
from cds.cards.templates import check_template
from cds.rules import RuleSet, RuleSetError

REPO = Path(__file__).resolve().parents[2]
NBSP, THIN = "\u00a0", "\u202f"


def _render(source: str, language: str, strict: bool = False, **context: object) -> str:
    template, problems = check_template(source, ["x"], language)
    assert template is not None, problems
    return (template.render_strict if strict else template.render)(**context)


@pytest.mark.parametrize(
    ("source", "nb", "en"),
    [
        ("{{ 0.121 | pct(1) }}", f"12,1{NBSP}%", "12.1%"),
        ("{{ 0.5 | pct }}", f"50{NBSP}%", "50%"),
        ("{{ 12345.67 | num(1) }}", f"12{THIN}345,7", "12,345.7"),
        ("{{ 7 | num }}", "7", "7"),
    ],
)
def test_numbers_follow_the_card_language(source: str, nb: str, en: str) -> None:
    assert _render(source, "nb") == nb
    assert _render(source, "en") == en


def test_nan_and_unknown_numbers_print_as_unknown() -> None:
    assert _render("{{ x | pct }} {{ x | num(1) }}", "nb", x=float("nan")) == "ukjent ukjent"
    assert _render("{{ x | pct }}", "en", x=None) == "unknown"


def test_cfs_level_gives_name_band_uncertainty_and_caveat_in_the_card_language() -> None:
    source = "{{ cfs_level(x) }} | {{ cfs_level(x).band }} | {{ cfs_level(x).uncertain }} | {{ cfs_level(x).caveat or 'valid' }}"
    assert _render(source, "en", x=6, age=84) == "Living with moderate frailty | Frail | True | valid"
    assert _render(source, "nb", x=5, age=58).startswith("Lever med lett skrøpelighet | Skrøpelig | True | CFS er ikke validert")


def test_cfs_level_takes_an_explicit_age_and_is_unknown_without_a_score() -> None:
    assert _render("{{ cfs_level(x, 90).caveat or 'valid' }}", "en", x=3, age=40) == "valid"
    assert _render("{{ cfs_level(x) }}", "nb", x=None, age=80) == "ukjent"


def test_label_shows_an_internal_key_in_the_card_language() -> None:
    labels = {"band": {"high": {"nb": "høy", "en": "high"}}}
    assert _render("{{ label('band', x) }}", "nb", x="high", __labels__=labels) == "høy"
    assert _render("{{ label('band', x) }}", "nb", x="odd", __labels__=labels) == "odd"  # serving: the key itself
    with pytest.raises(LookupError, match="no nb label for 'odd'"):
        _render("{{ label('band', x) }}", "nb", strict=True, x="odd", __labels__=labels)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{{ shout(x) }}", "template calls unknown helper 'shout'"),
        ("{{ x | shout }}", "No filter named 'shout'"),
    ],
)
def test_templates_may_call_only_known_helpers(source: str, problem: str) -> None:
    template, problems = check_template(source, ["x"], "nb")
    assert template is None and any(problem in p for p in problems)


RULE = """
id: frail
version: "1.0"
title: {nb: Skrøpelig, en: Frail}
hooks: [encounter-start]
when: {fact: cfs.score, op: ">=", value: 5}
card:
  topic: frailty-status
  indicator: info
  summary:
    nb: "CFS {{ cfs.score }}: {{ cfs_level(cfs.score) }} ({{ label('band', scores.lace.band) }})"
    en: "CFS {{ cfs.score }}: {{ cfs_level(cfs.score) }} ({{ label('band', scores.lace.band) }})"
source: {paper: test}
"""

LABELS = """
band:
  source: test
  labels:
    high: {nb: høy, en: high}
"""


def _rules(tmp_path: Path, rule: str) -> Path:
    directory = tmp_path / "rules"
    (directory / "codesystems").mkdir(parents=True)
    shutil.copy(REPO / "rules" / "codesystems" / "card-topic.yaml", directory / "codesystems" / "card-topic.yaml")
    (directory / "codesystems" / "labels.yaml").write_text(LABELS, encoding="utf-8")
    (directory / "r.yaml").write_text(textwrap.dedent(rule).lstrip(), encoding="utf-8")
    return directory


def test_a_card_uses_the_rule_sets_labels_and_cfs_level(tmp_path: Path) -> None:
    from cds.facts.snapshot import CfsFact, PatientSnapshot, ScoreResult

    ruleset = RuleSet.load(_rules(tmp_path, RULE))
    snap = PatientSnapshot(patient_key="k", now=datetime(2025, 1, 15, tzinfo=UTC), age=84, cfs=CfsFact(score=6), scores={"lace": ScoreResult(name="lace", points=12, band="high")})
    (card,) = render_cards(ruleset.evaluate("encounter-start", snap), ruleset, snap)
    assert card["summary"] == "CFS 6: Lever med moderat skrøpelighet (høy)"


def test_an_unknown_label_group_is_a_load_error(tmp_path: Path) -> None:
    directory = _rules(tmp_path, RULE.replace("label('band'", "label('bands'"))
    with pytest.raises(RuleSetError, match="unknown label group 'bands'"):
        RuleSet.load(directory)
