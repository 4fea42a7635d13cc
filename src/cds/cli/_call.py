"""One CDS Hooks call from a file, as the service answers it: shared by `cds evaluate` and `cds rules explain`.

FILE is a FHIR Bundle, which plays the FHIR server (the service's prefetch
templates are resolved against it exactly as against a real server), or a CDS
Hooks request (answered as if it had been POSTed). Both commands go through
`cds.service.calls.process_call` with the service's evaluator (rules, model,
clinical zone from the settings), so what explain reports is what was served.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from cds.cli import UserError
from cds.cli._time import parse_time

if TYPE_CHECKING:
    from cds.service.calls import CallResult

__all__ = ["CallOptions", "read_json", "run_call"]


@dataclass(frozen=True)
class CallOptions:
    """What the command line says about the call (None: take it from the file or the settings)."""

    file: Path
    hook: str | None
    patient: str | None
    encounter: str | None
    user: str
    now: str | None
    language: str = "nb"
    config: Path | None = None
    rules: Path | None = None
    overrides: tuple[Path, ...] = ()


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or a one-line UserError."""
    if not path.is_file():
        raise UserError(f"file not found: {path}")
    try:
        data = orjson.loads(path.read_bytes())  # as the service: NaN and Infinity are not JSON
    except ValueError as exc:
        raise UserError(f"{path}: not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a FHIR Bundle or a CDS Hooks request (a JSON object)")
    return data


def _bundle_has(data: dict[str, Any], resource_type: str, resource_id: str) -> bool:
    for entry in data.get("entry") or ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == resource_type and resource.get("id") == resource_id:
            return True
    return False


def run_call(options: CallOptions) -> CallResult:
    """Answer the call in ``options.file``; every problem is a one-line `UserError`."""
    import httpx

    from cds.fhir.client import BundleSource
    from cds.fhir.resources import ResourceSet
    from cds.hooks.services import SERVICES
    from cds.service.calls import fhir_sources, process_call
    from cds.service.errors import ServiceError
    from cds.service.runtime import build_evaluator
    from cds.service.settings import ConfigError, load_settings

    if options.language not in ("nb", "en"):
        raise UserError(f"--lang must be nb or en, not {options.language}")
    if options.config is not None and not options.config.is_file():
        raise UserError(f"configuration file not found: {options.config}")
    if options.rules is not None and not options.rules.is_dir():
        raise UserError(f"rule directory not found: {options.rules}")
    for path in options.overrides:
        if not path.is_file():
            raise UserError(f"override file not found: {path}")
    overrides: dict[str, Any] = {}
    if options.rules is not None:
        overrides["rules_dir"] = options.rules
    if options.overrides:
        overrides["rule_overrides"] = list(options.overrides)
    try:
        settings = load_settings(options.config, **overrides)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    when = datetime.now(UTC) if options.now is None else parse_time(options.now, "--now", settings.clinical_zone)

    data = read_json(options.file)
    hook = options.hook
    if data.get("resourceType") == "Bundle":
        if hook is None or options.patient is None:
            raise UserError("--hook and --patient are required when FILE is a FHIR Bundle")
        if not _bundle_has(data, "Patient", options.patient):
            raise UserError(f"no Patient with id {options.patient!r} in {options.file}")
        if options.encounter is not None and not _bundle_has(data, "Encounter", options.encounter):
            raise UserError(f"no Encounter with id {options.encounter!r} in {options.file}")
        context: dict[str, Any] = {"userId": options.user, "patientId": options.patient}
        if options.encounter is not None:
            context["encounterId"] = options.encounter
        payload: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
        bundle_source = BundleSource.from_bundle(data)
        sources: Any = lambda request: bundle_source  # noqa: E731
    elif "hook" in data and "context" in data:
        payload = data
        hook = hook or str(data.get("hook"))
        if data.get("hook") != hook:
            raise UserError(f"--hook {hook} does not match the request's hook {data.get('hook')}")
        if isinstance(data["context"], dict):
            if options.patient is not None:
                data["context"]["patientId"] = options.patient
            if options.encounter is not None:
                data["context"]["encounterId"] = options.encounter
        sources = None  # the request's own prefetch, and its fhirServer if it names one
    else:
        raise UserError(f"{options.file}: neither a FHIR Bundle nor a CDS Hooks request (no resourceType/hook)")

    service = next((s for s in SERVICES if s.hook == hook), None)
    if service is None:
        raise UserError(f"no service answers hook {hook!r}; hooks: {', '.join(s.hook for s in SERVICES)}")
    from cds.model.artefact import ArtefactError

    try:
        evaluator = build_evaluator(settings)
    except (ConfigError, ArtefactError) as exc:  # a tampered or missing model says what is wrong itself
        raise UserError(str(exc)) from None
    except Exception as exc:  # a broken rule set or model: one line, no traceback
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"cannot load the rules or the model: {first}") from None

    async def run() -> CallResult:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            factory = sources if sources is not None else fhir_sources(settings, http)
            return await process_call(service, payload, evaluator=evaluator, sources=factory, now=when,
                                      language=options.language, max_concurrency=settings.fhir.max_concurrency,
                                      fetch_timeout_seconds=settings.fhir.total_timeout_seconds)

    try:
        result = asyncio.run(run())
    except ServiceError as exc:
        raise UserError(f"HTTP {exc.status} would be answered: {'; '.join(exc.messages)}") from None
    _require_context_resources(result, ResourceSet)
    return result


def _require_context_resources(result: CallResult, resource_set: Any) -> None:
    """The patient (and encounter) of the context must be in the call's data: else nothing is about them."""
    context = result.request.context
    resources = resource_set.from_json(result.prefetch.resources)
    patient = context.get("patientId")
    if patient is not None and resources.get("Patient", patient) is None:
        raise UserError(f"no Patient with id {patient!r} in the request's data")
    encounter = context.get("encounterId")
    if encounter is not None and resources.get("Encounter", encounter) is None:
        raise UserError(f"no Encounter with id {encounter!r} in the request's data")
