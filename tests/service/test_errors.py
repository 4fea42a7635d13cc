"""Bad input gets a specific 4xx with an OperationOutcome saying what is wrong; never a 500."""

import json

import orjson

import pytest


def _outcome(response):
    body = response.json()
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert body["resourceType"] == "OperationOutcome"
    return " ".join(issue["diagnostics"] for issue in body["issue"])


def test_unknown_service_is_404(client, request_body):
    response = client.post("/cds-services/no-such-service", json=request_body())
    assert response.status_code == 404
    assert "no-such-service" in _outcome(response)


def test_malformed_json_is_400(client):
    response = client.post("/cds-services/discharge-pathway", content=b'{"hook": ',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in _outcome(response)


def test_a_json_array_body_is_400(client):
    response = client.post("/cds-services/discharge-pathway", json=[1, 2])
    assert response.status_code == 400
    assert "JSON object" in _outcome(response)


def test_wrong_content_type_is_415(client, request_body):
    response = client.post("/cds-services/discharge-pathway", content=json.dumps(request_body()),
                           headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_wrong_hook_for_the_service_is_400(client, request_body):
    response = client.post("/cds-services/discharge-pathway", json=request_body("patient-view"))
    assert response.status_code == 400
    assert "answers hook 'encounter-discharge'" in _outcome(response)


@pytest.mark.parametrize("field", ["patientId", "userId", "encounterId"])
def test_missing_required_context_is_400_naming_the_field(client, request_body, field):
    body = request_body()
    del body["context"][field]
    response = client.post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 400
    assert f"context.{field}" in _outcome(response)


def test_empty_context_is_400_not_500(client, request_body):
    response = client.post("/cds-services/frailty-admission", json=request_body("encounter-start", context={}))
    assert response.status_code == 400


def test_patient_id_that_is_not_a_fhir_id_is_400(client, request_body):
    body = request_body()
    body["context"]["patientId"] = "ingrid&_include=*"
    assert client.post("/cds-services/discharge-pathway", json=body).status_code == 400


def test_missing_hook_instance_is_400(client, request_body):
    body = request_body()
    del body["hookInstance"]
    response = client.post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 400
    assert "hookInstance" in _outcome(response)


def test_fhir_authorization_without_fhir_server_is_400(client, request_body):
    body = request_body(fhirAuthorization={"access_token": "t", "token_type": "Bearer", "expires_in": 300,
                                           "scope": "patient/*.read", "subject": "cds"})
    response = client.post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 400
    assert "fhirAuthorization is given without fhirServer" in _outcome(response)


def test_oversized_body_is_413(make_client, settings, request_body):
    settings.max_body_bytes = 2048
    body = request_body()
    body["extension"] = {"no.example.padding": "x" * 5000}
    response = make_client().post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 413
    assert "larger than 2048 bytes" in _outcome(response)


def test_prefetch_value_that_is_not_a_resource_is_400(client, request_body):
    body = request_body()
    body["prefetch"]["conditions"] = "all of them"
    response = client.post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 400
    assert "prefetch.conditions" in _outcome(response)


def test_prefetch_resource_without_resource_type_is_400(client, request_body):
    body = request_body()
    body["prefetch"]["patient"] = {"id": "ingrid"}
    response = client.post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 400
    assert "prefetch.patient: missing resourceType" in _outcome(response)


def test_prefetch_resource_of_the_wrong_type_is_400(client, request_body):
    body = request_body()
    body["prefetch"]["patient"] = {"resourceType": "Encounter", "id": "x"}
    response = client.post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 400
    assert "expected Patient" in _outcome(response)


def test_absent_prefetch_without_fhir_server_is_412_naming_the_keys(client, request_body):
    body = request_body()
    del body["prefetch"]["conditions"], body["prefetch"]["flags"]
    response = client.post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 412
    text = _outcome(response)
    assert "conditions" in text and "flags" in text and "observations" not in text


def test_unknown_path_is_an_operation_outcome(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    _outcome(response)


def test_wrong_method_is_405_operation_outcome(client):
    response = client.get("/cds-services/discharge-pathway")
    assert response.status_code == 405
    _outcome(response)


def test_an_internal_bug_is_a_500_without_details(make_client, request_body):
    class Broken:
        def evaluate(self, call):
            raise RuntimeError("secret internals")

    response = make_client(evaluator=Broken()).post("/cds-services/discharge-pathway", json=request_body())
    assert response.status_code == 500
    assert "secret internals" not in response.text
    assert _outcome(response) == "internal error"


def test_an_invalid_patient_resource_is_400(client, request_body):
    body = request_body()
    body["prefetch"]["patient"]["birthDate"] = "yesterday"
    response = client.post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 400
    assert "Patient ingrid in prefetch is not valid FHIR R4" in _outcome(response)


def test_a_prefetched_patient_that_is_not_the_patient_in_context_is_400(client, request_body):
    body = request_body()
    body["prefetch"]["patient"]["id"] = "someone-else"
    response = client.post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 400
    assert "is Patient/someone-else, but the template asks for Patient/ingrid" in _outcome(response)


@pytest.mark.parametrize(
    ("value", "why"),
    [(b'{"resourceType": "Bundle", "type": "searchset", "id": "\xff"}', "UTF-8"),
     (b'{"resourceType": "Bundle", "type": "searchset", "total": 1e400}', "infinity")],
)
def test_a_prefetch_value_that_only_a_full_decode_refuses_is_400_naming_the_key(client, request_body, value, why):
    body = orjson.dumps(request_body() | {"prefetch": {**request_body()["prefetch"], "conditions": None}})
    body = body.replace(b'"conditions":null', b'"conditions":' + value)
    response = client.post("/cds-services/discharge-pathway", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "prefetch.conditions: not valid JSON" in _outcome(response)
    assert why in _outcome(response)
