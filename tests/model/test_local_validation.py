"""Local validation from a FHIR bulk export: outcome as the Norwegian indicator, end to end through the CLI."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cds.model.fhir_rows import row_to_fhir
from cds.model.readmission import ReadmissionModel

from .conftest import synthetic_frame
from .test_cli import cds

FIRST_ADMISSION = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def _encounter(eid: str, patient: str, start: datetime, *, emergency: bool, klass: str = "IMP") -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": klass},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority", "code": "EM" if emergency else "R"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "period": {"start": start.isoformat(), "end": (start + timedelta(days=2)).isoformat()},
    }


def write_cohort(directory: Path, n: int, seed: int, *, readmit_after: timedelta | None = timedelta(days=5)) -> list[int]:
    """Synthetic readmission rows as a FHIR bulk export; a readmitted row gets an acute admission after discharge."""
    frame = synthetic_frame(n, seed=seed).astype(str)
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    outcomes = []
    for i, row in enumerate(frame.to_dict(orient="records")):
        admitted = FIRST_ADMISSION + timedelta(days=(i % 200))
        fhir = row_to_fhir(row, admitted=admitted, prefix=f"p{i}")
        resources = list(fhir.resources)
        if row["readmitted"] == "Yes" and readmit_after is not None:
            resources.append(_encounter(f"p{i}-again", fhir.patient_id, fhir.discharged + readmit_after, emergency=True))
        # a later visit, so every index stay has its 30 days of follow-up inside the export
        resources.append(_encounter(f"p{i}-later", fhir.patient_id, fhir.discharged + timedelta(days=90), emergency=False, klass="AMB"))
        outcomes.append(int(row["readmitted"] == "Yes"))
        for resource in resources:
            by_type[resource["resourceType"]].append(resource)
    directory.mkdir(parents=True, exist_ok=True)
    for rtype, items in by_type.items():
        (directory / f"{rtype}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in items))
    return outcomes


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cohort") / "export"
    write_cohort(directory, 240, seed=31)
    return directory


def test_the_outcome_follows_the_indicator_window(tmp_path: Path) -> None:
    from cds.model.local import read_export

    # earlier inpatient visits of a row followed by its acute stay are readmissions too: count on top of those
    write_cohort(tmp_path / "none", 40, seed=5, readmit_after=None)
    before = sum(s.readmitted for s in read_export(tmp_path / "none", min_age=0).stays)
    for after, expected in ((timedelta(hours=7), 0), (timedelta(hours=9), 1), (timedelta(days=30), 1), (timedelta(days=31), 0)):
        directory = tmp_path / str(after.total_seconds())
        outcomes = write_cohort(directory, 40, seed=5, readmit_after=after)
        stays = read_export(directory, min_age=0).stays
        readmitted_rows = sum(outcomes)
        assert readmitted_rows > 0
        assert sum(s.readmitted for s in stays) - before == (readmitted_rows if expected else 0), after


def test_validate_reports_the_model_and_both_published_scores(trained_dir: Path, cohort_dir: Path) -> None:
    result = cds("model", "validate", str(cohort_dir), "--model", str(trained_dir), "--min-age", "0", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["events"] > 20
    assert report["model_predictions"] > 0
    assert set(report["metrics"]) == {"model", "lace", "hospital"}
    assert report["metrics"]["model"]["auroc"] > 0.5
    assert report["metrics"]["lace"]["n"] > 0
    assert report["calibration"]["expected_over_observed"] > 0


def test_validate_counts_only_patients_of_the_indicator_age(trained_dir: Path, cohort_dir: Path) -> None:
    everyone = json.loads(cds("model", "validate", str(cohort_dir), "--model", str(trained_dir), "--min-age", "0", "--json").stdout)
    older = json.loads(cds("model", "validate", str(cohort_dir), "--model", str(trained_dir), "--json").stdout)
    assert 0 < older["stays"] < everyone["stays"]
    assert older["skipped"]["younger"] > 0


def test_accept_sets_the_validated_flag_under_the_checksums(trained_dir: Path, cohort_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(trained_dir, copy)
    assert ReadmissionModel.load(copy).validated is False
    refused = cds("model", "validate", str(cohort_dir), "--model", str(copy), "--min-age", "0", "--accept", "--min-events", "5000")
    assert refused.returncode == 2 and "at least 5000" in refused.stderr
    assert ReadmissionModel.load(copy).validated is False
    accepted = cds("model", "validate", str(cohort_dir), "--model", str(copy), "--min-age", "0", "--accept", "--min-events", "10")
    assert accepted.returncode == 0, accepted.stderr
    model = ReadmissionModel.load(copy)  # loads: SHA256SUMS was refreshed with the new metadata
    assert model.validated is True
    assert model.metadata["validation"]["report"]["metrics"]["model"]["events"] >= 10


def test_train_from_fhir_writes_a_loadable_artefact(cohort_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "local-model"
    result = cds("model", "train", "--from-fhir", str(cohort_dir), "--out", str(out), "--min-age", "0", "--cv-folds", "0")
    assert result.returncode == 0, result.stderr
    model = ReadmissionModel.load(out)
    assert model.metadata["training_data"]["source"].startswith("FHIR bulk export")
    assert model.validated is False


def test_validate_on_a_directory_without_an_export_is_one_line(trained_dir: Path, tmp_path: Path) -> None:
    result = cds("model", "validate", str(tmp_path), "--model", str(trained_dir))
    assert result.returncode == 2 and "ndjson" in result.stderr
