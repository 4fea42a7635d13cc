"""Fixtures for the quality tests: FHIR builders and a small generated cohort (one per session)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


def _load_builders() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quality_fhir_builders", Path(__file__).with_name("fhir_builders.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fhir() -> ModuleType:
    """Builders for hand-written FHIR resources (Patient, stays, CFS, GP notice, ...)."""
    return _load_builders()


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated cohort of 300 patients (seed 7), shared by the tests that only read it."""
    from cds.quality.cohort import generate_cohort

    out = tmp_path_factory.mktemp("cohort300")
    generate_cohort(300, 7, out)
    return out
