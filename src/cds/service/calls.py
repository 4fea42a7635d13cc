"""One CDS Hooks call, from request JSON to response JSON: the path HTTP and ``cds evaluate`` share.

`process_call` validates the request against the service, resolves prefetch
(fetching what is absent through a `FhirSource`), parses the resources, runs
the `Evaluator` and builds the response. Every refusal is a `ServiceError`
carrying the HTTP status and an OperationOutcome message:

============================================  ======
request body is not a JSON object / breaks     400
the spec (incl. fhirAuthorization without
fhirServer, wrong hook, missing context)
prefetch value that is not FHIR                400
absent prefetch that cannot be fetched         412
============================================  ======
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from anyio import to_thread
from pydantic import ValidationError

from cds.fhir.client import FhirClient, FhirSource
from cds.fhir.completeness import incomplete_data_card
from cds.fhir.gp_lookup import GpLookup
from cds.fhir.prefetch import PrefetchInvalid, PrefetchResult, PrefetchUnavailable, resolve_prefetch
from cds.fhir.resources import JsonBytes, ResourceSet
from cds.hooks.models import HookRequest
from cds.hooks.services import ServiceDefinition
from cds.service import metrics
from cds.service.errors import ServiceError, validation_messages
from cds.evaluation import EvaluationCall
from cds.service.settings import Settings

if TYPE_CHECKING:
    from cds.evaluation import Evaluation, Evaluator

__all__ = ["CallResult", "SourceFactory", "fhir_sources", "process_call", "validate_request"]

#: FHIR logical id (R4): what ``patientId`` and ``encounterId`` must look like.
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_ID_CONTEXT = ("patientId", "encounterId")

#: Builds the FHIR source for a call (HTTP: the client's fhirServer; CLI: the Bundle file).
SourceFactory = Callable[[HookRequest], FhirSource | None]


@dataclass
class CallResult:
    """What one successful call produced (for the response and the audit record)."""

    request: HookRequest
    response: dict[str, Any]
    evaluation: Evaluation
    prefetch: PrefetchResult
    timings_ms: dict[str, float] = field(default_factory=dict)


def validate_request(service: ServiceDefinition, payload: Any) -> HookRequest:
    """The request as a `HookRequest`, or a 400 `ServiceError` saying what is wrong."""
    if not isinstance(payload, Mapping):
        raise ServiceError(400, "the request body must be a JSON object", outcome="bad-request")
    try:
        request = HookRequest.model_validate(payload)
    except ValidationError as exc:
        raise ServiceError(400, validation_messages(exc), outcome="bad-request") from exc
    if request.hook != service.hook:
        raise ServiceError(
            400,
            f"service '{service.id}' answers hook '{service.hook}', not '{request.hook}'",
            outcome="wrong-hook",
            expressions=["hook"],
        )
    missing = [
        name for name in service.required_context if not _present(request.context.get(name))
    ]
    if missing:
        raise ServiceError(
            400,
            [f"context.{name} is required for hook '{service.hook}'" for name in missing],
            code="required",
            outcome="bad-request",
            expressions=[f"context.{name}" for name in missing],
        )
    for name in _ID_CONTEXT:
        value = request.context.get(name)
        if value is not None and (not isinstance(value, str) or not FHIR_ID.match(value)):
            raise ServiceError(
                400,
                f"context.{name} must be a FHIR id (letters, digits, '-' and '.', at most 64)",
                outcome="bad-request",
                expressions=[f"context.{name}"],
            )
    user = request.context.get("userId")
    if user is not None and not isinstance(user, str):
        raise ServiceError(
            400, "context.userId must be a string", outcome="bad-request", expressions=["context.userId"]
        )
    return request


def _check_subject(resources: ResourceSet, patient_id: str) -> None:
    """The patient in context must be valid FHIR R4 when it was sent; other invalid resources are tolerated.

    Without a valid Patient nothing can be said about the patient; one invalid
    Observation among two hundred should not cost the clinician every card
    (the evaluation reports it in ``issues``).
    """
    for issue in resources.issues:
        if issue.resource_type == "Patient" and issue.id == patient_id:
            raise ServiceError(
                400,
                f"the Patient {patient_id} in prefetch is not valid FHIR R4: {issue.message}",
                outcome="bad-prefetch",
                expressions=["prefetch.patient"],
            )


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _make_call(
    service: ServiceDefinition, request: HookRequest, resources: ResourceSet, now: datetime, language: str
) -> EvaluationCall:
    return EvaluationCall(
        service_id=service.id,
        hook=request.hook,
        patient_id=request.context["patientId"],
        encounter_id=request.context.get("encounterId"),
        user_id=request.context.get("userId"),
        now=now,
        resources=resources,
        language=language,
    )


async def process_call(
    service: ServiceDefinition,
    payload: Any,
    *,
    evaluator: Evaluator,
    sources: SourceFactory,
    now: datetime,
    language: str = "nb",
    max_concurrency: int = 8,
    fetch_timeout_seconds: float | None = None,
    on_request: Callable[[HookRequest], None] | None = None,
) -> CallResult:
    """Answer one call to ``service``; raises `ServiceError` for anything the caller got wrong.

    ``on_request`` is told the validated request before any fetching (the
    service uses it for the audit record of calls that fail later).
    """
    request = validate_request(service, payload)
    if on_request is not None:
        on_request(request)
    started = time.perf_counter()
    source = sources(request)
    try:
        resolved = await resolve_prefetch(
            service.prefetch,
            request.context,
            request.prefetch,
            source,
            max_concurrency=max_concurrency,
            total_timeout_seconds=fetch_timeout_seconds,
        )
    except PrefetchInvalid as exc:
        raise ServiceError(400, exc.messages, outcome="bad-prefetch", expressions=["prefetch"]) from exc
    except PrefetchUnavailable as exc:
        if source is not None:
            metrics.fetch_failed(service.id)  # the FHIR server failed or was too slow (not: nothing to read from)
        raise ServiceError(
            412,
            [f"{exc.reason}; prefetch key(s) needed: {', '.join(exc.keys)}"],
            code="incomplete",
            outcome="prefetch-missing",
            expressions=[f"prefetch.{key}" for key in exc.keys],
        ) from exc
    if any(reason != "truncated" for _, reason in resolved.incomplete.values()):
        metrics.fetch_failed(service.id)  # a search failed or ran out of time: answered, with a data-quality card
    lookup = getattr(sources, "gp_lookup", None)
    if lookup is not None:
        resolved.resources.extend(await _gp_resources(lookup, resolved, request.context["patientId"]))
    fetched = time.perf_counter()
    if _all_parsed(resolved):
        evaluation, response = _evaluate(service, request, resolved, evaluator, now, language)
    else:
        evaluation, response = await to_thread.run_sync(
            _evaluate, service, request, resolved, evaluator, now, language
        )
    done = time.perf_counter()
    return CallResult(
        request=request,
        response=response,
        evaluation=evaluation,
        prefetch=resolved,
        timings_ms={"prefetch": (fetched - started) * 1000, "evaluate": (done - fetched) * 1000},
    )


async def _gp_resources(lookup: GpLookup, resolved: PrefetchResult, patient_id: str) -> list[dict[str, Any]]:
    """What the GP register says about the call's Patient, when the Patient names no GP (`cds.fhir.gp_lookup`)."""
    for item in resolved.resources:
        value = item.value() if type(item) is JsonBytes else item
        if isinstance(value, dict) and value.get("resourceType") == "Patient" and value.get("id") == patient_id:
            return await lookup.resources_for(value)
    return []


