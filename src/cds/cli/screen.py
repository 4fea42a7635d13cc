"""`cds screen DIR --hook HOOK --out FILE`: evaluate every patient of a bulk NDJSON export."""

from __future__ import annotations

from pathlib import Path

import typer

from cds.cli import UserError
from cds.cli._quality_options import model_dir, parse_at, pseudonym_key
from cds.cli._time import NAIVE_IS_CLINICAL


def screen(
    directory: Path = typer.Argument(..., help="directory of a FHIR bulk export (<Type>.ndjson files)"),
    hook: str = typer.Option(..., "--hook", help="patient-view, encounter-start or encounter-discharge"),
    out: Path = typer.Option(..., "--out", "-o", help="JSON lines file, one line per patient"),
    at: str | None = typer.Option(None, "--at", help=f"evaluate as of this date (noon) or date-time, {NAIVE_IS_CLINICAL} (default: each patient's latest stay)"),
    rules: Path | None = typer.Option(None, "--rules", help="rule directory (default: the bundled rules)"),
    override: list[Path] = typer.Option([], "--override", help="rule override file(s), layered on --rules"),
    model: Path | None = typer.Option(None, "--model", help="readmission model directory (default: bundled)"),
    no_model: bool = typer.Option(False, "--no-model", help="run without the learned readmission model"),
    workers: int = typer.Option(0, "--workers", "-j", min=0, help="processes (0 = one per CPU)"),
    chunk: int = typer.Option(64, "--chunk", min=1, help="patients per work item"),
    key_file: Path | None = typer.Option(None, "--key-file", help="pseudonym key file (default: $CDS_PSEUDONYM_KEY or a per-run key)"),
    language: str = typer.Option("nb", "--language", help="card language: nb or en"),
    with_ids: bool = typer.Option(False, "--with-ids", help="also write the FHIR Patient id (not pseudonymised)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Screen a cohort through the same evaluator as the service; writes cards, scores and pathway per patient."""
    from cds.quality.batch import BatchOptions, EvaluatorSpec, run_batch, service_for_hook
    from cds.quality.export import ExportError
    from cds.quality.sources import default_rules_dir
    from cds.rules.errors import RuleSetError

    try:
        service_for_hook(hook)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if language not in ("nb", "en"):
        raise UserError("--language must be nb or en")
    rules_dir = rules or default_rules_dir()
    if not rules_dir.is_dir():
        raise UserError(f"--rules {rules_dir} is not a directory")
    options = BatchOptions(
        hook=hook,
        at=parse_at(at),
        evaluators=(EvaluatorSpec(rules_dir, tuple(override), model_dir(model, no_model)),),
        pseudonym_key=pseudonym_key(key_file),
        language=language,
        with_ids=with_ids,
    )
    _check_rules(options)
    try:
        with out.open("wb") as handle:
            summary = run_batch(directory, options, handle, workers=workers or None, chunk_size=chunk, progress=not quiet)
    except ExportError as exc:
        raise UserError(str(exc)) from None
    except RuleSetError as exc:
        raise UserError(f"the rule set does not load: {exc}") from None
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror}") from None
    rate = summary.patients / summary.seconds if summary.seconds else 0.0
    typer.echo(
        f"screened {summary.patients} patients in {summary.seconds:.1f} s with {summary.workers} worker(s) "
        f"({rate:.0f}/s): {summary.evaluated} evaluated, {summary.not_admitted} not admitted, "
        f"{summary.errors} errors -> {out}",
        err=True,
    )
    for bad in summary.bad_lines[:5]:
        typer.echo(f"  skipped {bad}", err=True)


def _check_rules(options: object) -> None:
    """Load each rule set once in this process: a broken one is a one-line error before any work starts,
    and its warnings are printed once (as `cds rules check` prints them), not once per worker."""
    from cds.quality.batch import BatchOptions
    from cds.rules import RuleSet
    from cds.rules.errors import RuleSetError

    assert isinstance(options, BatchOptions)
    for spec in options.evaluators:
        try:
            ruleset = RuleSet.load(spec.rules_dir, list(spec.overrides))
        except RuleSetError as exc:
            first = str(exc.errors[0]) if exc.errors else "invalid"
            more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
            raise UserError(f"rule set {spec.rules_dir} does not load: {first}{more}") from None
        for warning in ruleset.warnings:
            typer.echo(f"warning: {warning}", err=True)


def register(app: typer.Typer) -> None:
    app.command("screen")(screen)
