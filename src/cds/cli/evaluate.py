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

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cds.cli._call import CallOptions, run_call
from cds.cli._time import NAIVE_IS_CLINICAL


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
    now: Annotated[str | None, typer.Option(help=f"evaluation time, {NAIVE_IS_CLINICAL} (default: now)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the exact CDS Hooks response JSON")] = False,
    lang: Annotated[str, typer.Option("--lang", help="card language: nb or en")] = "nb",
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML or YAML configuration")] = None,
) -> None:
    """Evaluate one hook for a patient from a file; print the cards."""
    result = run_call(CallOptions(file, hook, patient, encounter, user, now, lang, config))
    if as_json:
        typer.echo(json.dumps(result.response, ensure_ascii=False, indent=2))
    else:
        typer.echo(format_cards(result.response))
        for issue in result.evaluation.issues:
            typer.echo(f"note: {issue}", err=True)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
