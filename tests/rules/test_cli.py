"""`cds rules` for quality teams: check, test, explain, docs, schema."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cds.cli import app, _register_all

REPO = Path(__file__).resolve().parents[2]

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def registered() -> None:
    if not any(getattr(g, "name", None) == "rules" for g in app.registered_groups):
        _register_all()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def test_check_accepts_the_bundled_rules() -> None:
    result = invoke("rules", "check", str(REPO / "rules"))
    assert result.exit_code == 0 and result.stdout.startswith("ok: ")


def test_check_refuses_a_broken_rule_with_file_and_line(
    make_rules: Callable[..., Path], screening: Callable[[int], str]
) -> None:
    directory = make_rules({"s.yaml": screening(70).replace("fact: age", "fact: agee")})
    result = invoke("rules", "check", str(directory))
    assert result.exit_code == 1
    assert "s.yaml:9: unknown fact: the snapshot has no fact 'agee'" in result.stderr
    assert "rule set refused: 1 error" in result.stderr


def test_check_accepts_the_bundled_rules_without_warnings() -> None:
    result = invoke("rules", "check", str(REPO / "rules"))
    assert result.exit_code == 0 and "warning" not in result.stdout + result.stderr


CGA_FROM_CFS_6 = """
id: cga
version: "1.0"
title: {nb: CGA, en: CGA}
hooks: [encounter-start]
parameters:
  frail_min_cfs: {type: int, default: 6, description: lowest CFS level counted as frail}
when: {fact: cfs.score, op: ">=", value: $frail_min_cfs}
card:
  topic: frailty-status
  indicator: info
  summary: {nb: "Skrøpelig", en: "Frail"}
