"""The model artefact on disk: a skops file, a checksum and a metadata sidecar.

Layout of an artefact directory (``models/readmission/``)::

    model.skops            the fitted scikit-learn estimator (skops format, no pickle)
    metadata.json          checksum, features, training data hash, seed, versions, metrics
    training_rows.npy      64-bit fingerprints of the rows used in training (uint64, no pickle)
    SHA256SUMS             SHA-256 of the three files above (``sha256sum -c`` format)

Loading first checks ``metadata.json`` against ``SHA256SUMS`` (`load_metadata`:
the metadata holds the reference values the explanations use, the feature
ranges of the out-of-distribution guard and the ``validated`` flag the cards
respect, so it is covered like the model), then (`load_estimator`) compares the
SHA-256 of ``model.skops`` with the checksum in ``metadata.json`` and refuses on
mismatch, then refuses any type in
the file that is not in `TRUSTED_TYPES` (an explicit allowlist in code, not in
the artefact), and only then lets skops build the objects. The checksum guards
against corruption and against a swapped file; it is not a signature: someone
who can write both files can change both.

skops names its internal nodes and array files by ``id()`` of the objects and
stamps the zip entries with the current time, so two dumps of the same model
differ. `canonical_dumps` renumbers the ids in order of appearance and fixes the
timestamps, so the same fitted model always gives the same bytes (and checksum).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio

__all__ = [
    "CHECKSUMS_FILE",
    "METADATA_FILE",
    "MODEL_FILE",
    "ROWS_FILE",
    "TRUSTED_TYPES",
    "ArtefactError",
    "canonical_dumps",
    "load_estimator",
    "load_metadata",
    "load_training_rows",
    "sha256_file",
    "write_artefact",
    "write_checksums",
    "write_metadata",
]

MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
ROWS_FILE = "training_rows.npy"
CHECKSUMS_FILE = "SHA256SUMS"

#: Types skops may build beyond its own default-trusted ones (sklearn estimators
#: and numpy/scipy primitives it already trusts). Review before adding to it.
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.frozen._frozen.FrozenEstimator",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.preprocessing._polynomial.SplineTransformer",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.pipeline.Pipeline",
    "scipy.interpolate._bsplines.BSpline",
    # the array namespace function a fitted BSpline keeps a reference to (a plain function, runs nothing on load)
    "scipy._lib.array_api_compat.numpy._aliases.asarray",
    # the log(1 + x) transform of prior visits (a numpy ufunc)
    "numpy.log1p",
    # gradient boosting with a categorical feature keeps FunctionTransformer(partial(check_array, ...)) inside;
    # skops also lists the function a partial wraps, so a partial of anything else is still refused
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
)

_FIXED_ZIP_TIME = (2000, 1, 1, 0, 0, 0)
_NPY_NAME = re.compile(r"^(\d+)\.npy$")


class ArtefactError(RuntimeError):
    """The artefact is missing, altered, or holds types that are not allowed (one-line message)."""


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def canonical_dumps(estimator: Any) -> bytes:
    """skops bytes of ``estimator`` that depend only on the estimator's content."""
    raw = zipfile.ZipFile(io.BytesIO(sio.dumps(estimator)))
    schema = json.loads(raw.read("schema.json"))
    mapping: dict[int, int] = {}

    def renumber(old: int) -> int:
        if old not in mapping:
            mapping[old] = len(mapping) + 1
        return mapping[old]

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    out[key] = renumber(value)
                elif key == "file" and isinstance(value, str) and _NPY_NAME.match(value):
                    out[key] = f"{renumber(int(_NPY_NAME.match(value).group(1)))}.npy"  # type: ignore[union-attr]
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    canonical = walk(schema)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        members: dict[str, bytes] = {}
        for name in raw.namelist():
            if name == "schema.json":
                continue
            match = _NPY_NAME.match(name)
            if match is None or int(match.group(1)) not in mapping:
                raise ArtefactError(f"unexpected member in skops dump: {name}")
            members[f"{mapping[int(match.group(1))]}.npy"] = raw.read(name)
        members["schema.json"] = json.dumps(canonical, indent=2, sort_keys=True).encode()
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            out.writestr(info, members[name])
    return buffer.getvalue()


