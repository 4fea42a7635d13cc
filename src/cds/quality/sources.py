"""Where the quality tools find the rule set and value sets, and how they load the terminology."""

from __future__ import annotations

import os
from pathlib import Path

from cds import bundled
from cds.quality.calibration import DATA_DIR
from cds.terminology import Terminology

__all__ = ["KPI_VALUESETS_DIR", "default_rules_dir", "load_terminology"]

#: Value sets only the KPIs need (loaded after the rule set's own value sets).
KPI_VALUESETS_DIR = DATA_DIR / "valuesets"


def default_rules_dir() -> Path:
    """``$CDS_RULES_DIR``, else the rules shipped with the project (the service's default too)."""
    env = os.environ.get("CDS_RULES_DIR")
    return Path(env) if env else bundled.RULES_DIR


def load_terminology(rules_dir: Path | None = None) -> Terminology:
    """The rule set's value sets plus the KPI value sets."""
    rules_dir = rules_dir or default_rules_dir()
    return Terminology.load(rules_dir / "valuesets", KPI_VALUESETS_DIR)
