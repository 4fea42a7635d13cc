"""Fact-builder parameters from ``data/parameters.yaml`` (time windows, each with its source)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import yaml

__all__ = ["FactParameters", "parameters"]

_FILE = Path(__file__).parent / "data" / "parameters.yaml"


@dataclass(frozen=True)
class FactParameters:
    new_symptoms_window: timedelta
    ed_to_admission_link: timedelta


@lru_cache(maxsize=1)
def parameters() -> FactParameters:
    """The packaged parameters (read once)."""
    data = yaml.safe_load(_FILE.read_text(encoding="utf-8"))
    return FactParameters(
        new_symptoms_window=timedelta(hours=float(data["new_symptoms_window_hours"]["value"])),
        ed_to_admission_link=timedelta(hours=float(data["ed_to_admission_link_hours"]["value"])),
    )