def write_artefact(
    directory: Path, estimator: Any, metadata: dict[str, Any], training_rows: np.ndarray
) -> dict[str, Any]:
    """Write model, training-row fingerprints and metadata (with checksums); return the metadata."""
    directory.mkdir(parents=True, exist_ok=True)
    data = canonical_dumps(estimator)
    untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    if untrusted:
        raise ArtefactError("model holds types outside the allowlist: " + ", ".join(untrusted))
    (directory / MODEL_FILE).write_bytes(data)
    rows_buffer = io.BytesIO()
    np.save(rows_buffer, np.sort(training_rows.astype(np.uint64)), allow_pickle=False)
    (directory / ROWS_FILE).write_bytes(rows_buffer.getvalue())
    full = dict(metadata)
    full["artefact"] = {
        "model_file": MODEL_FILE,
        "model_sha256": hashlib.sha256(data).hexdigest(),
        "training_rows_file": ROWS_FILE,
        "training_rows_sha256": sha256_file(directory / ROWS_FILE),
        "format": f"skops (protocol via skops {sio_version()}), canonicalised ids and zip timestamps",
    }
    write_metadata(directory, full)
    return full


def write_metadata(directory: Path, metadata: dict[str, Any]) -> None:
    """Write ``metadata.json`` (sorted keys) and refresh ``SHA256SUMS``."""
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_checksums(directory)


def write_checksums(directory: Path) -> None:
    """``SHA256SUMS`` for the model, metadata and training-row files of ``directory``."""
    lines = [f"{sha256_file(directory / name)}  {name}\n" for name in (MODEL_FILE, METADATA_FILE, ROWS_FILE)]
    (directory / CHECKSUMS_FILE).write_text("".join(lines), encoding="ascii")


def _listed_checksums(directory: Path) -> dict[str, str]:
    path = directory / CHECKSUMS_FILE
    if not path.is_file():
        raise ArtefactError(f"no {CHECKSUMS_FILE} in {directory}: the artefact cannot be verified (retrain it)")
    listed: dict[str, str] = {}
    for line in path.read_text(encoding="ascii", errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        if re.fullmatch(r"[0-9a-f]{64}", digest) and name:
            listed[name.strip()] = digest
    return listed


def sio_version() -> str:
    import skops

    return str(skops.__version__)


def load_metadata(directory: Path) -> dict[str, Any]:
    path = directory / METADATA_FILE
    if not path.is_file():
        raise ArtefactError(f"no model metadata at {path}")
    expected = _listed_checksums(directory).get(METADATA_FILE)
    if expected is None:
        raise ArtefactError(f"{directory / CHECKSUMS_FILE} lists no checksum for {METADATA_FILE}")
    if sha256_file(path) != expected:
        raise ArtefactError(f"checksum mismatch for {path}: the metadata was changed after training")
    try:
        metadata: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtefactError(f"{path}: not valid JSON") from exc
    if "artefact" not in metadata or "model_sha256" not in metadata["artefact"]:
        raise ArtefactError(f"{path}: no model checksum")
    return metadata


def load_estimator(directory: Path, metadata: dict[str, Any]) -> Any:
    """Verify the checksum and the types, then load the estimator."""
    path = directory / MODEL_FILE
    if not path.is_file():
        raise ArtefactError(f"no model file at {path}")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    expected = metadata["artefact"]["model_sha256"]
    if actual != expected:
        raise ArtefactError(f"model checksum mismatch for {path}: expected {expected[:12]}..., got {actual[:12]}...")
    untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    if untrusted:
        raise ArtefactError(f"{path} holds types outside the allowlist: {', '.join(untrusted)}")
    return sio.loads(data, trusted=list(TRUSTED_TYPES))


def load_training_rows(directory: Path, metadata: dict[str, Any]) -> np.ndarray:
    """Fingerprints of the training rows, checksum-verified."""
    path = directory / ROWS_FILE
    if not path.is_file():
        raise ArtefactError(f"no training-row fingerprints at {path}")
    if sha256_file(path) != metadata["artefact"]["training_rows_sha256"]:
        raise ArtefactError(f"checksum mismatch for {path}")
    rows: np.ndarray = np.load(path, allow_pickle=False)
    return rows
