"""The shipped example municipality variant (rules/overrides/examples/trondheim-5001.yaml).

It is not loaded by default, passes `cds rules check` and `cds rules test`, and
changes the CGA look-back only for patients of municipality 5001: Sigrid, 82,
CFS 6, from Trondheim, whose CGA was 200 days ago, is suggested a new one; Tor,
82, from Bergen with the same history is not. (The CFS validity window is one
value of the CFS table, not a rule parameter, so an override cannot change it.)
"""

from __future__ import annotations

from datetime import date, timedelta
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
    cfs = CfsFact(score=6, baseline_date=date(2025, 1, 1))
    earlier_cga = date(2025, 1, 15) - timedelta(days=200)

    def suggested(municipality: str) -> bool:
        snap = patient(age=82, municipality=municipality, cfs=cfs, cfs_age_days=14, last_cga=earlier_cga)
        return any(f.rule_id == "cga-referral" for f in ruleset.evaluate("encounter-discharge", snap))

    assert suggested("5001")
    assert not suggested("4601")
