"""`cds cohort generate`: a synthetic Norwegian-shaped cohort as FHIR R4 bulk NDJSON."""

from __future__ import annotations

from pathlib import Path

import typer

from cds.cli import UserError

cohort_app = typer.Typer(help="Synthetic patient cohorts (FHIR R4 bulk NDJSON) for screening, backtests and KPIs.")


@cohort_app.command("generate")
def generate(
    patients: int = typer.Option(1000, "--patients", "-n", min=1, help="number of patients"),
    seed: int = typer.Option(1, "--seed", "-s", help="random seed (same seed, same files)"),
    out: Path = typer.Option(..., "--out", "-o", help="output directory (one NDJSON file per resource type)"),
    cfs_share: float | None = typer.Option(
        None, "--cfs-share", help="share of contacts with patients 70+ that get a CFS documented (default: calibration)"
    ),
    calibration: Path | None = typer.Option(
        None, "--calibration", help="a calibration YAML of the shape of cds/quality/data/cohort.yaml"
    ),
    force: bool = typer.Option(False, "--force", help="replace the NDJSON files of an existing output directory"),
) -> None:
    """Generate a reproducible synthetic cohort (synthetic fødselsnummer, real kommunenummer)."""
    from cds.quality.calibration import CalibrationError, load_calibration
    from cds.quality.cohort import generate_cohort

    try:
        cal = load_calibration(calibration)
        summary = generate_cohort(patients, seed, out, calibration=cal, cfs_share=cfs_share, overwrite=force)
    except (CalibrationError, ValueError, FileExistsError) as exc:
        raise UserError(str(exc)) from exc
    except OSError as exc:
        raise UserError(f"cannot write to {out}: {exc.strerror}") from exc
    typer.echo(f"wrote {summary.patients} patients (seed {seed}) to {out}")
    for rtype, count in summary.files.items():
        typer.echo(f"  {rtype + '.ndjson':<24} {count:>8}")
    typer.echo("realised calibration:")
    for name, value in summary.figures.items():
        typer.echo(f"  {name:<40} {value:8.3f}")


def register(app: typer.Typer) -> None:
    app.add_typer(cohort_app, name="cohort")
