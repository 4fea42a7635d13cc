"""The FHIR client: bearer token, reads, searches with bounded same-origin paging, failures, no token leaks."""

import asyncio

import httpx
import pytest

from cds.fhir.client import BundleSource, FhirClient, FhirFetchError

BASE = "https://fhir.sykehus.example/fhir"
TOKEN = "sEcReT-fhir-access-token-123"


def page(ids, next_url=None):
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": {"resourceType": "Observation", "id": i}} for i in ids]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def client_for(handler, **bounds):
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return FhirClient(BASE, access_token=TOKEN, http=http, **bounds)


def fetch(client, query):
    return asyncio.run(client.fetch(query))


def test_reads_send_the_bearer_token():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"resourceType": "Patient", "id": "ingrid"})

    result = fetch(client_for(handler), "Patient/ingrid")
    assert [r["id"] for r in result.resources] == ["ingrid"]
    assert str(seen[0].url) == f"{BASE}/Patient/ingrid"
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_read_of_a_missing_resource_is_no_data():
    result = fetch(client_for(lambda r: httpx.Response(404)), "Encounter/gone")
    assert result.resources == []


def test_searches_follow_next_links():
    pages = {"/fhir/Observation": page(["a", "b"], f"{BASE}/Observation?page=2"),
             "/fhir/Observation?page=2": page(["c"])}

    def handler(request):
        key = request.url.path + ("?page=2" if b"page=2" in request.url.query else "")
        return httpx.Response(200, json=pages[key])

    result = fetch(client_for(handler), "Observation?patient=ingrid")
    assert [r["id"] for r in result.resources] == ["a", "b", "c"] and not result.truncated


def test_paging_stops_at_the_page_bound():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(200, json=page([str(len(calls))], f"{BASE}/Observation?page={len(calls) + 1}"))

    result = fetch(client_for(handler, max_pages=3), "Observation?patient=ingrid")
    assert len(calls) == 3 and result.truncated


def test_paging_stops_at_the_resource_bound():
    client = client_for(lambda r: httpx.Response(200, json=page(["a", "b", "c"])), max_resources=2)
    result = fetch(client, "Observation?patient=ingrid")
    assert len(result.resources) == 2 and result.truncated


def test_next_links_to_another_origin_are_not_followed_so_the_token_stays_home():
    seen = []

    def handler(request):
        seen.append(str(request.url))
        return httpx.Response(200, json=page(["a"], "https://evil.example/steal?page=2"))

    result = fetch(client_for(handler), "Observation?patient=ingrid")
    assert seen == [f"{BASE}/Observation?patient=ingrid"] and result.truncated


@pytest.mark.parametrize("status", [401, 403, 500, 503])
def test_server_errors_are_fetch_errors(status):
    with pytest.raises(FhirFetchError, match=f"HTTP {status}"):
        fetch(client_for(lambda r: httpx.Response(status)), "Condition?patient=ingrid")


def test_a_timeout_is_a_fetch_error():
    def handler(request):
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(FhirFetchError, match="did not answer in time"):
        fetch(client_for(handler), "Condition?patient=ingrid")


def test_a_non_fhir_answer_is_a_fetch_error():
    with pytest.raises(FhirFetchError, match="not JSON"):
        fetch(client_for(lambda r: httpx.Response(200, text="<html>")), "Condition?patient=ingrid")


def test_the_token_is_not_in_the_clients_repr():
    assert TOKEN not in repr(client_for(lambda r: httpx.Response(200)))


def test_bundle_source_answers_reads_and_patient_searches():
    source = BundleSource.from_bundle({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "ingrid"}},
        {"resource": {"resourceType": "Condition", "id": "hf", "subject": {"reference": "Patient/ingrid"}}},
        {"resource": {"resourceType": "Condition", "id": "other", "subject": {"reference": "Patient/olav"}}},
    ]})
    assert [r["id"] for r in asyncio.run(source.fetch("Patient/ingrid")).resources] == ["ingrid"]
    assert [r["id"] for r in asyncio.run(source.fetch("Condition?patient=ingrid&_count=100")).resources] == ["hf"]
