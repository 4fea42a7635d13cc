"""The published OpenAPI document matches the app."""

import json

from cds.service.openapi import OPENAPI_PATH, render


def test_api_openapi_json_is_up_to_date():
    assert OPENAPI_PATH.read_text(encoding="utf-8") == render(), (
        "api/openapi.json is stale: run `python -m cds.service.openapi`")


def test_the_document_describes_the_cds_hooks_bodies_and_errors():
    document = json.loads(render())
    call = document["paths"]["/cds-services/{service_id}"]["post"]
    assert call["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/HookRequest")
    assert {"400", "404", "412"} <= set(call["responses"])
    assert {"HookRequest", "HookResponse", "Card", "Discovery", "FeedbackRequest", "OperationOutcome"} <= set(
        document["components"]["schemas"])
