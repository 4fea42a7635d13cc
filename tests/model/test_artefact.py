"""The artefact: reproducible bytes, checksum verified before loading, type allowlist."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

from cds.model.artefact import (
    CHECKSUMS_FILE,
    METADATA_FILE,
    MODEL_FILE,
    ArtefactError,
    write_artefact,
    write_metadata,
)
from cds.model.dataset import read_readmission_csv
from cds.model.readmission import ReadmissionModel
from cds.model.training import train


def test_training_twice_gives_the_same_model_file_bit_for_bit(synthetic_csv: Path, tmp_path: Path) -> None:
    data = read_readmission_csv(synthetic_csv)
    first = write_artefact(tmp_path / "a", *_parts(train(data, seed=5)))
    second = write_artefact(tmp_path / "b", *_parts(train(data, seed=5)))
    assert first["artefact"]["model_sha256"] == second["artefact"]["model_sha256"]
    assert (tmp_path / "a" / MODEL_FILE).read_bytes() == (tmp_path / "b" / MODEL_FILE).read_bytes()


def _parts(result):  # noqa: ANN001, ANN202 - small helper
    return result.estimator, result.metadata, result.training_rows


def test_loaded_model_predicts_what_was_trained(synthetic_csv: Path, tmp_path: Path) -> None:
    result = train(read_readmission_csv(synthetic_csv), seed=5)
    write_artefact(tmp_path, *_parts(result))
    model = ReadmissionModel.load(tmp_path)
    assert np.array_equal(model.predict_proba(result.test.features.to_numpy()), result.test_probability)


def test_a_changed_model_file_is_refused(trained_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(trained_dir, copy)
    data = bytearray((copy / MODEL_FILE).read_bytes())
    data[-30] ^= 0xFF
    (copy / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ArtefactError, match="checksum mismatch"):
        ReadmissionModel.load(copy)


def test_a_model_with_types_outside_the_allowlist_is_refused_even_with_a_matching_checksum(
    trained_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "m"
    shutil.copytree(trained_dir, copy)
    hostile = sio.dumps(FunctionTransformer(func=os.system))
    (copy / MODEL_FILE).write_bytes(hostile)
    metadata = json.loads((copy / METADATA_FILE).read_text())
    metadata["artefact"]["model_sha256"] = hashlib.sha256(hostile).hexdigest()
    write_metadata(copy, metadata)  # checksums refreshed too: only the allowlist stands in the way
    with pytest.raises(ArtefactError, match="outside the allowlist"):
        ReadmissionModel.load(copy)


def test_a_missing_metadata_file_is_refused(trained_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(trained_dir, copy)
    (copy / METADATA_FILE).unlink()
    with pytest.raises(ArtefactError, match="no model metadata"):
        ReadmissionModel.load(copy)


def test_metadata_records_seed_split_data_hash_and_versions(trained_dir: Path, synthetic_csv: Path) -> None:
    metadata = json.loads((trained_dir / METADATA_FILE).read_text())
    assert metadata["seed"] == 11
    assert metadata["training_data"]["sha256"] == hashlib.sha256(synthetic_csv.read_bytes()).hexdigest()
    assert sum(metadata["split"]["rows"].values()) == 3000
    assert {"scikit-learn", "numpy", "python"} <= set(metadata["versions"])
    assert set(metadata["held_out_metrics"]) == {"all", "age_70_plus"}


def test_changed_metadata_is_refused_because_the_checksums_cover_it(trained_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(trained_dir, copy)
    metadata = json.loads((copy / METADATA_FILE).read_text())
    metadata["reference_values"]["prior_inpatient"] = 40.0  # would change every explanation
    (copy / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ArtefactError, match="checksum mismatch for .*metadata.json"):
        ReadmissionModel.load(copy)


def test_an_artefact_without_a_checksum_file_is_refused(trained_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(trained_dir, copy)
    (copy / CHECKSUMS_FILE).unlink()
    with pytest.raises(ArtefactError, match="SHA256SUMS"):
        ReadmissionModel.load(copy)


def test_the_committed_artefact_matches_its_checksum_file() -> None:
    committed = Path(__file__).resolve().parents[2] / "models" / "readmission"
    lines = (committed / CHECKSUMS_FILE).read_text().splitlines()
    for line in lines:
        digest, name = line.split("  ")
        assert hashlib.sha256((committed / name).read_bytes()).hexdigest() == digest, name
    assert len(lines) == 3
