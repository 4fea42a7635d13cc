"""The service logs each warning of the rule set it starts with: rule file, line and message."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import pytest

from cds.quality.sources import default_rules_dir
from cds.service.runtime import build_evaluator
from cds.service.settings import Settings


def test_the_service_logs_each_rule_set_warning_once_at_load(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    path = rules / "frailty" / "cga-referral.yaml"
    text, count = re.subn(r"(frail_min_cfs:\n(?:[ ]{4,}.*\n)*?[ ]{4,}default: )5\b", r"\g<1>6", path.read_text("utf-8"), count=1)
    assert count == 1, "cga-referral.yaml no longer has frail_min_cfs default 5"
    path.write_text(text, encoding="utf-8")
    settings = Settings(rules_dir=rules, model_dir=None, data_dir=tmp_path / "data", pseudonym_key="service-test-key-0123456789")
    caplog.set_level(logging.WARNING)
    evaluator = build_evaluator(settings)
    (warning,) = evaluator.rules.current().warnings
    (record,) = [r for r in caplog.records if "warning:" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage().endswith(f"warning: {warning.located}")
    assert re.search(r"warning: rules/frailty/cga-referral\.yaml:\d+: cfs\.score >= \$frail_min_cfs = 6 decides at CFS 6", record.getMessage())
    assert warning.hint not in record.getMessage()


def test_the_service_logs_no_rule_set_warning_for_the_bundled_rules(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(model_dir=None, data_dir=tmp_path / "data", pseudonym_key="service-test-key-0123456789")
    caplog.set_level(logging.WARNING)
    build_evaluator(settings)
    assert not [r for r in caplog.records if "warning:" in r.getMessage()]
