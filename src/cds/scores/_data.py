"""Loading the score tables in ``src/cds/scores/data/``.

Every table names its source: YAML files carry a top-level ``source`` key, CSV
files start with ``# source:`` comment lines. A table without a source is a
packaging error and fails loudly at import time of the score that needs it.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources
from typing import Any

import yaml

__all__ = ["DataTableError", "load_csv", "load_yaml"]


class DataTableError(RuntimeError):
    """A score data table is missing, malformed or does not name its source."""


def _read(name: str) -> str:
    try:
        return resources.files("cds.scores").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataTableError(f"score table {name} not found") from exc


@cache
def load_yaml(name: str) -> dict[str, Any]:
    """The parsed YAML table ``data/<name>``; it must have a ``source`` entry."""
    data = yaml.safe_load(_read(name))
    if not isinstance(data, dict) or not data.get("source"):
        raise DataTableError(f"score table {name} has no 'source'")
    return data


@cache
def load_csv(name: str) -> tuple[dict[str, str], ...]:
    """The rows of the CSV table ``data/<name>``; it must start with a ``# source:`` comment."""
    text = _read(name)
    comments = [line for line in text.splitlines() if line.startswith("#")]
    if not any(line.lstrip("# ").lower().startswith("source:") for line in comments):
        raise DataTableError(f"score table {name} has no '# source:' header")
    body = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return tuple(dict(row) for row in csv.DictReader(body))
