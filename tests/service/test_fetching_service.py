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


def test_a_fhir_server_slower_than_the_default_fetch_budget_is_a_reported_fetch_failure(make_client, request_body):
    import asyncio

    import httpx

    async def never_in_time(request):
        await asyncio.sleep(60)  # far past the budget; the call must not wait for it
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"})

    body = request_body(fhirServer="https://fhir.sykehus.example/fhir", fhirAuthorization=AUTH)
    del body["prefetch"]["conditions"]
    client = make_client(http=httpx.AsyncClient(transport=httpx.MockTransport(never_in_time)))
    response = client.post("/cds-services/discharge-pathway", json=body)
    # the search ran out of the fetch budget: answered, with the data-quality card first naming it (never silent)
    assert response.status_code == 200
    first = response.json()["cards"][0]
    assert first["source"]["topic"]["code"] == "data-quality" and first["indicator"] == "warning"


def test_the_default_fetch_budget_is_well_under_a_cds_client_timeout():
    from cds.service.settings import FhirClientSettings

    defaults = FhirClientSettings()
    assert defaults.total_timeout_seconds <= 2.0 and defaults.timeout_seconds <= defaults.total_timeout_seconds
