"""Fixtures for rule tests: small rule directories written into tmp_path."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cds.facts.snapshot import PatientSnapshot

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)

VALUESETS = """
systems:
  icd-10:
    normalise: icd-10
    uris: [urn:oid:2.16.578.1.12.4.1.1.7110, http://hl7.org/fhir/sid/icd-10]
valuesets:
  - id: chronic.test
    title: Chronic conditions (test list)
    source: test fixture
    include:
      - system: icd-10
        codes: [{code: "I50*"}, {code: "J44*"}, {code: "E11*"}]
"""

# A rule body used by many tests; {min_age} etc. are filled in by str.format.
SCREENING = """
id: screening
version: "1.0"
title: {{nb: Screening, en: Screening}}
hooks: [encounter-start]
parameters:
  min_age: {{type: int, default: {min_age}, unit: a, description: youngest age screened}}
when:
  all:
    - {{fact: age, op: ">=", value: $min_age}}
    - {{fact: cfs.score, unknown: true}}
card:
  topic: cfs-screening-due
  indicator: info
  summary: {{nb: "Skår CFS ({{{{ age }}}} år)", en: "Score the CFS (aged {{{{ age }}}})"}}
source: {{seed: ["004_8d09680a4bef5543.txt:120-122"]}}
"""


def snapshot(**facts: Any) -> PatientSnapshot:
    """A patient at NOW with the given facts (everything else unknown)."""
    facts.setdefault("patient_key", "test-key")
    facts.setdefault("now", NOW)
    return PatientSnapshot(**facts)


@pytest.fixture
def make_rules(tmp_path: Path) -> Callable[..., Path]:
    """Write rule files (name -> YAML text) into a fresh rule directory and return it."""

    def write(files: dict[str, str], *, valuesets: str | None = VALUESETS, root: Path | None = None) -> Path:
        directory = root or (tmp_path / "rules")
        (directory / "codesystems").mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "rules" / "codesystems" / "card-topic.yaml", directory / "codesystems" / "card-topic.yaml")
        if valuesets is not None:
            (directory / "valuesets").mkdir(exist_ok=True)
            (directory / "valuesets" / "test.yaml").write_text(textwrap.dedent(valuesets), encoding="utf-8")
        for name, text in files.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return directory

    return write


@pytest.fixture
def screening() -> Callable[[int], str]:
    """The text of a small screening rule with the given min_age default."""
    return lambda min_age=70: SCREENING.format(min_age=min_age)


@pytest.fixture
def patient() -> Callable[..., PatientSnapshot]:
    """Factory for a patient snapshot at NOW."""
    return snapshot
