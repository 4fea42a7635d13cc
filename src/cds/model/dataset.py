"""Reading the readmission CSV: column check, outcome, features and row fingerprints.

A row's fingerprint is a 64-bit prefix of the SHA-256 of its canonical content
(the outcome and the feature source columns, numbers normalised), so a file can
be checked for rows the model was trained on without keeping the rows.
A file may be gzipped (``.csv.gz``, as the development data ships); its
checksum is that of the CSV inside, so compressing a file does not change it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cds.model.features import (
    CSV_FEATURE_COLUMNS,
    CsvFormatError,
    FeatureConfig,
    features_from_frame,
)

__all__ = ["OUTCOME_COLUMN", "REQUIRED_COLUMNS", "DatasetError", "ReadmissionData", "read_readmission_csv"]

OUTCOME_COLUMN = "readmitted"
REQUIRED_COLUMNS: tuple[str, ...] = (OUTCOME_COLUMN, *CSV_FEATURE_COLUMNS)
_OUTCOME_VALUES = {"Yes": 1, "No": 0}


class DatasetError(ValueError):
    """The CSV cannot be used (missing file or columns, bad values); the message is one line."""


@dataclass(frozen=True)
class ReadmissionData:
    """Rows of the readmission data: features, outcome, age-70+ flag and row fingerprints."""

    features: pd.DataFrame
    outcome: np.ndarray
    age70: np.ndarray
    fingerprints: np.ndarray  # uint64, one per row
    file_sha256: str
    left_out_died: int = 0  # stays that ended in death, not rows of the data (see `read_readmission_csv`)  # SHA-256 of the CSV text (decompressed when the file is .gz)

    def __len__(self) -> int:
        return len(self.outcome)

    def subset(self, mask: np.ndarray) -> ReadmissionData:
        return ReadmissionData(
            features=self.features[mask].reset_index(drop=True),
            outcome=self.outcome[mask],
            age70=self.age70[mask],
            fingerprints=self.fingerprints[mask],
            file_sha256=self.file_sha256,
        )


def read_readmission_csv(path: Path) -> ReadmissionData:
    """Read and check a CSV with the columns of the readmission data (``readmission_dev_full.csv``).

    Stays that ended in death (``discharge_disposition_id`` in the ``died`` codes of
    ``data/features.yaml``) are left out: they cannot be readmitted, and the model is
    never asked about a patient who died. ``left_out_died`` counts them.
    """
    if not path.is_file():
        raise DatasetError(f"data file not found: {path}")
    raw_bytes = path.read_bytes()
    try:
        if path.suffix == ".gz":  # the hash is of the CSV text, so a .csv and its .csv.gz have the same one
            raw_bytes = gzip.decompress(raw_bytes)
        frame = pd.read_csv(io.BytesIO(raw_bytes), keep_default_na=False, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, gzip.BadGzipFile, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable CSV ({type(exc).__name__})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing columns: {', '.join(missing)}")
    if frame.empty:
        raise DatasetError(f"{path}: no rows")
    outcome_text = frame[OUTCOME_COLUMN].str.strip()
    bad = sorted(set(outcome_text) - set(_OUTCOME_VALUES))
    if bad:
        raise DatasetError(f"{path}: column 'readmitted' must be Yes/No, found {bad[:3]}")
    disposition = pd.to_numeric(frame["discharge_disposition_id"], errors="coerce")
    died = disposition.isin(sorted(FeatureConfig.load().died_uci_ids)).to_numpy()
    if died.all():
        raise DatasetError(f"{path}: every stay ended in death; nothing to learn a readmission from")
    frame = frame[~died].reset_index(drop=True)  # no readmission possible; never a prediction for them
    outcome_text = outcome_text[~died].reset_index(drop=True)
    try:
        features = features_from_frame(frame)
    except CsvFormatError as exc:
        raise DatasetError(f"{path}: {exc}") from exc
    outcome = outcome_text.map(_OUTCOME_VALUES).to_numpy(dtype=np.int64)
    return ReadmissionData(
        features=features,
        outcome=outcome,
        age70=(features["age_band"].to_numpy() >= 70),
        fingerprints=row_fingerprints(features, outcome),
        file_sha256=hashlib.sha256(raw_bytes).hexdigest(),
        left_out_died=int(died.sum()),
    )


def row_fingerprints(features: pd.DataFrame, outcome: np.ndarray) -> np.ndarray:
    """64-bit fingerprints of (features, outcome) rows; equal content gives equal fingerprints."""
    values = np.column_stack([features.to_numpy(dtype=float), outcome.astype(float)])
    out = np.empty(len(values), dtype=np.uint64)
    for i, row in enumerate(values):
        digest = hashlib.sha256(",".join(repr(float(v)) for v in row).encode()).digest()
        out[i] = int.from_bytes(digest[:8], "big")
    return out


def count_in_multiset(fingerprints: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mark rows matched against the reference multiset (each reference entry used once).

    Returns a boolean mask: True for rows whose content equals a still-unmatched
    reference row. On the training file itself this marks exactly as many rows of
    each content as were in the training set, so the unmarked rows have the same
    content as the held-out rows.
    """
    remaining: dict[int, int] = {}
    values, counts = np.unique(reference, return_counts=True)
    for v, c in zip(values.tolist(), counts.tolist(), strict=True):
        remaining[v] = c
    mask = np.zeros(len(fingerprints), dtype=bool)
    for i, fp in enumerate(fingerprints.tolist()):
        left = remaining.get(fp, 0)
        if left:
            mask[i] = True
            remaining[fp] = left - 1
    return mask
