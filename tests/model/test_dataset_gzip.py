"""Gzipped readmission CSV files (as data/readmission/ ships them) read as the plain CSV does."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from cds.model.dataset import DatasetError, read_readmission_csv

from .conftest import COMMITTED_MODEL, DEV_FULL_DATA


def test_gzipped_csv_gives_the_same_rows_and_checksum_as_the_plain_csv(synthetic_csv: Path, tmp_path: Path) -> None:
    packed = tmp_path / "synthetic.csv.gz"
    packed.write_bytes(gzip.compress(synthetic_csv.read_bytes(), mtime=0))
    plain, unpacked = read_readmission_csv(synthetic_csv), read_readmission_csv(packed)
    assert unpacked.file_sha256 == plain.file_sha256
    assert np.array_equal(unpacked.fingerprints, plain.fingerprints)
    assert np.array_equal(unpacked.outcome, plain.outcome)


def test_a_corrupt_gzip_file_is_a_one_line_dataset_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(b"readmitted,age\nYes,[70-80)\n")
    with pytest.raises(DatasetError, match=r"broken\.csv\.gz: not a readable CSV") as caught:
        read_readmission_csv(broken)
    assert "\n" not in str(caught.value)


def test_the_shipped_development_data_is_the_file_the_committed_model_names() -> None:
    metadata = json.loads((COMMITTED_MODEL / "metadata.json").read_text(encoding="utf-8"))
    assert DEV_FULL_DATA.is_file(), f"{DEV_FULL_DATA} must ship in the repository"
    assert read_readmission_csv(DEV_FULL_DATA).file_sha256 == metadata["training_data"]["sha256"]
