"""`cds evaluate`: run one hook call from a file, through the same path as the HTTP service.

    cds evaluate --hook encounter-discharge --patient ingrid [--encounter stay-1] [--now ISO] FILE
                 [--json] [--lang nb|en] [--config FILE]

FILE is either a FHIR Bundle, which then plays the FHIR server: the service's
prefetch templates are resolved against it exactly as they would be against a
real server; or a CDS Hooks request (JSON with ``hook`` and ``context``), which
is answered as if it had been POSTed (absent prefetch keys are read from its
``fhirServer`` when it names one). Prints the cards readably, or with
``--json`` the exact response body.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer

from cds.cli import UserError


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"file not found: {path}")
    try:
        data = orjson.loads(path.read_bytes())  # as the service: NaN and Infinity are not JSON
    except ValueError as exc:
        raise UserError(f"{path}: not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a FHIR Bundle or a CDS Hooks request (a JSON object)")
    return data


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"--now is not an ISO 8601 date-time: {value}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def format_cards(response: dict[str, Any]) -> str:
    """Cards as readable text: indicator, summary, detail, suggestions, source."""
    cards = response.get("cards") or []
    if not cards:
        return "No cards."
    blocks = []
    for card in cards:
        lines = [f"[{card['indicator'].upper()}] {card['summary']}"]
        lines += [f"    {line}".rstrip() for line in card.get("detail", "").splitlines()]
        suggestions = card.get("suggestions") or []
        if suggestions:
            lines.append(f"    Suggestions ({card.get('selectionBehavior', 'any')}):")
            for s in suggestions:
                lines.append(f"      - {s['label']}{' (recommended)' if s.get('isRecommended') else ''}")
        source = card["source"]["label"]
        provenance = next(iter((card.get("extension") or {}).values()), {})
        if isinstance(provenance, dict) and provenance.get("ruleId"):
            source += f"; rule {provenance['ruleId']} v{provenance.get('ruleVersion', '?')}"
        lines.append(f"    Source: {source}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def evaluate(
    file: Annotated[Path, typer.Argument(help="FHIR Bundle or CDS Hooks request JSON")],
    hook: Annotated[str | None, typer.Option(help="hook, e.g. encounter-discharge (required for a Bundle)")] = None,
    patient: Annotated[str | None, typer.Option(help="Patient id (required for a Bundle)")] = None,
    encounter: Annotated[str | None, typer.Option(help="Encounter id")] = None,
    user: Annotated[str, typer.Option(help="context.userId")] = "Practitioner/cds-cli",
    now: Annotated[str | None, typer.Option(help="evaluation time, ISO 8601 (default: now; no offset = UTC)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the exact CDS Hooks response JSON")] = False,
    lang: Annotated[str, typer.Option("--lang", help="card language: nb or en")] = "nb",
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML or YAML configuration")] = None,
) -> None:
    """Evaluate one hook for a patient from a file; print the cards."""
    from cds.fhir.client import BundleSource
    from cds.hooks.services import SERVICES
    from cds.service.calls import fhir_sources, process_call
    from cds.service.errors import ServiceError
    from cds.service.runtime import build_evaluator
    from cds.service.settings import ConfigError, load_settings

    if lang not in ("nb", "en"):
        raise UserError(f"--lang must be nb or en, not {lang}")
    when = _parse_now(now)
    data = _read_json(file)
    if data.get("resourceType") == "Bundle":
        if hook is None or patient is None:
            raise UserError("--hook and --patient are required when FILE is a FHIR Bundle")
        context = {"userId": user, "patientId": patient}
        if encounter is not None:
            context["encounterId"] = encounter
        payload: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
        bundle_source = BundleSource.from_bundle(data)
        sources = lambda request: bundle_source  # noqa: E731
    elif "hook" in data and "context" in data:
        payload = data
        hook = hook or str(data.get("hook"))
        if data.get("hook") != hook:
            raise UserError(f"--hook {hook} does not match the request's hook {data.get('hook')}")
        if patient is not None and isinstance(data["context"], dict):
            data["context"]["patientId"] = patient
        sources = None  # the request's own prefetch, and its fhirServer if it names one
    else:
        raise UserError(f"{file}: neither a FHIR Bundle nor a CDS Hooks request (no resourceType/hook)")

    service = next((s for s in SERVICES if s.hook == hook), None)
    if service is None:
        raise UserError(f"no service answers hook {hook!r}; hooks: {', '.join(s.hook for s in SERVICES)}")
    from cds.model.artefact import ArtefactError

    try:
        settings = load_settings(config)
        evaluator = build_evaluator(settings)
    except (ConfigError, ArtefactError) as exc:  # a tampered or missing model: one line, exit 2
        raise UserError(str(exc)) from None

    async def run() -> Any:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            factory = sources if sources is not None else fhir_sources(settings, http)
            return await process_call(service, payload, evaluator=evaluator, sources=factory, now=when,
                                      language=lang, max_concurrency=settings.fhir.max_concurrency,
                                      fetch_timeout_seconds=settings.fhir.total_timeout_seconds)

    try:
        result = asyncio.run(run())
    except ServiceError as exc:
        raise UserError(f"HTTP {exc.status} would be answered: {'; '.join(exc.messages)}") from None
    if as_json:
        typer.echo(json.dumps(result.response, ensure_ascii=False, indent=2))
    else:
        typer.echo(format_cards(result.response))
        for issue in result.evaluation.issues:
            typer.echo(f"note: {issue}", err=True)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
