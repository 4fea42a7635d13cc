"""`cds model train` and `cds model evaluate` from the command line."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import typer
from typer.testing import CliRunner

from cds.cli import UserError
from cds.cli.model import register

from .conftest import synthetic_frame


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def cds(*args: str) -> Run:
    """Run `cds <args>` in-process; a UserError becomes exit 2 and a one-line stderr, as `cds.cli.main` does."""
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps `model` a sub-group
    result = CliRunner().invoke(app, list(args))
    if isinstance(result.exception, UserError):
        return Run(2, result.stdout, f"cds: error: {result.exception}\n")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, "")


def test_user_errors_reach_the_shell_as_one_line_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from cds.cli import main; main()", "model", "evaluate", "--data", str(tmp_path / "x.csv")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("cds: error: ") and result.stderr.strip().count("\n") == 0


def test_evaluate_prints_model_and_both_baselines_overall_and_70_plus(trained_dir: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.csv"
    synthetic_frame(800, seed=99).to_csv(fresh, index=False)
    result = cds("model", "evaluate", "--data", str(fresh), "--model", str(trained_dir))
    assert result.returncode == 0, result.stderr
    for text in ("model", "LACE-style", "HOSPITAL-style", "AUROC [95% CI]", "AUPRC", "Brier", "all rows", "age 70+"):
        assert text in result.stdout
    assert "Not the training file" in result.stdout
    assert "Rows not used in training" not in result.stdout


def test_evaluate_on_another_file_splits_off_no_rows_even_when_rows_equal_training_rows(
    trained_dir: Path, synthetic_csv: Path, tmp_path: Path
) -> None:
    # the training file's first 500 rows: same content as training rows, but not the training file
    part = tmp_path / "part.csv"
    part.write_text("".join(synthetic_csv.read_text().splitlines(keepends=True)[:501]))
    report = json.loads(cds("model", "evaluate", "--data", str(part), "--model", str(trained_dir), "--json").stdout)
    assert report["data"]["is_training_file"] is False
    assert report["data"]["rows_used_in_training"] == 0
    assert set(report["evaluations"]) == {"all"}
    assert report["evaluations"]["all"]["rows"] == 500


def test_evaluate_on_the_gzipped_training_file_redoes_the_training_split(
    trained_dir: Path, synthetic_csv: Path, tmp_path: Path
) -> None:
    packed = tmp_path / "synthetic.csv.gz"
    packed.write_bytes(gzip.compress(synthetic_csv.read_bytes(), mtime=0))
    report = json.loads(cds("model", "evaluate", "--data", str(packed), "--model", str(trained_dir), "--json").stdout)
    assert report["data"]["is_training_file"] is True
    assert report["evaluations"]["held_out"]["rows"] == 600


def test_evaluate_on_the_training_file_reports_the_rows_not_used_in_training(
    trained_dir: Path, synthetic_csv: Path
) -> None:
    result = cds("model", "evaluate", "--data", str(synthetic_csv), "--model", str(trained_dir), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["data"]["is_training_file"] is True
    assert report["data"]["rows_used_in_training"] == 2400  # train 60% + validation 20% of 3000
    assert report["evaluations"]["held_out"]["rows"] == 600
    assert set(report["evaluations"]["held_out"]["metrics"]) == {"all", "age_70_plus"}


def test_evaluate_names_the_missing_columns_in_one_line(trained_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    synthetic_frame(50, seed=1).drop(columns=["duration", "n_procedures"]).to_csv(bad, index=False)
    result = cds("model", "evaluate", "--data", str(bad), "--model", str(trained_dir))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "missing columns: duration, n_procedures" in result.stderr


def test_evaluate_refuses_a_model_directory_without_an_artefact(tmp_path: Path, synthetic_csv: Path) -> None:
    result = cds("model", "evaluate", "--data", str(synthetic_csv), "--model", str(tmp_path))
    assert result.returncode == 2
    assert "no model metadata" in result.stderr


def test_train_writes_artefact_plots_and_card(synthetic_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = cds("model", "train", "--data", str(synthetic_csv), "--out", str(out), "--seed", "3")
    assert result.returncode == 0, result.stderr
    names = {p.name for p in out.iterdir()}
    assert {"model.skops", "metadata.json", "training_rows.npy", "roc.png", "calibration.png", "MODEL_CARD.md"} <= names
    card = (out / "MODEL_CARD.md").read_text()
    assert "not validated for **Norwegian frail elderly**" in card
    assert "![ROC](roc.png)" in card


def test_train_with_a_missing_data_file_is_a_one_line_error(tmp_path: Path) -> None:
    result = cds("model", "train", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "m"))
    assert result.returncode == 2
    assert "data file not found" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_rejects_an_unknown_outcome_value(trained_dir: Path, tmp_path: Path) -> None:
    frame = synthetic_frame(20, seed=2)
    frame.loc[0, "readmitted"] = "<30"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    result = cds("model", "evaluate", "--data", str(bad), "--model", str(trained_dir))
    assert result.returncode == 2
    assert "readmitted" in result.stderr


def test_cds_evaluate_with_a_tampered_model_is_one_line_and_exit_2(trained_dir: Path, tmp_path: Path) -> None:
    import os
    import shutil

    tampered = tmp_path / "model"
    shutil.copytree(trained_dir, tampered)
    metadata = json.loads((tampered / "metadata.json").read_text())
    metadata["reference_values"]["age_band"] = 0.0
    (tampered / "metadata.json").write_text(json.dumps(metadata))
    bundle = Path(__file__).resolve().parents[2] / "fhir_examples" / "bundles" / "a-ingrid-haugen.json"
    env = {
        **os.environ,
        "CDS_MODEL_DIR": str(tampered),
        "CDS_DATA_DIR": str(tmp_path / "data"),
        "CDS_PSEUDONYM_KEY": "model-test-pseudonym-key-0123456789",
    }
    result = subprocess.run(
        [sys.executable, "-c", "from cds.cli import main; main()", "evaluate", "--hook", "encounter-discharge",
         "--patient", "a-patient", str(bundle)],
        capture_output=True, text=True, check=False, env=env,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("cds: error: checksum mismatch") and result.stderr.strip().count("\n") == 0
