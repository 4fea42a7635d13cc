"""Reading a FHIR Bulk Data export (one NDJSON file per resource type) patient by patient.

A bulk export groups resources by *type*, while screening and KPIs need them by
*patient*. `BulkExport.index` makes one streaming pass over every file and
records, for each resource, the patient it belongs to and its byte offset and
length: three integers (~24 bytes) per resource, never the resource itself.
`BulkExport.patients` then reads each patient's lines back with ``mmap`` in
patient order. Memory therefore grows with the number of *resources* by a few
bytes each (about 25 MB for a million resources), never with their content,
and each worker process reads only the lines of the patients it evaluates.

Which patient a resource belongs to: ``Patient.id`` for a Patient, else the
first of ``subject``, ``patient``, ``beneficiary`` and ``participant.actor``
references that points to a Patient. A resource that names its patient only by an identifier
(``subject.identifier``, a fødselsnummer) is linked to the Patient of the
export carrying that identifier (`cds.fhir.identity`; trusted systems only); one
no Patient carries, or whose fødselsnummer/D-nummer has wrong check digits, is
reported in ``bad_lines``, never guessed. Resources of no patient (Practitioner, Organization, ...) are kept
apart as *shared* resources (by type and id) and are counted, not indexed.

Example::

    >>> export = BulkExport(Path("cohort"))          # doctest: +SKIP
    >>> index = export.index()                        # doctest: +SKIP
    >>> for patient_id, resources in export.patients(index):  # doctest: +SKIP
    ...     ...
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from cds.fhir.identity import (
    NATIONAL_SYSTEMS,
    Link,
    PatientRef,
    identifiers_of,
    patient_refs_of_json,
    ref_of_json,
    well_formed,
)

__all__ = ["BulkExport", "ExportError", "ExportIndex", "PatientSlice", "patient_of", "read_slice"]

_PATIENT_FIELDS = ("subject", "patient", "beneficiary")


class ExportError(ValueError):
    """The directory is not a readable NDJSON export."""


def patient_of(resource: dict[str, Any]) -> str | None:
    """The logical id of the patient a resource belongs to, or None."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) else None
    refs = [resource.get(name) for name in _PATIENT_FIELDS]
    participants = resource.get("participant")
    if isinstance(participants, list):  # Appointment, Encounter.participant: the patient as an actor
        refs += [p.get("actor") for p in participants if isinstance(p, dict)]
    for ref in refs:
        if isinstance(ref, dict):
            value = ref.get("reference")
            if isinstance(value, str) and "Patient/" in value:
                return value.rsplit("Patient/", 1)[1].split("/", 1)[0] or None
    return None


def _logical_ref(resource: dict[str, Any]) -> PatientRef | None:
    """The reference naming the patient by identifier only, when no literal patient reference comes first.

    The patient elements first (as `patient_of`), then an Appointment's
    participants (only identifiers of trusted systems: a practitioner's HPR
    number names no patient).
    """
    for ref in patient_refs_of_json(resource):
        return ref if ref.reference is None else None
    participants = resource.get("participant")
    if isinstance(participants, list):
        for participant in participants:
            ref = ref_of_json(participant.get("actor")) if isinstance(participant, dict) else None
            if ref is not None and ref.reference is None and ref.system in NATIONAL_SYSTEMS:
                return ref
    return None


def _link_by_identifier(ref: PatientRef, by_identifier: dict[tuple[str, str], str]) -> str | tuple[str]:
    """The id of the Patient carrying the reference's identifier, or (why not,) for the report."""
    if ref.system not in NATIONAL_SYSTEMS:
        return (Link.UNTRUSTED.message,)
    if not well_formed(ref.system, ref.value or ""):
        return (Link.MALFORMED.message,)
    pid = by_identifier.get((ref.system, ref.value or ""))
    if pid is None:
        return ("refers to its patient by an identifier no Patient in the export carries; left out",)
    return pid


@dataclass(frozen=True)
class PatientSlice:
    """Where one patient's resources are: (file number, offset, length) triples."""

    patient_id: str
    locations: tuple[tuple[int, int, int], ...]


@dataclass
class ExportIndex:
    """The patient -> byte-range index of an export (see the module docstring)."""

    files: list[Path]
    patient_ids: list[str]
    # parallel arrays, sorted by patient ordinal (then file, offset)
    ordinal: np.ndarray
    file_no: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    starts: np.ndarray  # starts[i]:starts[i+1] is patient i's range in the arrays above
    shared: dict[str, int] = field(default_factory=dict)  # resource type -> count (no patient)
    bad_lines: list[str] = field(default_factory=list)  # 'File.ndjson:line: message'

    def __len__(self) -> int:
        return len(self.patient_ids)

    def slice(self, i: int) -> PatientSlice:
        lo, hi = int(self.starts[i]), int(self.starts[i + 1])
        locations = tuple(
            (int(f), int(o), int(n))
            for f, o, n in zip(self.file_no[lo:hi], self.offset[lo:hi], self.length[lo:hi], strict=True)
        )
        return PatientSlice(self.patient_ids[i], locations)

    def slices(self, start: int = 0, stop: int | None = None) -> list[PatientSlice]:
        return [self.slice(i) for i in range(start, len(self) if stop is None else min(stop, len(self)))]


