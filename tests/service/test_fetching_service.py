"""The service fills absent prefetch from the client's FHIR server, and never logs the token."""

import logging

import httpx

TOKEN = "sEcReT-fhir-access-token-123"
AUTH = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
        "subject": "cds-service"}


def test_absent_prefetch_is_read_from_fhir_server_with_the_token(make_client, fhir_server, request_body, evaluator):
    seen = []
    http = fhir_server({"Condition?*": {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "Condition", "id": "hf", "subject": {"reference": "Patient/ingrid"}}}]}},
        seen)
    body = request_body(fhirServer="https://fhir.sykehus.example/fhir", fhirAuthorization=AUTH)
    del body["prefetch"]["conditions"]
    response = make_client(http=http).post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 200
    assert [r.url.path for r in seen] == ["/fhir/Condition"]
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert evaluator.calls[0].resources.get("Condition", "hf") is not None


def test_a_failing_read_gives_412_naming_the_key(make_client, fhir_server, request_body):
    body = request_body(fhirServer="https://fhir.sykehus.example/fhir", fhirAuthorization=AUTH)
    del body["prefetch"]["patient"]
    failing = httpx.Response(503, json={"resourceType": "OperationOutcome", "issue": []})
    response = make_client(http=fhir_server({"Patient/ingrid": failing})).post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 412
    assert "patient" in response.json()["issue"][0]["diagnostics"]


def test_a_failing_search_answers_with_a_data_quality_card_first(make_client, fhir_server, request_body, evaluator):
    body = request_body(fhirServer="https://fhir.sykehus.example/fhir", fhirAuthorization=AUTH)
    del body["prefetch"]["flags"]
    http = fhir_server({"Flag?*": httpx.Response(500, json={"resourceType": "OperationOutcome", "issue": []})})
    response = make_client(http=http).post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 200
    first = response.json()["cards"][0]
    assert first["source"]["topic"]["code"] == "data-quality" and "flagg" in first["summary"]
    assert "suggestions" not in first and first["indicator"] == "warning"
    assert evaluator.calls[0].resources.incomplete == {"Flag"}


def test_the_access_token_is_never_logged(make_client, fhir_server, request_body, caplog):
    caplog.set_level(logging.DEBUG)
    body = request_body(fhirServer="https://fhir.sykehus.example/fhir", fhirAuthorization=AUTH)
    del body["prefetch"]["conditions"], body["prefetch"]["flags"]
    client = make_client(http=fhir_server({"Condition?*": {"resourceType": "Bundle", "type": "searchset"}}))
    client.post("/cds-services/discharge-pathway", json=body)  # flags fails -> 412, conditions succeeds
    assert caplog.records, "expected some log records to inspect"
    assert all(TOKEN not in record.getMessage() and TOKEN not in str(record.args) for record in caplog.records)
    assert TOKEN not in caplog.text