source: {seed: ["000_ea1be622f5d88811.txt:2160-2162"]}
"""


def test_check_prints_a_warning_with_file_and_line_and_still_exits_0(make_rules: Callable[..., Path]) -> None:
    result = invoke("rules", "check", str(make_rules({"cga.yaml": CGA_FROM_CFS_6})))
    assert result.exit_code == 0
    assert result.stdout.startswith("ok: 1 rules") and result.stdout.rstrip().endswith(", 1 warning")
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        "warning: rules/cga.yaml:7: cfs.score >= $frail_min_cfs = 6 decides at CFS 6, which is not a decision cut point"
    )
    assert line.endswith("(if the rule set keeps this threshold, add cut point 6 to src/cds/scores/data/cfs.yaml"
                         " with its source: docs/rules-guide.md, 'CFS thresholds')")


def test_check_of_a_missing_directory_is_a_user_error() -> None:
    result = invoke("rules", "check", "/nonexistent/rules")
    assert result.exit_code != 0


def test_test_reports_each_failing_case_and_exits_non_zero(
    make_rules: Callable[..., Path], screening: Callable[[int], str]
) -> None:
    failing = screening(70) + (
        "tests:\n  - {name: Kari 75 expects nothing, hook: encounter-start, given: {age: 75}, expect: {no_card: true}}\n"
        "  - {name: Ola 60 expects nothing, hook: encounter-start, given: {age: 60}, expect: {no_card: true}}\n"
    )
    result = invoke("rules", "test", str(make_rules({"s.yaml": failing})))
    assert result.exit_code == 1
    assert "F." in result.stdout
    assert "screening :: Kari 75 expects nothing" in result.stdout
    assert "E   expected no card at all; got ['cfs-screening-due']" in result.stdout
    assert "1 passed, 1 failed" in result.stdout


def test_test_passes_on_the_bundled_rules() -> None:
    result = invoke("rules", "test", str(REPO / "rules"))
    assert result.exit_code == 0, result.stdout
    assert " passed, 0 failed" in result.stdout


def test_docs_prints_a_catalogue_with_parameters_and_sources() -> None:
    result = invoke("rules", "docs", str(REPO / "rules"))
    assert result.exit_code == 0
    version = yaml.safe_load((REPO / "rules/frailty/cfs-screening-due.yaml").read_text(encoding="utf-8"))["version"]
    assert f"## CFS screening due (`cfs-screening-due` v{version})" in result.stdout
    assert "| `min_age` | int | 70 | a |" in result.stdout
    assert "004_8d09680a4bef5543.txt:120-122" in result.stdout


def test_schema_writes_both_json_schemas(tmp_path: Path) -> None:
    result = invoke("rules", "schema", str(tmp_path))
    assert result.exit_code == 0
    assert json.loads((tmp_path / "rule.schema.json").read_text())["title"] == "RuleFile"
    assert (tmp_path / "override.schema.json").is_file()


BUNDLE = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {"resource": {"resourceType": "Patient", "id": "kari", "birthDate": "1946-05-01", "gender": "female"}},
        {"resource": {"resourceType": "Encounter", "id": "stay", "status": "in-progress", "class": {"code": "IMP"},
                      "subject": {"reference": "Patient/kari"}, "period": {"start": "2025-01-15T08:00:00+01:00"}}},
    ],
}


def test_explain_shows_why_each_rule_fired_for_a_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "kari.json"
    bundle.write_text(json.dumps(BUNDLE), encoding="utf-8")
    result = invoke(
        "rules", "explain", "--hook", "encounter-start", "--patient", "kari", "--encounter", "stay", "--now", "2025-01-15T12:00:00+00:00",
        "--rules", str(REPO / "rules"), str(bundle),
    )
    assert result.exit_code == 0, result.output
    assert "FIRED         cfs-screening-due" in result.stdout
    assert "age = 78  >= 70 ($min_age)  -> true" in result.stdout


def test_explain_json_is_machine_readable(tmp_path: Path) -> None:
    bundle = tmp_path / "kari.json"
    bundle.write_text(json.dumps(BUNDLE), encoding="utf-8")
    result = invoke(
        "rules", "explain", "--hook", "encounter-start", "--patient", "kari", "--encounter", "stay", "--now", "2025-01-15T12:00:00+00:00",
        "--rules", str(REPO / "rules"), "--json", str(bundle),
    )
    data = json.loads(result.stdout)
    assert {r["ruleId"]: r["status"] for r in data["rules"]}["cfs-screening-due"] == "fired"


def test_explain_with_an_unknown_patient_is_a_one_line_error(tmp_path: Path) -> None:
    bundle = tmp_path / "kari.json"
    bundle.write_text(json.dumps(BUNDLE), encoding="utf-8")
    with pytest.raises(Exception, match="no Patient with id 'ola'"):
        runner.invoke(
            app, ["rules", "explain", "--hook", "encounter-start", "--patient", "ola", "--rules", str(REPO / "rules"), str(bundle)],
            catch_exceptions=False,
        )


def test_the_rules_folder_copy_keeps_working(tmp_path: Path) -> None:
    """A quality team copies rules/ to try a change: the copy loads on its own."""
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    assert invoke("rules", "check", str(tmp_path / "rules")).exit_code == 0


def test_check_and_test_accept_a_municipality_override(tmp_path: Path) -> None:
    bergen = tmp_path / "bergen.yaml"
    bergen.write_text(
        "override: bergen\ndescription: Bergen screens from 75\napplies_to: {municipality: ['4601']}\n"
        "parameters:\n  cfs-screening-due: {min_age: 75}\n",
        encoding="utf-8",
    )
    assert invoke("rules", "check", str(REPO / "rules"), "--override", str(bergen)).exit_code == 0
    assert invoke("rules", "test", str(REPO / "rules"), "--override", str(bergen)).exit_code == 0


def test_check_refuses_an_override_of_an_unknown_rule(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "override: bad\ndescription: d\napplies_to: {site: x}\nparameters:\n  cfs-screening: {min_age: 75}\n", encoding="utf-8"
    )
    result = invoke("rules", "check", str(REPO / "rules"), "--override", str(bad))
    assert result.exit_code == 1
    assert "bad.yaml:5: override names unknown rule 'cfs-screening'" in result.stderr