class BulkExport:
    """A directory of ``<Type>.ndjson`` files (``*.ndjson``, also ``*.ndjson`` with numeric suffixes)."""

    def __init__(self, directory: Path) -> None:
        if not directory.is_dir():
            raise ExportError(f"{directory} is not a directory")
        self.directory = directory
        self.files = sorted(p for p in directory.iterdir() if p.suffix == ".ndjson" and p.is_file())
        if not self.files:
            raise ExportError(f"{directory} holds no .ndjson files (expected a FHIR bulk export)")

    def index(self) -> ExportIndex:
        """One pass over every file: the patient, offset and length of each line."""
        ids: dict[str, int] = {}
        ordinals: list[int] = []
        file_nos: list[int] = []
        offsets: list[int] = []
        lengths: list[int] = []
        shared: dict[str, int] = {}
        bad: list[str] = []
        by_identifier: dict[tuple[str, str], str] = {}
        #: resources naming their patient only by identifier: resolved once every Patient is known
        pending: list[tuple[PatientRef, int, int, int, str]] = []
        for file_no, path in enumerate(self.files):
            offset = 0
            with path.open("rb") as handle:
                for line_no, line in enumerate(handle, start=1):
                    size = len(line)
                    if line.strip():
                        try:
                            resource = orjson.loads(line)
                        except orjson.JSONDecodeError:
                            bad.append(f"{path.name}:{line_no}: not valid JSON")
                            resource = None
                        if isinstance(resource, dict):
                            pid = patient_of(resource)
                            if resource.get("resourceType") == "Patient" and pid is not None:
                                for found in identifiers_of(resource):
                                    by_identifier.setdefault(found, pid)
                            logical = _logical_ref(resource) if pid is None else None
                            if logical is not None:
                                pending.append((logical, file_no, offset, size, f"{path.name}:{line_no}"))
                            elif pid is None:
                                rtype = str(resource.get("resourceType", "?"))
                                shared[rtype] = shared.get(rtype, 0) + 1
                            else:
                                ordinals.append(ids.setdefault(pid, len(ids)))
                                file_nos.append(file_no)
                                offsets.append(offset)
                                lengths.append(size)
                        elif resource is not None:
                            bad.append(f"{path.name}:{line_no}: not a JSON object")
                    offset += size
        for ref, file_no, offset, size, where in pending:
            pid = _link_by_identifier(ref, by_identifier)
            if isinstance(pid, str):
                ordinals.append(ids.setdefault(pid, len(ids)))
                file_nos.append(file_no)
                offsets.append(offset)
                lengths.append(size)
            else:
                bad.append(f"{where}: {pid[0]}")
        ordinal = np.asarray(ordinals, dtype=np.int32)
        order = np.lexsort((np.asarray(offsets, dtype=np.int64), np.asarray(file_nos, dtype=np.int16), ordinal))
        ordinal = ordinal[order]
        starts = np.searchsorted(ordinal, np.arange(len(ids) + 1), side="left")
        return ExportIndex(
            files=list(self.files),
            patient_ids=list(ids),
            ordinal=ordinal,
            file_no=np.asarray(file_nos, dtype=np.int16)[order],
            offset=np.asarray(offsets, dtype=np.int64)[order],
            length=np.asarray(lengths, dtype=np.int32)[order],
            starts=starts,
            shared=shared,
            bad_lines=bad,
        )

    def patients(self, index: ExportIndex | None = None) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Yield ``(patient_id, resources)`` for every patient, in index order."""
        index = index or self.index()
        with _Reader(index.files) as reader:
            for i in range(len(index)):
                piece = index.slice(i)
                yield piece.patient_id, reader.read(piece)


class _Reader:
    """Memory-mapped access to the export's files (one map per file, opened lazily)."""

    def __init__(self, files: Sequence[Path]) -> None:
        self.files = list(files)
        self._maps: dict[int, mmap.mmap] = {}
        self._handles: list[Any] = []

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        for m in self._maps.values():
            m.close()
        for h in self._handles:
            h.close()
        self._maps.clear()
        self._handles.clear()

    def _map(self, file_no: int) -> mmap.mmap:
        m = self._maps.get(file_no)
        if m is None:
            handle = self.files[file_no].open("rb")
            self._handles.append(handle)
            m = self._maps[file_no] = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return m

    def read(self, piece: PatientSlice) -> list[dict[str, Any]]:
        return [orjson.loads(self._map(f)[o : o + n]) for f, o, n in piece.locations]


def read_slice(files: Sequence[Path], piece: PatientSlice) -> list[dict[str, Any]]:
    """Read one patient's resources (opens and closes the files; workers use `_Reader` instead)."""
    with _Reader(files) as reader:
        return reader.read(piece)
