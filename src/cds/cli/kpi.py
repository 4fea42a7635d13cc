"""`cds kpi DIR`: the quality KPIs of the seeds over a FHIR bulk NDJSON export."""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from pathlib import Path

import typer

from cds.cli import UserError


class By(StrEnum):
    municipality = "municipality"
    month = "month"


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} must be a date like 2024-01-31, not {value!r}") from None


def kpi(
    directory: Path = typer.Argument(..., help="directory of a FHIR bulk export (<Type>.ndjson files)"),
    from_: str | None = typer.Option(None, "--from", help="first day (inclusive, a calendar day in clinical time, Europe/Oslo), default: start of the data"),
    to: str | None = typer.Option(None, "--to", help="last day (inclusive, a calendar day in clinical time, Europe/Oslo), default: end of the data"),
    by: By | None = typer.Option(None, "--by", help="one row per KPI and municipality or month"),
    rules: Path | None = typer.Option(None, "--rules", help="rule directory whose valuesets/ to use (default: bundled)"),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table"),
) -> None:
    """Print every KPI with its target (definitions: docs/kpi-definitions.md)."""
    from cds.quality.export import ExportError
    from cds.quality.kpi_report import format_table, kpi_report
    from cds.quality.sources import load_terminology
    from cds.terminology import TerminologyError

    start, end = _date(from_, "--from"), _date(to, "--to")
    if start and end and start > end:
        raise UserError("--from is after --to")
    try:
        terminology = load_terminology(rules)
        report = kpi_report(directory, start=start, end=end, by=by.value if by else None, terminology=terminology)
    except ExportError as exc:
        raise UserError(str(exc)) from exc
    except TerminologyError as exc:
        raise UserError(f"value sets are invalid: {exc.errors[0]}") from exc
    if as_json:
        for row in report.rows:
            typer.echo(json.dumps(row.as_dict(), ensure_ascii=False))
    else:
        typer.echo(format_table(report))


def register(app: typer.Typer) -> None:
    app.command("kpi")(kpi)
