"""Fact-group tests: make the shared builders in factkit.py importable and provide an issue list."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cds.fhir.resources import ResourceIssue  # noqa: E402


@pytest.fixture
def issues() -> list[ResourceIssue]:
    return []
