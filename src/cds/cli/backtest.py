"""`cds backtest --baseline A --candidate B DIR`: what a rule change does to a cohort's cards and pathways."""

from __future__ import annotations

from pathlib import Path

import typer

from cds.cli import UserError
from cds.cli._quality_options import model_dir, parse_at, pseudonym_key
from cds.cli._time import NAIVE_IS_CLINICAL


def backtest(
    directory: Path = typer.Argument(..., help="directory of a FHIR bulk export (<Type>.ndjson files)"),
    baseline: Path = typer.Option(..., "--baseline", help="rule directory in use today (A)"),
    candidate: Path = typer.Option(..., "--candidate", help="changed rule directory to test (B)"),
    report: Path | None = typer.Option(
        None, "--report", help="write the report here as Markdown, and beside it .html and .json"
    ),
    hook: str = typer.Option("encounter-discharge", "--hook", help="hook to evaluate"),
    at: str | None = typer.Option(None, "--at", help=f"evaluate as of this date (noon) or date-time, {NAIVE_IS_CLINICAL} (default: each patient's latest stay)"),
    fail_on_change: bool = typer.Option(
        False, "--fail-on-change", help="exit 1 when any patient's cards or pathway differ (for review pipelines)"
    ),
    examples: int = typer.Option(5, "--examples", min=0, help="example patients per change"),
    model: Path | None = typer.Option(None, "--model", help="readmission model directory (default: bundled)"),
    no_model: bool = typer.Option(False, "--no-model", help="run without the learned readmission model"),
    workers: int = typer.Option(0, "--workers", "-j", min=0, help="processes (0 = one per CPU)"),
    key_file: Path | None = typer.Option(None, "--key-file", help="pseudonym key file (default: a per-run key)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Run both rule sets over the same cohort; report per rule, per topic and per pathway who changes and why."""
    from cds.quality.backtest import run_backtest
    from cds.quality.batch import service_for_hook
    from cds.quality.export import ExportError
    from cds.rules.errors import RuleSetError

    try:
        service_for_hook(hook)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for name, path in (("--baseline", baseline), ("--candidate", candidate)):
        if not path.is_dir():
            raise UserError(f"{name} {path} is not a directory")
    try:
        result = run_backtest(
            directory,
            baseline=baseline,
            candidate=candidate,
            hook=hook,
            at=parse_at(at),
            pseudonym_key=pseudonym_key(key_file),
            model_dir=model_dir(model, no_model),
            workers=workers or None,
            progress=not quiet,
            examples_per_change=examples,
        )
    except ExportError as exc:
        raise UserError(str(exc)) from None
    except RuleSetError as exc:
        first = str(exc.errors[0]) if exc.errors else "invalid"
        raise UserError(f"a rule set does not load: {first}") from None
    markdown = result.to_markdown()
    if report is not None:
        try:
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(markdown, encoding="utf-8")
            report.with_suffix(".html").write_text(result.to_html(), encoding="utf-8")
            report.with_suffix(".json").write_bytes(result.to_json())
        except OSError as exc:
            raise UserError(f"cannot write the report {report}: {exc.strerror}") from None
        typer.echo(
            f"{result.changed} of {result.compared} patients change; report: {report} "
            f"(+ {report.with_suffix('.html').name}, {report.with_suffix('.json').name})"
        )
        for warning in result.candidate_warnings:
            typer.echo(f"warning: candidate: {warning}", err=True)
    else:
        typer.echo(markdown)
    if fail_on_change and result.changed:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
