"""Errors as FHIR OperationOutcome responses.

Every error the service answers with is a `ServiceError`: an HTTP status, a FHIR
issue type code and a message saying what is wrong (and, where it helps, what
to do). The handlers below turn them, and anything unexpected, into an
``application/fhir+json`` OperationOutcome. Only genuine internal bugs become a
500, and that body carries no details (they go to the server log).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "FHIR_JSON",
    "ServiceError",
    "operation_outcome",
    "outcome_response",
    "http_error_handler",
    "service_error_handler",
    "unexpected_error_handler",
    "validation_messages",
]

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
_MAX_ISSUES = 20


def operation_outcome(
    messages: Sequence[str], *, code: str = "invalid", severity: str = "error", expressions: Sequence[str] = ()
) -> dict[str, Any]:
    """A FHIR R4 OperationOutcome with one issue per message."""
    issues: list[dict[str, Any]] = []
    for message in list(messages)[:_MAX_ISSUES] or ["error"]:
        issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
        issues.append(issue)
    if expressions:
        issues[0]["expression"] = list(expressions)
    return {"resourceType": "OperationOutcome", "issue": issues}


def outcome_response(status: int, outcome: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """An OperationOutcome as an HTTP response."""
    return Response(orjson.dumps(outcome), status_code=status, media_type=FHIR_JSON, headers=headers)


class ServiceError(Exception):
    """An error answered with ``status`` and an OperationOutcome.

    ``code`` is the FHIR issue type (``invalid``, ``not-found``, ``security``,
    ``login``, ``too-costly``, ``incomplete``, ``not-supported``, ``exception``);
    ``outcome`` is the short audit label for the call.
    """

    def __init__(
        self,
        status: int,
        messages: str | Sequence[str],
        *,
        code: str = "invalid",
        outcome: str | None = None,
        expressions: Sequence[str] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        self.code = code
        self.outcome = outcome or code
        self.expressions = list(expressions)
        self.headers = headers
        super().__init__("; ".join(self.messages))

    def response(self) -> Response:
        """The HTTP response for this error."""
        return outcome_response(
            self.status,
            operation_outcome(self.messages, code=self.code, expressions=self.expressions),
            headers=self.headers,
        )


def validation_messages(error: ValidationError, *, prefix: str = "") -> list[str]:
    """One readable line per pydantic error: ``location: message`` (no input values)."""
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in item.get("loc", ()))
        where = f"{prefix}{location}" if location else prefix.rstrip(".") or "body"
        lines.append(f"{where}: {item.get('msg', 'invalid')}")
    return lines or ["invalid request body"]


async def service_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette handler for `ServiceError`."""
    assert isinstance(exc, ServiceError)
    return exc.response()


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Framework errors (unknown path, wrong method, bad path parameter) as OperationOutcome."""
    status = getattr(exc, "status_code", 400)
    detail = getattr(exc, "detail", None)
    message = detail if isinstance(detail, str) else "the request is not valid"
    code = {404: "not-found", 405: "not-supported"}.get(status, "invalid")
    headers = getattr(exc, "headers", None)
    return outcome_response(status, operation_outcome([message], code=code), headers=headers)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """Last resort: a 500 without details; the traceback goes to the log, never the body."""
    log.error("internal error handling %s %s", request.method, request.url.path, exc_info=exc)
    return outcome_response(500, operation_outcome(["internal error"], code="exception"))
