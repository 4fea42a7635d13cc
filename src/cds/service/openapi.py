"""The published OpenAPI document (``api/openapi.json``).

The routes read their bodies themselves (for OperationOutcome errors), so the
request and response schemas are added here from the wire models in
`cds.hooks.models`. ``python -m cds.service.openapi`` rewrites
``api/openapi.json``; a test fails when the committed file is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter
from pydantic.json_schema import models_json_schema

from cds.hooks.models import Discovery, FeedbackRequest, HookRequest, HookResponse

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["OPENAPI_PATH", "build_openapi", "render", "main"]

OPENAPI_PATH = Path(__file__).resolve().parents[3] / "api" / "openapi.json"
_REF = "#/components/schemas/{model}"

OPERATION_OUTCOME_SCHEMA: dict[str, Any] = {
    "title": "OperationOutcome",
    "description": "FHIR R4 OperationOutcome: what is wrong with the request.",
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


def _schemas() -> dict[str, Any]:
    from cds.store import FeedbackResult

    _, top = models_json_schema(
        [(HookRequest, "validation"), (FeedbackRequest, "validation"), (HookResponse, "serialization"),
         (Discovery, "serialization")],
        ref_template=_REF,
    )
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["FeedbackResult"] = TypeAdapter(FeedbackResult).json_schema(ref_template=_REF)
    schemas["OperationOutcome"] = OPERATION_OUTCOME_SCHEMA
    return schemas


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with the CDS Hooks schemas (cached on the app)."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = document.setdefault("components", {})
        components.setdefault("schemas", {}).update(_schemas())
        components["securitySchemes"] = {
            "cdsClientJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                             "description": "CDS Hooks client JWT (ES384/RS384), aud = the URL called"},
        }
        document["security"] = [{"cdsClientJwt": []}]
        app.openapi_schema = document
    return app.openapi_schema


class _NoEvaluator:
    def evaluate(self, call: Any) -> Any:  # pragma: no cover - never called
        raise RuntimeError("documentation only")


def render() -> str:
    """The OpenAPI document as it is written to ``api/openapi.json``."""
    from cds.service.app import create_app
    from cds.service.settings import Settings

    app = create_app(Settings(), evaluator=_NoEvaluator(), audit=False)  # type: ignore[arg-type]
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write ``api/openapi.json`` (or the path given)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else OPENAPI_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
