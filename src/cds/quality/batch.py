"""Batch evaluation of a bulk NDJSON export through `cds.evaluation.Evaluator` (screening and backtests).

The same pipeline as the service: every patient's resources become a
`ResourceSet`, the `Evaluator` builds the snapshot, scores it, runs the rules
and renders the cards. Nothing is re-implemented here; this module only
decides *which* encounter and *which* moment a patient is evaluated at, and
runs many patients in parallel.

Streaming and memory: the main process builds the export's patient index
(`cds.quality.export`: three integers per resource, never the content) and
hands out *chunks of byte ranges*; worker processes read their patients'
lines with ``mmap``, evaluate and send back finished JSON lines. At most
``2 x workers`` chunks are in flight, and results are written in patient
order as they arrive, so memory does not grow with the cohort.

Which encounter and when (per patient):

* ``--at`` given: ``now`` = that moment; the current encounter is the latest
  inpatient stay that started by then and had not ended (encounter hooks skip
  patients who were not admitted then: status ``not-admitted``).
* no ``--at``: the patient's latest inpatient stay, evaluated at its start +
  30 min (``encounter-start``), or 1 minute before its end
  (``encounter-discharge``, ``patient-view``; start + 1 day if still open).
  A patient without any inpatient stay is evaluated for ``patient-view`` at
  their last recorded contact, otherwise ``not-admitted``.

Resources dated after ``now`` (later encounters and what refers to them,
observations issued later, ...) are left out, and an appointment that had not
yet taken place at ``now`` is shown as ``booked`` (its status then), so a rerun
"as of" a date sees what the record held then.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import IO, Any

import orjson

from cds.quality.export import BulkExport, ExportIndex, PatientSlice, _Reader
from cds.quality.kpi_records import parse_instant

__all__ = [
    "BatchOptions",
    "BatchSummary",
    "EvaluatorSpec",
    "choose_moment",
    "evaluate_patient",
    "run_batch",
    "service_for_hook",
]

_INPATIENT = ("IMP", "ACUTE", "NONAC")
_DATE_FIELDS = (
    "issued",
    "effectiveDateTime",
    "recordedDate",
    "authoredOn",
    "sent",
    "onsetDateTime",
    "performedDateTime",
    "date",
    "created",
)
#: Appointment statuses that, for an appointment still in the future at `now`, were 'booked' then.
_APPOINTMENT_LATER_STATES = frozenset({"fulfilled", "arrived", "checked-in", "noshow"})


@dataclass(frozen=True)
class EvaluatorSpec:
    """How a worker builds one `Evaluator` (picklable: paths and key only)."""

    rules_dir: Path
    overrides: tuple[Path, ...] = ()
    model_dir: Path | None = None
    label: str = "rules"


@dataclass(frozen=True)
class BatchOptions:
    hook: str
    at: datetime | None
    evaluators: tuple[EvaluatorSpec, ...]
    pseudonym_key: bytes
    language: str = "nb"
    with_ids: bool = False
    explain: bool = False  # add each finding's matched facts and parameters (backtests)


@dataclass
class BatchSummary:
    patients: int = 0
    evaluated: int = 0
    not_admitted: int = 0
    errors: int = 0
    seconds: float = 0.0
    workers: int = 1
    bad_lines: list[str] = field(default_factory=list)


def service_for_hook(hook: str) -> str:
    """The id of the service that answers ``hook`` (first in the catalogue)."""
    from cds.hooks.services import SERVICES

    for service in SERVICES:
        if service.hook == hook:
            return service.id
    hooks = sorted({s.hook for s in SERVICES})
    raise ValueError(f"no service for hook {hook!r}; hooks: {', '.join(hooks)}")


# -- per patient ----------------------------------------------------------------------------


def _encounter_class(resource: Mapping[str, Any]) -> str | None:
    klass = resource.get("class")
    return klass.get("code") if isinstance(klass, Mapping) else None


def _period(resource: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    period = resource.get("period")
    if not isinstance(period, Mapping):
        return None, None
    return parse_instant(period.get("start")), parse_instant(period.get("end"))


def choose_moment(
    resources: Sequence[Mapping[str, Any]], hook: str, at: datetime | None
) -> tuple[str | None, datetime | None]:
    """(encounter id, now) for one patient, as documented in the module docstring; now None = skip."""
    stays: list[tuple[datetime, datetime | None, str]] = []
    last_seen: datetime | None = None
    for r in resources:
        if r.get("resourceType") != "Encounter":
            continue
        start, end = _period(r)
        if start is None:
            continue
        moment = end or start
        last_seen = moment if last_seen is None or moment > last_seen else last_seen
        if _encounter_class(r) in _INPATIENT and isinstance(r.get("id"), str):
            stays.append((start, end, r["id"]))
    stays.sort(key=lambda s: s[0])
    if at is not None:
        current = [s for s in stays if s[0] <= at and (s[1] is None or s[1] >= at)]
        if current:
            return current[-1][2], at
        return (None, at) if hook == "patient-view" else (None, None)
    if not stays:
        if hook == "patient-view" and last_seen is not None:
            return None, last_seen
        return None, None
    start, end, eid = stays[-1]
    if hook == "encounter-start":
        return eid, start + timedelta(minutes=30)
    if end is None:
        return eid, start + timedelta(days=1)
    return eid, max(start, end - timedelta(minutes=1))


def _dated(resource: Mapping[str, Any]) -> datetime | None:
    start, _ = _period(resource)
    if start is not None:
        return start
    for name in _DATE_FIELDS:
        value = resource.get(name)
        if isinstance(value, str):
            return parse_instant(value)
    return None


def as_of(resources: Sequence[Mapping[str, Any]], now: datetime) -> list[Mapping[str, Any]]:
    """The resources the record held at ``now`` (see the module docstring)."""
    future_encounters = {
        f"Encounter/{r.get('id')}"
        for r in resources
        if r.get("resourceType") == "Encounter" and (_dated(r) or now) > now
    }
    kept: list[Mapping[str, Any]] = []
    for r in resources:
        if r.get("resourceType") == "Patient":
            kept.append(r)
            continue
        when = _dated(r)
        if when is not None and when > now:
            continue
        enc = r.get("encounter")
        if isinstance(enc, Mapping) and enc.get("reference") in future_encounters:
            continue
        if r.get("resourceType") == "Appointment" and r.get("status") in _APPOINTMENT_LATER_STATES:
            start = parse_instant(r.get("start"))
            if start is not None and start > now:
                r = {**r, "status": "booked"}  # what the record said at `now`
        kept.append(r)
    return kept


def _card_line(card: dict[str, Any]) -> dict[str, Any]:
    """What the batch report keeps of a card (CDS Hooks JSON)."""
    provenance = next(iter(card.get("extension", {}).values()), {})
    topic = card["source"].get("topic")
    return {
        "rule": provenance.get("ruleId"),
        "version": provenance.get("ruleVersion"),
        "topic": topic["code"] if topic else None,
        "indicator": card["indicator"],
        "summary": card["summary"],
    }


def _pathway(findings: Sequence[Any]) -> str | None:
    for finding in findings:
        value = finding.derived.get("pathway") if isinstance(finding.derived, Mapping) else None
        if isinstance(value, str):
            return value
    return None


def exported_types(files: Sequence[Path]) -> frozenset[str]:
    """The resource types a bulk export holds, from its file names (``Procedure.ndjson``, ``Procedure.2.ndjson``)."""
    return frozenset(path.name.split(".", 1)[0] for path in files)


def prepare_patient(
    resources: Sequence[Mapping[str, Any]], hook: str, at: datetime | None, searched: Collection[str] = ()
) -> tuple[str | None, datetime | None, Any]:
    """(encounter id, now, parsed `ResourceSet` as of now) for one patient; now None = not admitted.

    ``searched``: the resource types the export holds. Every patient was part of
    that export, so a patient with none of a type has none (not "unknown").
    """
    from cds.fhir.resources import ResourceSet

    encounter_id, now = choose_moment(resources, hook, at)
    if now is None:
        return None, None, None
    parsed = ResourceSet.from_json(as_of(resources, now), cache=False)  # each resource is seen once
    parsed.searched.update(searched)
    return encounter_id, now, parsed


def evaluate_patient(
    evaluator: Any,
    *,
    service_id: str,
    hook: str,
    patient_id: str,
    resources: Sequence[Mapping[str, Any]],
    at: datetime | None,
    language: str,
    explain: bool = False,
    prepared: tuple[str | None, datetime | None, Any] | None = None,
) -> dict[str, Any]:
    """One patient through the evaluator: the result line (no identifiers; the caller adds the key).

    ``prepared``: the result of `prepare_patient` when several evaluators share one parse.
    """
    from cds.evaluation import EvaluationCall

    encounter_id, now, rs = prepared if prepared is not None else prepare_patient(resources, hook, at)
    if now is None or rs is None:
        return {"status": "not-admitted"}
    evaluation = evaluator.evaluate(
        EvaluationCall(
            service_id=service_id,
            hook=hook,
            patient_id=patient_id,
            encounter_id=encounter_id,
            user_id=None,
            now=now,
            resources=rs,
            language=language,
        )
    )
    snapshot = evaluation.snapshot
    result = {
        "status": "ok",
        "now": now.isoformat(timespec="seconds"),
        "municipality": snapshot.municipality,
        "age": snapshot.age,
        "cfs": snapshot.cfs.score if snapshot.cfs else None,
        "pathway": _pathway(evaluation.findings),
        "cards": [_card_line(c) for c in evaluation.cards],
        "findings": [f.rule_id for f in evaluation.findings],
        "scores": {
            name: {"points": s.points, "band": s.band} for name, s in sorted(evaluation.snapshot.scores.items())
        },
        "risk": snapshot.readmission_risk.probability if snapshot.readmission_risk else None,
        "digest": evaluation.ruleset_digest,
        "issues": len(evaluation.issues),
    }
    if explain:
        result["why"] = {
            f.rule_id: {"matched": dict(f.matched), "parameters": dict(f.parameters)} for f in evaluation.findings
        }
    return result


# -- workers ---------------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def build_evaluator(spec: EvaluatorSpec, pseudonym_key: bytes) -> Any:
    """The `cds.evaluation.Evaluator` for one rule set and model, built exactly as the service builds it."""
    from cds.evaluation import Evaluator

    return Evaluator.from_paths(
        rules_dir=spec.rules_dir, model_dir=spec.model_dir, pseudonym_key=pseudonym_key, overrides=spec.overrides
    )


def _init_worker(files: Sequence[Path], options: BatchOptions) -> None:
    from cds.pseudonym import Pseudonymizer

    _STATE["reader"] = _Reader(files)
    _STATE["exported_types"] = exported_types(files)
    _STATE["options"] = options
    _STATE["service_id"] = service_for_hook(options.hook)
    _STATE["pseudonymizer"] = Pseudonymizer(options.pseudonym_key)
    _STATE["evaluators"] = [build_evaluator(spec, options.pseudonym_key) for spec in options.evaluators]


def _status(results: Sequence[Mapping[str, Any]]) -> str:
    statuses = {r.get("status") for r in results}
    return "error" if "error" in statuses else "not-admitted" if statuses == {"not-admitted"} else "ok"


def _run_chunk(chunk: Sequence[PatientSlice]) -> list[tuple[str, bytes]]:
    reader: _Reader = _STATE["reader"]
    options: BatchOptions = _STATE["options"]
    lines: list[tuple[str, bytes]] = []
    for piece in chunk:
        line: dict[str, Any] = {"patient": _STATE["pseudonymizer"].pseudonym(piece.patient_id)}
        if options.with_ids:
            line["patient_id"] = piece.patient_id
        try:
            resources = reader.read(piece)
        except (orjson.JSONDecodeError, ValueError) as exc:
            line["status"] = "error"
            line["error"] = f"unreadable NDJSON line: {type(exc).__name__}"
            lines.append(("error", orjson.dumps(line, default=str)))
            continue
        results = []
        try:
            prepared = prepare_patient(resources, options.hook, options.at, _STATE["exported_types"])
        except Exception as exc:  # noqa: BLE001 - one bad patient must not stop a batch
            message = str(exc).replace(piece.patient_id, "<patient>")[:200]
            line.update({"status": "error", "error": f"{type(exc).__name__}: {message}"})
            lines.append(("error", orjson.dumps(line, default=str)))
            continue
        for spec, evaluator in zip(options.evaluators, _STATE["evaluators"], strict=True):
            try:
                result = evaluate_patient(
                    evaluator,
                    service_id=_STATE["service_id"],
                    hook=options.hook,
                    patient_id=piece.patient_id,
                    resources=resources,
                    at=options.at,
                    language=options.language,
                    explain=options.explain,
                    prepared=prepared,
                )
            except Exception as exc:  # noqa: BLE001 - one bad patient must not stop a batch
                message = str(exc).replace(piece.patient_id, "<patient>")[:200]  # never the identifier
                result = {"status": "error", "error": f"{type(exc).__name__}: {message}"}
            result["label"] = spec.label
            results.append(result)
        if len(results) == 1:
            line.update({k: v for k, v in results[0].items() if k != "label"})
        else:
            line["results"] = results
        lines.append((_status(results), orjson.dumps(line, default=str)))
    return lines


def _chunks(index: ExportIndex, size: int) -> Iterator[list[PatientSlice]]:
    for start in range(0, len(index), size):
        yield index.slices(start, start + size)


def run_batch(
    directory: Path,
    options: BatchOptions,
    out: IO[bytes],
    *,
    workers: int | None = None,
    chunk_size: int = 64,
    progress: bool = True,
    on_line: Callable[[bytes], None] | None = None,
) -> BatchSummary:
    """Evaluate every patient of the export; write one JSON line per patient to ``out``, in export order."""
    import time

    from tqdm import tqdm

    started = time.perf_counter()
    export = BulkExport(directory)
    index = export.index()
    workers = max(1, workers or os.cpu_count() or 1)
    summary = BatchSummary(patients=len(index), workers=workers, bad_lines=list(index.bad_lines))
    bar = tqdm(total=len(index), unit="patient", file=sys.stderr, disable=not progress, smoothing=0.1)

    def emit(lines: list[tuple[str, bytes]]) -> None:
        for status, line in lines:
            out.write(line + b"\n")
            if on_line is not None:
                on_line(line)
            if status == "ok":
                summary.evaluated += 1
            elif status == "not-admitted":
                summary.not_admitted += 1
            else:
                summary.errors += 1
        bar.update(len(lines))

    try:
        if workers == 1:
            _init_worker(index.files, options)
            try:
                for chunk in _chunks(index, chunk_size):
                    emit(_run_chunk(chunk))
            finally:
                _STATE["reader"].close()
                _STATE.clear()
        else:
            context = get_context("spawn")  # a fresh interpreter per worker: no engine handles or locks inherited by fork
            with ProcessPoolExecutor(
                max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(index.files, options)
            ) as pool:
                pending: deque[Future[list[tuple[str, bytes]]]] = deque()
                for chunk in _chunks(index, chunk_size):
                    pending.append(pool.submit(_run_chunk, chunk))
                    if len(pending) >= 2 * workers:
                        emit(pending.popleft().result())
                while pending:
                    emit(pending.popleft().result())
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - started
    return summary
