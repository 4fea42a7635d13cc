"""Backtest: both rule sets over the same cohort; who gains or loses which card, pathway moves, why."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cds.quality.backtest import BacktestAggregator, run_backtest
from cds.quality.cohort import generate_cohort
from cds.quality.sources import default_rules_dir

KEY = b"a test key of thirty-two bytes!!"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bt-cohort")
    generate_cohort(120, 7, out)
    return out


@pytest.fixture(scope="module")
def stricter_cga(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the bundled rules where CGA referral needs CFS 6 instead of 5 (the quality guide's what-if).

    6 is not a cut point of src/cds/scores/data/cfs.yaml: the candidate loads with a warning.
    """
    rules = tmp_path_factory.mktemp("rules") / "rules"
    shutil.copytree(default_rules_dir(), rules)
    path = rules / "frailty" / "cga-referral.yaml"
    text = path.read_text(encoding="utf-8")
    changed, count = re.subn(r"(frail_min_cfs:\n(?:[ ]{4,}.*\n)*?[ ]{4,}default: )5\b", r"\g<1>6", text, count=1)
    assert count == 1, "cga-referral.yaml no longer has frail_min_cfs default 5"
    path.write_text(changed, encoding="utf-8")
    return rules


@pytest.fixture(scope="module")
def report(cohort: Path, stricter_cga: Path):  # type: ignore[no-untyped-def]
    return run_backtest(
        cohort,
        baseline=default_rules_dir(),
        candidate=stricter_cga,
        hook="encounter-discharge",
        at=None,
        pseudonym_key=KEY,
        workers=1,
        progress=False,
    )


def test_a_stricter_cga_threshold_only_takes_cga_cards_away(report) -> None:  # type: ignore[no-untyped-def]
    assert report.rule_gains == {}
    assert set(report.rule_losses) == {"cga-referral"} and report.rule_losses["cga-referral"] > 0


def test_the_patients_losing_the_card_had_cfs_5(report) -> None:  # type: ignore[no-untyped-def]
    examples = report.examples["loses cga-referral"]
    assert examples and all("cfs.score = 5" in e.why for e in examples)


def test_the_changed_parameter_is_named_in_the_report(report) -> None:  # type: ignore[no-untyped-def]
    assert "cga-referral: frail_min_cfs 5 -> 6" in report.to_markdown()


def test_the_report_shows_the_candidates_cfs_warning_in_markdown_html_and_json(report) -> None:  # type: ignore[no-untyped-def]
    import orjson

    (warning,) = report.candidate_warnings
    assert re.match(r"rules/frailty/cga-referral\.yaml:\d+: cfs\.score >= \$frail_min_cfs = 6 decides at CFS 6, ", warning)
    assert f"- warning: {warning}" in report.to_markdown()
    assert "warning: rules/frailty/cga-referral.yaml:" in report.to_html()
    assert orjson.loads(report.to_json())["candidate_warnings"] == [warning]


def test_the_html_report_has_the_transition_matrix(report) -> None:  # type: ignore[no-untyped-def]
    page = report.to_html()
    assert "Pathway transitions" in page and "<table>" in page


def test_examples_are_pseudonyms_not_ids(report, cohort: Path) -> None:  # type: ignore[no-untyped-def]
    import orjson

    ids = [orjson.loads(line)["id"] for line in (cohort / "Patient.ndjson").read_bytes().splitlines()]
    text = report.to_markdown()
    assert not any(pid in text for pid in ids)
    assert all(e.patient.startswith("p_") for ex in report.examples.values() for e in ex)


def _line(pa: str | None, pb: str | None, rules_a: list[str], rules_b: list[str]) -> dict:
    def side(pathway: str | None, rules: list[str]) -> dict:
        return {"status": "ok", "pathway": pathway, "cards": [{"rule": r, "topic": r} for r in rules], "findings": rules}

    return {"patient": "p_x", "results": [side(pa, rules_a), side(pb, rules_b)]}


def test_a_pathway_move_counts_in_the_transition_matrix() -> None:
    agg = BacktestAggregator([])
    assert agg.add(_line("A", "C", ["pathway-a"], ["pathway-c"])) is True
    assert agg.add(_line("B", "B", ["pathway-b"], ["pathway-b"])) is False
    report = agg.report(hook="encounter-discharge", baseline=Path("a"), candidate=Path("b"))
    assert report.transitions == {"A": {"C": 1}, "B": {"B": 1}}
    assert report.changed == 1
    assert "pathway A -> C" in report.examples


def test_a_patient_with_an_error_is_counted_not_compared() -> None:
    agg = BacktestAggregator([])
    agg.add({"patient": "p_y", "results": [{"status": "error"}, {"status": "ok"}]})
    assert (agg.errors, agg.compared) == (1, 0)


def _cds(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from cds.cli import main; main()", *args], capture_output=True, text=True, timeout=600
    )


def test_fail_on_change_exits_1_when_cards_differ(cohort: Path, stricter_cga: Path, tmp_path: Path) -> None:
    result = _cds(
        "backtest", "--baseline", str(default_rules_dir()), "--candidate", str(stricter_cga), str(cohort),
        "--report", str(tmp_path / "r.md"), "--fail-on-change", "-q", "-j", "1", "--no-model",
    )
    assert result.returncode == 1, result.stderr
    assert (tmp_path / "r.html").exists() and (tmp_path / "r.json").exists()
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert line.startswith("warning: candidate: rules/frailty/cga-referral.yaml:") and "decides at CFS 6" in line
    assert "decides at CFS 6" in (tmp_path / "r.md").read_text(encoding="utf-8")


def test_same_rules_with_fail_on_change_exit_0(cohort: Path, tmp_path: Path) -> None:
    rules = str(default_rules_dir())
    result = _cds("backtest", "--baseline", rules, "--candidate", rules, str(cohort), "--fail-on-change", "-q", "-j", "1", "--no-model")
    assert result.returncode == 0, result.stderr
    assert "Patients whose cards or pathway differ: 0" in result.stdout
    assert "Warnings of the candidate" not in result.stdout
    assert not [line for line in result.stderr.splitlines() if line.startswith("warning:")]