def _all_parsed(resolved: PrefetchResult) -> bool:
    """Every resource of the call is in the parse cache already (a chart seen before), nothing to validate.

    Such a call is evaluated on the event loop: a few milliseconds of work, for
    which a worker thread costs more than it gives (about 0.5 ms of CPU per call
    for the hand-off, and the GIL would let the loop run only every 5 ms anyway).
    A call with anything to parse goes to the worker thread, so that tens of
    milliseconds of FHIR validation do not stall the worker's other requests.
    """
    return all(type(item) is JsonBytes and item.cached for item in resolved.resources)


def _evaluate(
    service: ServiceDefinition,
    request: HookRequest,
    resolved: PrefetchResult,
    evaluator: Evaluator,
    now: datetime,
    language: str,
) -> tuple[Evaluation, dict[str, Any]]:
    """The CPU-bound part of a call: in a worker thread unless everything is parsed already (`_all_parsed`)."""
    resources = ResourceSet.from_json(resolved.resources)
    resources.searched.update(resolved.searched)
    resources.incomplete.update(rtype for rtype, _ in resolved.incomplete.values())
    _check_subject(resources, request.context["patientId"])
    evaluation = evaluator.evaluate(_make_call(service, request, resources, now, language))
    cards = list(evaluation.cards)  # the cards are CDS Hooks JSON already (`cds.cards`)
    if resolved.incomplete:  # never a silent different answer: say which data is missing, first
        cards.insert(0, incomplete_data_card(resolved.incomplete, language))
    return evaluation, {"cards": cards}


class _Sources:
    """A `SourceFactory` that also carries the GP register lookup (``gp_lookup``, None when not configured)."""

    def __init__(self, make: SourceFactory, gp_lookup: GpLookup | None) -> None:
        self._make = make
        self.gp_lookup = gp_lookup

    def __call__(self, request: HookRequest) -> FhirSource | None:
        return self._make(request)


def fhir_sources(settings: Settings, http: httpx.AsyncClient) -> SourceFactory:
    """Sources that read absent prefetch from the request's ``fhirServer`` with its token (and the GP register)."""
    bounds = settings.fhir

    def make(request: HookRequest) -> FhirSource | None:
        if request.fhirServer is None:
            return None
        token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
        server = str(request.fhirServer)
        mode = bounds.identifier_search_by_server.get(server.rstrip("/"), bounds.identifier_search)
        return FhirClient(
            server,
            access_token=token,
            http=http,
            timeout_seconds=bounds.timeout_seconds,
            max_pages=bounds.max_pages,
            max_resources=bounds.max_resources_per_query,
            identifier_search=None if mode == "off" else mode,
            identifier_systems=bounds.trusted_identifier_systems,
        )

    lookup = GpLookup(bounds.gp_lookup_url, http=http, timeout_seconds=bounds.timeout_seconds) if (
        bounds.gp_lookup_url) else None
    return _Sources(make, lookup)
