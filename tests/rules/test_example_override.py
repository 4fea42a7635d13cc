"""The shipped example municipality variant (rules/overrides/examples/trondheim-5001.yaml).

It is not loaded by default, passes `cds rules check` and `cds rules test`, and
changes the stale-CFS age only for patients of municipality 5001: Sigrid, 82,
from Trondheim, whose CFS is 75 days old, is asked for a new CFS; Tor, 82, from
Bergen with the same CFS is not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cds.cli import _register_all, app
from cds.facts.snapshot import CfsFact
from cds.rules import RuleSet

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "rules" / "overrides" / "examples" / "trondheim-5001.yaml"
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def registered() -> None:
    if not any(getattr(g, "name", None) == "rules" for g in app.registered_groups):
        _register_all()


def test_rules_check_passes_with_the_example_override() -> None:
    result = runner.invoke(app, ["rules", "check", str(REPO / "rules"), "--override", str(EXAMPLE)])
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith("ok: ")


def test_rules_test_passes_with_the_example_override() -> None:
    result = runner.invoke(app, ["rules", "test", str(REPO / "rules"), "--override", str(EXAMPLE)])
    assert result.exit_code == 0, result.stdout
    assert " passed, 0 failed" in result.stdout


def test_the_example_is_not_loaded_by_default() -> None:
    assert all(rule.variant is None for rule in RuleSet.load(REPO / "rules").rules)


def test_the_variant_applies_only_to_its_municipality(patient) -> None:  # type: ignore[no-untyped-def]
    ruleset = RuleSet.load(REPO / "rules", [EXAMPLE])
    cfs = CfsFact(score=4)

    def screened(municipality: str) -> bool:
        snap = patient(age=82, municipality=municipality, cfs=cfs, cfs_age_days=75)
        return any(f.rule_id == "cfs-screening-due" for f in ruleset.evaluate("encounter-start", snap))

    assert screened("5001")
    assert not screened("4601")
