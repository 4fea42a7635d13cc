"""`cds model train` and `cds model evaluate`: the learned 30-day readmission model.

Paths default relative to the repository root (the nearest folder upwards from
the current directory holding ``pyproject.toml`` and ``models/``; else the
checkout the package runs from): training data
``data/readmission/readmission_dev_full.csv.gz``, artefact ``models/readmission``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from cds import bundled
from cds.cli import UserError

__all__ = ["register"]

DEFAULT_DATA = Path("data/readmission/readmission_dev_full.csv.gz")
DEFAULT_MODEL = Path("models/readmission")
_LABELS = {"model": "model", "lace_style": "LACE-style", "hospital_style": "HOSPITAL-style"}
_GROUP_LABELS = {"all": "all rows", "age_70_plus": "age 70+"}


def repo_root() -> Path:
    """The repository root the default paths are resolved from."""
    return bundled.REPO_ROOT


def _resolve(path: Path | None, default: Path) -> Path:
    if path is not None:
        return path
    return (repo_root() / default).resolve()


def _train(data: Path | None, out: Path | None, seed: int, cv_folds: int) -> None:
    from cds.model.artefact import ArtefactError, load_metadata, write_artefact
    from cds.model.card import render_card
    from cds.model.crossval import cross_validate
    from cds.model.dataset import DatasetError, read_readmission_csv
    from cds.model.plots import write_plots
    from cds.model.training import train

    data_path = _resolve(data, DEFAULT_DATA)
    out_dir = _resolve(out, DEFAULT_MODEL)
    try:
        rows = read_readmission_csv(data_path)
        result = train(rows, seed=seed)
        result.metadata["training_data"]["left_out_died"] = rows.left_out_died
        if cv_folds:
            result.metadata["cross_validation"] = cross_validate(rows, seed=seed, folds=cv_folds)
    except (DatasetError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    try:
        write_artefact(out_dir, result.estimator, result.metadata, result.training_rows)
        metadata = load_metadata(out_dir)  # as stored (sorted keys), so the card is the same when rendered again
    except ArtefactError as exc:
        raise UserError(str(exc)) from exc
    write_plots(out_dir, result.test, result.test_probability, metadata["held_out_metrics"])
    (out_dir / "MODEL_CARD.md").write_text(render_card(metadata), encoding="utf-8")
    held = metadata["held_out_metrics"]["all"]
    typer.echo(f"trained {metadata['version']} ({metadata['candidates']['chosen']}) on {len(rows):,} rows -> {out_dir}")
    typer.echo(f"model.skops sha256 {metadata['artefact']['model_sha256']}")
    for name, m in held.items():
        typer.echo(f"held-out AUROC {_LABELS[name]:<15} {_auroc(m)}")
    if "cross_validation" in metadata:
        cv = metadata["cross_validation"]
        for group, metrics in cv["metrics"].items():
            for name, m in metrics.items():
                typer.echo(f"{cv['folds']}-fold CV AUROC {_GROUP_LABELS[group]:<9} {_LABELS[name]:<15} {_auroc(m)}")


def _auroc(m: dict[str, Any]) -> str:
    if m["n"] == 0:
        return "n/a (no rows)"
    if m["auroc"] is None:
        return "n/a (one outcome only)"
    return f"{m['auroc']:.3f} [{m['auroc_low']:.3f}-{m['auroc_high']:.3f}]"


def _evaluate(data: Path, model_dir: Path | None, as_json: bool) -> None:
    from cds.model.artefact import ArtefactError
    from cds.model.dataset import DatasetError, read_readmission_csv
    from cds.model.evaluation import evaluate_rows
    from cds.model.readmission import ReadmissionModel
    from cds.model.training import split_indices

    directory = _resolve(model_dir, DEFAULT_MODEL)
    try:
        model = ReadmissionModel.load(directory)
        rows = read_readmission_csv(data)
    except (ArtefactError, DatasetError) as exc:
        raise UserError(str(exc)) from exc
    probability = model.predict_proba(rows.features.to_numpy())
    # Rows are only told apart on the training file itself (same content hash): there the seeded split
    # is redone exactly. Matching rows of another file by content is biased on coarse features (equal
    # rows of different patients would be removed), so another file is evaluated whole.
    trained = np.zeros(len(rows), dtype=bool)
    is_training_file = rows.file_sha256 == model.metadata.get("training_data", {}).get("sha256")
    if is_training_file:
        parts = split_indices(rows.outcome, int(model.metadata["seed"]))
        trained[parts["train"]] = True
        trained[parts["validation"]] = True
    blocks: dict[str, dict[str, Any]] = {}
    if is_training_file:
        blocks["held_out"] = _block(rows.subset(~trained), probability[~trained], evaluate_rows)
    blocks["all"] = _block(rows, probability, evaluate_rows)
    report = {
        "model": {"version": model.version, "directory": str(directory)},
        "data": {
            "path": str(data),
            "sha256": rows.file_sha256,
            "rows": len(rows),
            "events": int(rows.outcome.sum()),
            "is_training_file": bool(is_training_file),
            "rows_used_in_training": int(trained.sum()),
        },
        "evaluations": blocks,
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(_text_report(report))


def _block(rows: Any, probability: np.ndarray, evaluate_rows: Any) -> dict[str, Any]:
    return {"rows": len(rows), "events": int(rows.outcome.sum()), "metrics": evaluate_rows(rows, probability)}


def _text_report(report: dict[str, Any]) -> str:
    d = report["data"]
    lines = [
        f"Readmission model {report['model']['version']} ({report['model']['directory']})",
        f"Data {d['path']}: {d['rows']:,} rows, {d['events']:,} readmitted within 30 days",
    ]
    if d["is_training_file"]:
        lines.append(
            f"This is the training file: {d['rows_used_in_training']:,} of its rows were used in training "
            "(train + validation, the same seeded split); metrics on all rows are optimistic for the model."
        )
    else:
        lines.append(
            "Not the training file (its content differs), so no rows are split off; if it shares rows with "
            "the training data, the metrics are optimistic for the model."
        )
    titles = {"held_out": "Rows not used in training", "all": "All given rows"}
    for key, block in report["evaluations"].items():
        lines += ["", f"{titles[key]}: {block['rows']:,} rows, {block['events']:,} readmitted"]
        lines.append(f"  {'':<11}{'scorer':<16}{'AUROC [95% CI]':<24}{'AUPRC':>7}{'Brier':>8}   model - scorer AUROC [95% CI]")
        for group, metrics in block["metrics"].items():
            first = next(iter(metrics.values()))
            label = f"{_GROUP_LABELS[group]} (n={first['n']:,}, events={first['events']:,})"
            lines.append(f"  {label}")
            for scorer, m in metrics.items():
                auprc = "-" if m["auprc"] is None else f"{m['auprc']:.3f}"
                brier = "-" if m["brier"] is None else f"{m['brier']:.4f}"
                diff = m.get("model_auroc_difference")
                diff_text = "" if not diff else f"{diff['estimate']:+.3f} [{diff['low']:+.3f} to {diff['high']:+.3f}]"
                lines.append(f"  {'':<11}{_LABELS[scorer]:<16}{_auroc(m):<24}{auprc:>7}{brier:>8}   {diff_text}")
    lines += [
        "",
        (
            "Baselines use only the items these columns allow (LACE-style: L, A, E from ED visits in 12 months; "
            "HOSPITAL-style: P, IT, A, L); see src/cds/model/data/baselines.yaml."
        ),
    ]
    return "\n".join(lines)


def _local_cohort(directory: Path, min_age: int) -> Any:
    from cds.model.local import read_export
    from cds.quality.export import ExportError

    try:
        return read_export(directory, min_age=min_age)
    except ExportError as exc:
        raise UserError(str(exc)) from exc


def _validate(directory: Path, model_dir: Path | None, min_age: int, accept: bool, min_events: int, as_json: bool) -> None:
    from datetime import UTC, datetime

    from cds.model.artefact import ArtefactError, write_metadata
    from cds.model.local import validate_export
    from cds.model.readmission import ReadmissionModel

    target = _resolve(model_dir, DEFAULT_MODEL)
    try:
        model = ReadmissionModel.load(target)
    except ArtefactError as exc:
        raise UserError(str(exc)) from exc
    cohort = _local_cohort(directory, min_age)
    if not cohort.stays:
        raise UserError(f"{directory}: no index stays (finished inpatient stays, age >= {min_age}, 30 days of follow-up)")
    report = validate_export(cohort, model)
    report["model"] = model.version
    report["min_age"] = min_age
    if accept:
        m = report["metrics"]["model"]
        if m["events"] < min_events or m["auroc"] is None:
            raise UserError(
                f"not accepted: {m['events']} readmissions among the stays the model scored; "
                f"at least {min_events} are needed (--min-events) to judge it"
            )
        metadata = dict(model.metadata)
        metadata["validation"] = {
            "accepted": True,
            "accepted_at": datetime.now(UTC).date().isoformat(),
            "export_sha256": report["export_sha256"],
            "summary": (
                f"{report['stays']:,} index stays aged {min_age}+ ({report['events']:,} readmitted within 8 h-30 days), "
                f"model AUROC {m['auroc']:.3f} [{m['auroc_low']:.3f}-{m['auroc_high']:.3f}] on "
                f"{report['model_predictions']:,} stays"
            ),
            "report": report,
        }
        write_metadata(target, metadata)
        report["accepted"] = True
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    lines = [
        (
            f"Readmission model {model.version} on {directory}: {report['stays']:,} index stays aged {min_age}+, "
            f"{report['events']:,} acute readmissions 8 h-30 days after discharge"
        ),
        (
            f"  model predictions: {report['model_predictions']:,} (no prediction: "
            f"{report['model_no_prediction']['feature_unknown']:,} with a feature unknown, "
            f"{report['model_no_prediction']['outside_training_data']:,} outside the training data)"
        ),
    ]
    for name, label in (("model", "model"), ("lace", "LACE"), ("hospital", "HOSPITAL")):
        m = report["metrics"][name]
        lines.append(f"  {label:<9} n={m['n']:,} events={m['events']:,} AUROC {_auroc(m)}")
    for name, label in (("lace", "LACE"), ("hospital", "HOSPITAL")):
        d = report["model_minus"][name]
        if d is not None:
            lines.append(f"  model - {label} on {report['paired_stays']:,} stays: {d['estimate']:+.3f} [{d['low']:+.3f} to {d['high']:+.3f}]")
    cal = report["calibration"]
    if cal is not None and cal["expected_over_observed"] is not None:
        lines.append(f"  calibration: expected/observed {cal['expected_over_observed']:.2f}, slope {_fmt_slope(cal['slope'])}")
    lines.append("Accepted: the cards now show this model." if accept else "Not accepted (use --accept to set the validated flag).")
    typer.echo("\n".join(lines))


def _fmt_slope(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _train_from_fhir(directory: Path, out: Path, seed: int, cv_folds: int, min_age: int) -> None:
    from cds.model.artefact import ArtefactError, load_metadata, write_artefact
    from cds.model.card import render_card
    from cds.model.crossval import cross_validate
    from cds.model.dataset import ReadmissionData, row_fingerprints
    from cds.model.local import feature_frame
    from cds.model.training import train

    cohort = _local_cohort(directory, min_age)
    features, outcome = feature_frame(cohort)
    if len(features) == 0:
        raise UserError(f"{directory}: no index stay with every model feature known")
    data = ReadmissionData(
        features=features,
        outcome=outcome,
        age70=features["age_band"].to_numpy() >= 70,
        fingerprints=row_fingerprints(features, outcome),
        file_sha256=cohort.export_sha256,
    )
    try:
        result = train(data, seed=seed)
        result.metadata["training_data"]["source"] = f"FHIR bulk export, index stays aged {min_age}+"
        if cv_folds:
            result.metadata["cross_validation"] = cross_validate(data, seed=seed, folds=cv_folds)
        write_artefact(out, result.estimator, result.metadata, result.training_rows)
        metadata = load_metadata(out)
    except (ValueError, ArtefactError) as exc:
        raise UserError(str(exc)) from exc
    (out / "MODEL_CARD.md").write_text(render_card(metadata), encoding="utf-8")
    held = metadata["held_out_metrics"]["all"]["model"]
    typer.echo(f"trained {metadata['version']} on {len(data):,} index stays from {directory} -> {out}")
    typer.echo(f"held-out AUROC model {_auroc(held)}")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The learned 30-day readmission model.", no_args_is_help=True)

    @group.command("train")
    def train_command(
        data: Annotated[
            Path | None,
            typer.Option(help="readmission CSV, .csv or .csv.gz (default: data/readmission/readmission_dev_full.csv.gz)"),
        ] = None,
        out: Annotated[Path | None, typer.Option(help="artefact directory (default: models/readmission)")] = None,
        seed: Annotated[int, typer.Option(help="seed for the split and the models")] = 2026,
        cv_folds: Annotated[
            int, typer.Option(min=0, help="folds of the cross-validation the model card reports (0: none)")
        ] = 5,
        from_fhir: Annotated[
            Path | None, typer.Option("--from-fhir", help="train on a site's FHIR bulk export (NDJSON directory)")
        ] = None,
        min_age: Annotated[int, typer.Option(help="with --from-fhir: index stays of patients this old or older")] = 67,
    ) -> None:
        """Train, calibrate and evaluate the model (and cross-validate the recipe); write artefact and model card."""
        if cv_folds == 1:
            raise UserError("--cv-folds must be 0 (no cross-validation) or at least 2")
        if from_fhir is not None:
            if out is None:
                raise UserError("--from-fhir needs --out (the committed model is trained from the development data)")
            _train_from_fhir(from_fhir, out, seed, cv_folds, min_age)
            return
        _train(data, out, seed, cv_folds)

    @group.command("evaluate")
    def evaluate_command(
        data: Annotated[Path, typer.Option(help="CSV with the columns of the readmission data")],
        model: Annotated[Path | None, typer.Option(help="artefact directory (default: models/readmission)")] = None,
        json_output: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    ) -> None:
        """AUROC [95% CI], AUPRC and Brier of the model and LACE-/HOSPITAL-style baselines on the rows given."""
        _evaluate(data, model, json_output)

    @group.command("validate")
    def validate_command(
        directory: Annotated[Path, typer.Argument(help="FHIR bulk export (NDJSON files), e.g. from cds cohort generate")],
        model: Annotated[Path | None, typer.Option(help="artefact directory (default: models/readmission)")] = None,
        min_age: Annotated[int, typer.Option(help="index stays of patients this old or older (indicator: 67)")] = 67,
        accept: Annotated[bool, typer.Option("--accept", help="set the model's validated flag (the cards then show it)")] = False,
        min_events: Annotated[int, typer.Option(help="readmissions needed before --accept is allowed")] = 100,
        json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Validate the model on a site's own history: outcome as the Norwegian indicator, model vs LACE/HOSPITAL."""
        _validate(directory, model, min_age, accept, min_events, json_output)

    app.add_typer(group, name="model")
