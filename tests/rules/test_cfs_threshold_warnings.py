"""A rule deciding at a CFS level the CFS table does not list loads, with a warning naming file and line.

The table (src/cds/scores/data/cfs.yaml, cut points 5, 7, 8, 9) is what the 'uncertain' flag on CFS
cards covers; quality teams may still try other thresholds in their own rule files (cds backtest).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from cds.rules import RuleSet, RuleSetError, RuleSetHolder, RuleWarning

RULE_HEAD = """
id: {id}
version: "1.0"
title: {{nb: Tittel, en: Title}}
hooks: [encounter-start]
source: {{seed: ["000_ea1be622f5d88811.txt:1-2"]}}
"""

FRAIL = """
parameters:
  frail_min_cfs: {type: int, default: 5, description: lowest CFS level counted as frail}
when: {fact: cfs.score, op: '>=', value: $frail_min_cfs}
"""

CARD = """
card:
  topic: frailty-status
  indicator: info
  summary: {nb: "Skrøpelig", en: "Frail"}
"""


def rule(id: str, body: str) -> str:
    return RULE_HEAD.format(id=id) + body


def frail_rule(min_cfs: int) -> str:
    return rule("a", FRAIL.replace("default: 5", f"default: {min_cfs}") + CARD)


def override(path: Path, applies_to: str, min_cfs: int) -> Path:
    path.write_text(
        f"override: {path.stem}\ndescription: d\napplies_to: {applies_to}\nparameters:\n  a: {{frail_min_cfs: {min_cfs}}}\n",
        encoding="utf-8",
    )
    return path


def test_a_threshold_at_an_unlisted_cfs_level_loads_with_one_warning_naming_file_and_line(
    make_rules: Callable[..., Path],
) -> None:
    ruleset = RuleSet.load(make_rules({"a.yaml": frail_rule(6)}))
    assert ruleset.rule("a").parameters["frail_min_cfs"] == 6
    (warning,) = ruleset.warnings
    assert isinstance(warning, RuleWarning) and (warning.file, warning.line) == ("rules/a.yaml", 9)
    assert warning.message.startswith("cfs.score >= $frail_min_cfs = 6 decides at CFS 6, which is not a decision cut point")
    assert "src/cds/scores/data/cfs.yaml (listed: 5, 7, 8, 9)" in warning.message
    assert "the 'uncertain' flag on CFS cards will not cover or name it" in warning.message
    assert "add cut point 6 to src/cds/scores/data/cfs.yaml with its source" in warning.hint
    assert str(warning) == f"rules/a.yaml:9: {warning.message} ({warning.hint})"


def test_a_threshold_at_a_listed_cut_point_loads_without_warnings(make_rules: Callable[..., Path]) -> None:
    assert RuleSet.load(make_rules({"a.yaml": frail_rule(5)})).warnings == []


def test_the_bundled_rules_load_without_warnings() -> None:
    from cds.quality.sources import default_rules_dir

    assert RuleSet.load(default_rules_dir()).warnings == []


def test_equality_decides_at_both_of_its_edges(make_rules: Callable[..., Path], tmp_path: Path) -> None:
    """`== 8` splits the scale at 8 and at 9 (both listed); `in [4, 5]` splits at 4 and 6 (neither listed)."""
    equal = "when: {fact: cfs.score, op: '==', value: 8}\n" + CARD
    assert RuleSet.load(make_rules({"a.yaml": rule("a", equal)})).warnings == []
    among = "when: {fact: cfs.score, op: in, value: [4, 5]}\n" + CARD
    (warning,) = RuleSet.load(make_rules({"b.yaml": rule("b", among)}, root=tmp_path / "other")).warnings
    assert "cfs.score in (4, 5) decides at CFS 4, 6, which are not decision cut points" in warning.message
    assert warning.message.endswith("will not cover or name them")
    assert "add cut points 4, 6 to src/cds/scores/data/cfs.yaml with their sources" in warning.hint


def test_a_site_override_moving_the_threshold_off_the_table_warns_and_names_the_override(
    make_rules: Callable[..., Path], tmp_path: Path
) -> None:
    site = override(tmp_path / "site.yaml", "{site: x}", 6)
    ruleset = RuleSet.load(make_rules({"a.yaml": frail_rule(5)}), [site])
    (warning,) = ruleset.warnings
    assert (warning.file, warning.line) == ("rules/a.yaml", 9)
    assert warning.message.startswith("cfs.score >= $frail_min_cfs = 6 (set in ")
    assert "site.yaml:5) decides at CFS 6" in warning.message


def test_a_municipality_variant_off_the_table_loads_and_its_warning_is_kept(
    make_rules: Callable[..., Path], tmp_path: Path
) -> None:
    oslo = override(tmp_path / "oslo.yaml", "{municipality: ['0301']}", 6)
    ruleset = RuleSet.load(make_rules({"a.yaml": frail_rule(5)}), [oslo])
    assert [r.parameters["frail_min_cfs"] for r in ruleset.rules] == [5, 6]
    (warning,) = ruleset.warnings
    assert (warning.file, warning.line) == ("rules/a.yaml", 9)
    assert "$frail_min_cfs = 6 (set in " in warning.message and "oslo.yaml:5) decides at CFS 6" in warning.message


def test_a_variant_that_keeps_an_unlisted_default_repeats_no_warning(
    make_rules: Callable[..., Path], tmp_path: Path
) -> None:
    """The default 6 warns once although the Oslo variant (moving to 7) compiles the rule again."""
    oslo = override(tmp_path / "oslo.yaml", "{municipality: ['0301']}", 7)
    (warning,) = RuleSet.load(make_rules({"a.yaml": frail_rule(6)}), [oslo]).warnings
    assert "$frail_min_cfs = 6 decides at CFS 6" in warning.message


def test_a_refused_rule_set_carries_its_warnings_beside_its_errors(make_rules: Callable[..., Path]) -> None:
    broken = rule("b", "when: {fact: agee, op: '>=', value: 70}\n" + CARD)
    with pytest.raises(RuleSetError) as caught:
        RuleSet.load(make_rules({"a.yaml": frail_rule(6), "b.yaml": broken}))
    assert [e.file for e in caught.value.errors] == ["rules/b.yaml"]
    assert [(w.file, w.line) for w in caught.value.warnings] == [("rules/a.yaml", 9)]


def test_reload_logs_each_warning_of_the_new_set_once_and_returns_them(
    make_rules: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    directory = make_rules({"a.yaml": frail_rule(5)})
    holder = RuleSetHolder(directory)
    make_rules({"a.yaml": frail_rule(6)})
    caplog.set_level(logging.WARNING, logger="cds.rules.holder")
    result = holder.reload()
    assert result.ok and result.changed
    assert result.warnings == [str(w) for w in holder.current().warnings] and len(result.warnings) == 1
    assert result.to_dict()["warnings"] == result.warnings
    (record,) = caplog.records
    assert "warning: rules/a.yaml:9: cfs.score >= $frail_min_cfs = 6 decides at CFS 6" in record.getMessage()
    assert "with its source" not in record.getMessage()  # file, line and message; the hint is for authors
    caplog.clear()
    assert holder.reload().changed is False
    assert caplog.records == []  # same set: already logged
