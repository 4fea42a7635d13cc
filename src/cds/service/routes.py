"""HTTP routes: discovery, service calls, feedback, admin reload, health.

Request bodies are read and validated here (not by FastAPI's body parsing) so
that every refusal is a specific 4xx with an OperationOutcome: 415 for a wrong
content type, 413 for an oversized body, 400 for JSON that is malformed or
breaks the spec. Every call to a known service is queued for the audit store
after the response is sent and written in batches by the runtime's
`cds.store.writer.AuditWriter` (never tokens, never resources).

Hook calls, the requests that come hundreds of times a second, are answered
by `HookCallShortcut` before FastAPI's routing; the FastAPI route documents the
endpoint and answers when the shortcut steps aside, both through `answer_call`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import anyio
import orjson
from anyio import to_thread
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cds.hooks.models import FeedbackRequest, HookRequest, to_json_dict
from cds.hooks.services import SERVICES_BY_ID, ServiceDefinition, discovery
from cds.hooks.wire import decode_hook_request
from cds.jsondepth import DEFAULT_MAX_DEPTH, JsonTooDeep, check_depth
from cds.service import metrics
from cds.service.auth import check_admin_token, check_metrics_token
from cds.service.calls import fhir_sources, process_call
from cds.service.devclock import evaluation_time
from cds.service.errors import ServiceError, validation_messages
from cds.service.feedback import card_problems, find_served_cards, offline_problems, shape_problems
from cds.service.runtime import Runtime
from cds.store.records import FeedbackResult, PublishedVersion
from cds.store.writer import SpoolFull, unavailable

__all__ = ["JSON", "HookCallShortcut", "answer_call", "router"]

log = logging.getLogger(__name__)

JSON = "application/json"
_JSON_TYPES = ("application/json", "application/fhir+json")
_OUTCOME_SCHEMA = {"$ref": "#/components/schemas/OperationOutcome"}
#: Seconds a client is asked to wait before sending feedback again that could not be made durable.
FEEDBACK_RETRY_AFTER_SECONDS = 5


def _json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"description": "OperationOutcome", "content": {"application/fhir+json": {"schema": _OUTCOME_SCHEMA}}}
            for code in codes}


def _body(schema: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _ok(schema: str) -> dict[str, Any]:
    return {"description": "OK", "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


router = APIRouter()


def runtime_of(request: Request) -> Runtime:
    """The `Runtime` of the app serving ``request``."""
    return request.app.state.runtime  # type: ignore[no-any-return]


def audience_of(request: Request, runtime: Runtime) -> str:
    """The URL the client called, as it must appear in the JWT ``aud``: from ``public_base_url``, never from Host.

    Settings refuse authentication without ``public_base_url``, so a request cannot
    choose its own audience by the Host header it sends.
    """
    base = runtime.settings.public_base_url
    if not base:
        raise ServiceError(500, "the service has no public_base_url configured", code="exception",
                           outcome="misconfigured")
    return base + request.url.path


def _decode_bounded(max_depth: int) -> Callable[[bytes], Any]:
    def decode(body: bytes) -> Any:
        check_depth(body, max_depth)
        return orjson.loads(body)

    return decode


async def read_json(request: Request, limit: int, decode: Callable[[bytes], Any] | None = None, *,
                    max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The JSON body decoded by ``decode``, or 415/413/400 `ServiceError`.

    ``decode`` raises ``orjson.JSONDecodeError`` or `JsonTooDeep`; by default the
    body is refused when it nests deeper than ``max_depth``, then decoded with ``orjson``.
    """
    decode = decode or _decode_bounded(max_depth)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise ServiceError(415, "the request body must be JSON (Content-Type: application/json)",
                           code="not-supported", outcome="bad-request")
    declared = request.headers.get("content-length")
    too_large = ServiceError(413, f"the request body is larger than {limit} bytes", code="too-costly",
                             outcome="too-large")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    try:
        return decode(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise ServiceError(400, f"the request body is not valid JSON: {exc.msg} at position {exc.pos}",
                           outcome="bad-request") from exc
    except JsonTooDeep as exc:
        raise ServiceError(400, f"the request body is refused: {exc} (setting max_json_depth)",
                           code="too-costly", outcome="bad-request") from exc


def pick_language(accept_language: str | None, default: str) -> str:
    """``nb`` or ``en`` from an Accept-Language header (``no``/``nn`` read as ``nb``)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        language = {"nb": "nb", "no": "nb", "nn": "nb", "en": "en"}.get(primary)
        if language and quality > 0:
            ranked.append((-quality, index, language))
    return sorted(ranked)[0][2] if ranked else default


def _service(service_id: str) -> ServiceDefinition:
    service = SERVICES_BY_ID.get(service_id)
    if service is None:
        raise ServiceError(404, f"there is no CDS service '{service_id}'; GET /cds-services lists them",
                           code="not-found", outcome="unknown-service")
    return service


def _extension_value(extension: dict[str, Any] | None, *names: str) -> str | None:
    """A rule id/version from a card's extension, wherever the cards module put it."""
    if not extension:
        return None
    stack: list[Any] = [extension]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for name in names:
                value = current.get(name)
                if isinstance(value, (str, int)) and not isinstance(value, bool):
                    return str(value)
            stack.extend(v for v in current.values() if isinstance(v, dict))
    return None


def card_records(cards: list[dict[str, Any]]) -> tuple[Any, ...]:
    """Audit records for the cards served (CDS Hooks JSON): uuid, rule, indicator, topic, suggestion ids."""
    from cds.store import CardRecord

    records = []
    for card in cards:
        topic = card["source"].get("topic")
        extension = card.get("extension")
        records.append(
            CardRecord(
                uuid=card["uuid"],
                rule_id=_extension_value(extension, "ruleId", "rule_id", "rule") or "",
                rule_version=_extension_value(extension, "ruleVersion", "rule_version", "version") or "",
                indicator=card["indicator"],
                topic=topic["code"] if topic else "",
                suggestion_ids=tuple(s["uuid"] for s in card.get("suggestions", ()) if s.get("uuid")),
            )
        )
    return tuple(records)


class _AuditDraft:
    """What is known about a call so far, for its audit record."""

    def __init__(self, service: ServiceDefinition) -> None:
        self.service = service
        self.hook = service.hook
        self.hook_instance = ""
        self.patient_id: str | None = None

    def update(self, request: HookRequest) -> None:
        self.hook = request.hook
        self.hook_instance = request.hookInstance
        patient = request.context.get("patientId")
        self.patient_id = patient if isinstance(patient, str) else None


async def _record(runtime: Runtime, draft: _AuditDraft, *, started: float, at: Any, outcome: str, status: int,
                  digest: str | None, cards: tuple[Any, ...]) -> None:
    """Queue the call's audit record for the writer (`cds.store.writer`); waits only when its queue is full."""
    if runtime.audit is None:
        return
    from cds.store import CallRecord

    record = CallRecord(
        service_id=draft.service.id,
        hook=draft.hook,
        hook_instance=draft.hook_instance or "-",
        patient_id=draft.patient_id,
        ruleset_digest=digest,
        duration_ms=(time.perf_counter() - started) * 1000,
        outcome=outcome,
        http_status=status,
        cards=cards,
        at=at,
        site=runtime.settings.site,
    )
    try:
        await runtime.audit.submit_async(record)
    except Exception:  # the answer was already sent; never let auditing break the service
        log.exception("could not queue the call for the audit store")


async def _authenticate(request: Request, runtime: Runtime) -> None:
    if runtime.authenticator.enabled:
        await runtime.authenticator.authenticate(request.headers.get("authorization"), audience_of(request, runtime))


@router.get(
    "/cds-services",
    summary="Discovery: the CDS services offered",
    responses={200: _ok("Discovery"), **_errors(401)},
)
async def get_discovery(request: Request) -> Response:
    runtime = runtime_of(request)
    if runtime.settings.auth.protect_discovery:
        await _authenticate(request, runtime)
    return _json_response(to_json_dict(discovery()))


@router.post(
    "/cds-services/{service_id}",
    summary="Call a CDS service (CDS Hooks 2.0.1)",
    openapi_extra=_body("HookRequest"),
    responses={200: _ok("HookResponse"), **_errors(400, 401, 404, 412, 413, 415)},
)
async def call_service(service_id: str, request: Request) -> Response:
    # Calls are normally answered by `HookCallShortcut` before FastAPI routes them;
    # this route documents the endpoint and answers when the shortcut steps aside.
    return await answer_call(runtime_of(request), service_id, request)


async def answer_call(runtime: Runtime, service_id: str, request: Request) -> Response:
    """The response to a call of ``service_id``, its audit record queued as a background task.

    Every refusal is an OperationOutcome response; anything unexpected is
    recorded as an ``error`` call and raised (the app's last-resort handler answers 500).
    """
    try:
        if service_id not in SERVICES_BY_ID and runtime.settings.auth.protect_discovery:
            await _authenticate(request, runtime)  # which services exist is for authenticated clients only
        service = _service(service_id)
    except ServiceError as exc:
        return exc.response()  # no such service (or a caller who may not learn that): nothing to audit
    started = time.perf_counter()
    at = runtime.clock()
    draft = _AuditDraft(service)
    digest: str | None = None
    cards: tuple[Any, ...] = ()
    try:
        await _authenticate(request, runtime)
        now = evaluation_time(request.headers, development=runtime.settings.development, received=at)
        max_depth = runtime.settings.max_json_depth
        payload = await read_json(request, runtime.settings.max_body_bytes,
                                  lambda body: decode_hook_request(body, max_depth))
        result = await process_call(
            service,
            payload,
            evaluator=runtime.evaluator,
            sources=fhir_sources(runtime.settings, runtime.http),
            now=now,
            language=pick_language(request.headers.get("accept-language"), runtime.settings.language),
            max_concurrency=runtime.settings.fhir.max_concurrency,
            fetch_timeout_seconds=runtime.settings.fhir.total_timeout_seconds,
            on_request=draft.update,
        )
        response = _json_response(result.response)
        digest = result.evaluation.ruleset_digest
        cards = card_records(result.evaluation.cards)
        outcome, status = ("ok" if cards else "no-cards"), 200
    except ServiceError as exc:
        response, outcome, status = exc.response(), exc.outcome, exc.status
    except Exception:
        metrics.hook_call(service.id, 500, time.perf_counter() - started)
        await _record(runtime, draft, started=started, at=at, outcome="error", status=500, digest=None, cards=())
        raise
    metrics.hook_call(service.id, status, time.perf_counter() - started)
    if cards:
        metrics.card_served(card.rule_id for card in cards)
    response.background = BackgroundTask(
        _record, runtime, draft, started=started, at=at, outcome=outcome, status=status, digest=digest, cards=cards
    )
    return response


_CALL_PREFIX = "/cds-services/"


class HookCallShortcut:
    """ASGI middleware answering ``POST /cds-services/{service_id}`` without FastAPI's routing.

    A hook call is the one request that comes hundreds of times a second; the
    route lookup, FastAPI's parameter resolution and the inner exception
    middleware cost it ~350,000 instructions (~0.07 ms of CPU) and add nothing
    (`answer_call` reads the body and turns every refusal into an
    OperationOutcome itself). It sits inside the app's outer middleware (the
    last-resort 500 handler, CORS when configured), so a call gets the same
    headers and errors either way. Everything else, including ``.../feedback``
    and any request under a ``root_path``, goes on to FastAPI.
    """

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path: str = scope["path"]
            if path.startswith(_CALL_PREFIX) and len(path) > len(_CALL_PREFIX):
                service_id = path[len(_CALL_PREFIX):]
                if "/" not in service_id:
                    response = await answer_call(self.runtime, service_id, Request(scope, receive))
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


@router.post(
    "/cds-services/{service_id}/feedback",
    summary="Feedback on cards (accepted / overridden); idempotent",
    openapi_extra=_body("FeedbackRequest"),
    responses={200: _ok("FeedbackResult"), 202: _ok("FeedbackResult"), **_errors(400, 401, 404, 413, 415, 503)},
)
async def post_feedback(service_id: str, request: Request) -> Response:
    runtime = runtime_of(request)
    await _authenticate(request, runtime)
    service = _service(service_id)
    payload = await read_json(request, runtime.settings.max_body_bytes, max_depth=runtime.settings.max_json_depth)
    if not isinstance(payload, dict):
        raise ServiceError(400, "the feedback body must be a JSON object with a 'feedback' list")
    try:
        feedback = FeedbackRequest.model_validate(payload)
    except ValidationError as exc:
        raise ServiceError(400, validation_messages(exc), outcome="bad-request") from exc
    items = list(feedback.feedback)
    problems = shape_problems(items)
    if problems:
        raise ServiceError(400, problems, outcome="bad-request")
    store, audit = runtime.store, runtime.audit
    if store is None or audit is None:
        raise ServiceError(503, "feedback cannot be stored: no audit store", code="transient", outcome="no-store")

    def record() -> FeedbackResult | list[str]:
        audit.flush()  # the card answered about may have been served a moment ago and still be queued
        # asked before the lookup: once nothing waits in the spool, every card served is in the store
        spooled_calls = audit.spool_pending()
        try:
            served = find_served_cards(lambda uuids: store.served_cards(service.id, uuids), [i.card for i in items])
        except Exception as exc:
            if not unavailable(exc):
                raise
            # The store is unreachable: what can be checked without it is checked, and the feedback is spooled.
            problems = offline_problems(items)
        else:  # a card not found may still wait in the spool (its call was answered during an outage)
            problems = card_problems(items, served, runtime.rules, unconfirmed_ok=spooled_calls)
        if problems:
            return problems
        return audit.record_feedback(service.id, items, received_at=runtime.clock())

    try:
        result = await to_thread.run_sync(record)
    except SpoolFull as exc:
        log.error("feedback refused: the audit store is unreachable and %s", exc)
        raise ServiceError(503, "feedback cannot be stored right now; send it again later", code="transient",
                           outcome="store-unavailable",
                           headers={"Retry-After": str(FEEDBACK_RETRY_AFTER_SECONDS)}) from None
    if isinstance(result, list):
        raise ServiceError(400, result, outcome="bad-request")
    # 202: kept durably in the local spool, written to the database when it is reachable again
    return _json_response(asdict(result), 202 if result.spooled else 200)


@router.post(
    "/admin/rules/reload",
    summary=("Reload the rule files (admin credential) and publish them to every worker and replica, switching at "
             "effectiveAt; a broken set is refused and nothing changes anywhere"),
    responses={200: {"description": "the new rule-set digest, version and effectiveAt"}, **_errors(401, 403, 422, 503)},
)
async def reload_rules(request: Request) -> Response:
    runtime = runtime_of(request)
    check_admin_token(request.headers.get("authorization"), runtime.settings.auth)
    if runtime.rules is None:
        raise ServiceError(503, "this service has no reloadable rule set", code="not-supported", outcome="no-rules")
    publisher = runtime.publisher
    if publisher is None:  # no store: this process only
        body = reload_body(await to_thread.run_sync(runtime.rules.reload))
    else:
        try:
            body = reload_body(*await to_thread.run_sync(publisher.publish))
        except Exception as exc:
            if not unavailable(exc):
                raise
            raise ServiceError(503, "the rule set could not be published: the store is unreachable; nothing changed",
                               code="transient", outcome="store-unavailable",
                               headers={"Retry-After": str(FEEDBACK_RETRY_AFTER_SECONDS)}) from None
    if not body["ok"]:
        raise ServiceError(422, body["errors"] or ["the rule set was not reloaded"], code="invalid",
                           outcome="reload-failed")
    return _json_response(body)


def reload_body(result: Any, published: PublishedVersion | None = None) -> dict[str, Any]:
    """A JSON view of a `cds.rules.ReloadResult` (ok, changed, digest, previousDigest, errors, warnings),
    with the published ``version`` and ``effectiveAt`` when a new version was published."""
    body = dict(result.to_dict())
    if published is not None:
        body["version"] = published.version
        body["effectiveAt"] = published.effective_at.isoformat()
    return body


@router.get("/health", summary="Liveness: the process answers", responses={200: {"description": "ok"}})
async def health() -> Response:
    return _json_response({"status": "ok"})


@router.get(
    "/ready",
    summary="Readiness: a rule set is loaded and the audit store answers",
    responses={200: {"description": "ready: the rule-set digest and the store's state"}, **_errors(503)},
)
async def ready(request: Request) -> Response:
    runtime = runtime_of(request)
    problems = []
    digest = None
    if runtime.rules is not None:
        try:
            digest = runtime.rules.current().digest
        except Exception:  # noqa: BLE001 - a holder without a serving rule set is not ready
            problems.append("no rule set is loaded")
    store = "off"
    if runtime.store is not None:
        store = await _store_state(runtime)
        if store != "ok":
            problems.append(f"the audit store does not answer ({store})")
    if problems:
        raise ServiceError(503, problems, code="transient", outcome="not-ready", headers={"Retry-After": "5"})
    return _json_response({"status": "ready", "ruleset": digest, "store": store})


async def _store_state(runtime: Runtime) -> str:
    """``ok``, or why the store cannot be used: one ``SELECT 1`` within `READY_STORE_TIMEOUT_SECONDS`."""
    store = runtime.store
    assert store is not None

    def ping() -> None:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    try:
        with anyio.fail_after(READY_STORE_TIMEOUT_SECONDS):
            await to_thread.run_sync(ping, abandon_on_cancel=True)
    except TimeoutError:
        return "timeout"
    except Exception as exc:  # noqa: BLE001 - any database error means: not ready
        return type(exc).__name__
    return "ok"


#: How long ``/ready`` waits for the audit store to answer ``SELECT 1``.
READY_STORE_TIMEOUT_SECONDS = 2.0


@router.get(
    "/metrics",
    summary="Prometheus metrics (bearer auth.metrics_token; off without it)",
    responses={200: {"description": "Prometheus text format", "content": {"text/plain": {}}},
               **_errors(401, 404)},
)
async def get_metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    check_metrics_token(request.headers.get("authorization"), runtime.settings.auth)
    spool = runtime.audit.spool if runtime.audit is not None else None
    body = await to_thread.run_sync(lambda: metrics.render(
        runtime.rules,
        version=runtime.publisher.version if runtime.publisher is not None else None,
        spool_depth=spool.depth if spool is not None else None,
    ))
    return Response(body, media_type=metrics.CONTENT_TYPE)
