"""`cds score`: every published score, item by item, for one patient in a FHIR file."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import typer

from cds.cli import UserError
from cds.cli._time import NAIVE_IS_CLINICAL, cli_zone, parse_time
from cds.facts.snapshot import PatientSnapshot, ScoreResult

def _parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(timezone.utc)
    return parse_time(text, "--now", cli_zone())


def _read_resources(path: Path) -> Any:
    from cds.fhir.resources import ResourceSet

    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise UserError(f"{path}: no such file") from exc
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from exc
    if path.suffix.lower() == ".ndjson":
        return ResourceSet.from_ndjson(raw.splitlines())
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from exc
    if isinstance(data, list):
        return ResourceSet.from_json(data)
    if not isinstance(data, dict) or "resourceType" not in data:
        raise UserError(f"{path}: expected a FHIR Bundle, a resource or a list of resources")
    return ResourceSet.from_bundle(data)


def build_scored_snapshot(
    path: Path, *, patient_id: str, encounter_id: str | None, now: datetime, rules_dir: Path | None = None
) -> PatientSnapshot:
    """The snapshot of ``patient_id`` from the FHIR file at ``path``, with every score filled in."""
    from cds.facts import build_snapshot
    from cds.pseudonym import Pseudonymizer
    from cds.quality.sources import default_rules_dir
    from cds.scores import with_scores
    from cds.terminology import Terminology, TerminologyError

    resources = _read_resources(path)
    if resources.get("Patient", patient_id) is None:
        raise UserError(f"{path}: no Patient with id {patient_id!r}")
    if encounter_id is not None and resources.get("Encounter", encounter_id) is None:
        raise UserError(f"{path}: no Encounter with id {encounter_id!r}")
    valuesets = (rules_dir or default_rules_dir()) / "valuesets"
    try:
        terminology = Terminology.load(valuesets)
    except TerminologyError as exc:
        raise UserError(f"value sets in {valuesets} are invalid: {exc}") from exc
    # The key only makes a pseudonym for this run; nothing is stored.
    pseudonyms = Pseudonymizer(secrets.token_bytes(32))
    try:
        snapshot = build_snapshot(
            resources,
            patient_id=patient_id,
            encounter_id=encounter_id,
            now=now,
            terminology=terminology,
            patient_key=pseudonyms.pseudonym(patient_id),
            clinical_zone=cli_zone(),
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    return with_scores(snapshot)


def _fmt(points: float | None) -> str:
    return "?" if points is None else f"{points:g}"


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render_text(snapshot: PatientSnapshot) -> str:
    """The scores of a snapshot as plain text, one block per score."""
    lines: list[str] = []
    if snapshot.cfs is not None:
        from cds.scores import interpret_cfs

        cfs = interpret_cfs(snapshot.cfs.score, snapshot.age)
        extra = [cfs.band]
        if cfs.uncertain:
            extra.append("uncertain near cut point " + ", ".join(str(c.at) for c in cfs.uncertain_cut_points))
        if cfs.validity_caveat:
            extra.append(cfs.validity_caveat)
        lines += [f"CFS {cfs.level} {cfs.name_en} ({'; '.join(extra)})", ""]
    for result in snapshot.scores.values():
        lines += _render_result(result)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _render_result(result: ScoreResult) -> list[str]:
    head = f"{result.name.upper()}  {_fmt(result.points)}"
    if result.band:
        head += f"  band {result.band}"
    if not result.applicable:
        head += "  (not applicable)"
    out = [head]
    if result.note:
        out.append(f"  note: {result.note}")
    for item in result.items:
        points = "unknown" if item.unknown else _fmt(item.points)
        out.append(f"  {item.name:<22} {points:>7} / {_fmt(item.max_points):<5} value {_value(item.value)}")
        out += [f"      {u}" for u in item.used]
    if result.unknown_items:
        could = "yes" if result.band_could_change else "no"
        out.append(f"  unknown: {', '.join(result.unknown_items)}; band could change: {could}")
    return out


def render_json(snapshot: PatientSnapshot) -> str:
    """The scores as JSON: score name -> ScoreResult, plus 'cfs' when a CFS level is recorded."""
    payload: dict[str, Any] = {name: r.model_dump(mode="json") for name, r in snapshot.scores.items()}
    if snapshot.cfs is not None:
        from cds.scores import interpret_cfs

        payload["cfs"] = interpret_cfs(snapshot.cfs.score, snapshot.age).model_dump(mode="json")
    return json.dumps(payload, ensure_ascii=False, indent=2)


def score(
    file: Path = typer.Argument(..., help="FHIR R4 Bundle (JSON), resource list (JSON) or NDJSON file"),
    patient: str = typer.Option(..., "--patient", help="Patient.id in the file"),
    encounter: str | None = typer.Option(None, "--encounter", help="Encounter.id of the current stay"),
    now: str | None = typer.Option(None, "--now", help=f"evaluation time, {NAIVE_IS_CLINICAL} (default: now)"),
    as_json: bool = typer.Option(False, "--json", help="print the ScoreResult objects as JSON"),
    rules: Path | None = typer.Option(None, "--rules", help="rule directory whose valuesets/ to use"),
) -> None:
    """Print LACE, HOSPITAL, simplified HOSPITAL, HFRS and Charlson with their items for one patient."""
    snapshot = build_scored_snapshot(
        file, patient_id=patient, encounter_id=encounter, now=_parse_now(now), rules_dir=rules
    )
    typer.echo(render_json(snapshot) if as_json else render_text(snapshot), nl=as_json)


def register(app: typer.Typer) -> None:
    app.command("score")(score)
