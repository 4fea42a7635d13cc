"""``/metrics`` (Prometheus, behind its own bearer secret) and ``/ready`` (readiness; ``/health`` is liveness)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cds.service import metrics
from cds.service.settings import Settings

from .conftest import PSEUDONYM_KEY

SECRET = "scrape-secret-0123456789"


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "data", pseudonym_key=PSEUDONYM_KEY.decode(), auth={"metrics_token": SECRET})


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_calls_latency_and_cards_per_service_and_rule(client, request_body):
    before = scrape(client)
    for _ in range(3):
        assert client.post("/cds-services/discharge-pathway", json=request_body()).status_code == 200
    assert client.post("/cds-services/discharge-pathway", json=request_body("patient-view")).status_code == 400
    after = scrape(client)
    calls = ("cds_hook_calls_total", {"service": "discharge-pathway", "status": "200"})
    assert value(after, calls[0], **calls[1]) - value(before, calls[0], **calls[1]) == 3
    assert value(after, "cds_hook_calls_total", service="discharge-pathway", status="400") - value(
        before, "cds_hook_calls_total", service="discharge-pathway", status="400") == 1
    assert value(after, "cds_hook_call_seconds_count", service="discharge-pathway") - value(
        before, "cds_hook_call_seconds_count", service="discharge-pathway") == 4
    assert value(after, "cds_cards_total", rule="discharge.pathway-b") - value(
        before, "cds_cards_total", rule="discharge.pathway-b") == 3


def test_metrics_count_fhir_fetch_failures(client, make_client, request_body):
    def down(request):
        raise httpx.ConnectError("refused")

    fetching = make_client(http=httpx.AsyncClient(transport=httpx.MockTransport(down)))
    body = request_body(fhirServer="https://fhir.sykehus.example/fhir")
    del body["prefetch"]["conditions"]
    before = value(scrape(fetching), "cds_fhir_fetch_failures_total", service="discharge-pathway")
    answer = fetching.post("/cds-services/discharge-pathway", json=body)  # a failed search: a data-quality card
    assert answer.status_code == 200 and answer.json()["cards"][0]["source"]["topic"]["code"] == "data-quality"
    del body["fhirServer"]  # nothing to fetch from: a client error, not a fetch failure
    assert fetching.post("/cds-services/discharge-pathway", json=body).status_code == 412
    assert value(scrape(fetching), "cds_fhir_fetch_failures_total", service="discharge-pathway") - before == 1


def test_the_audit_spool_depth_is_read_from_the_spool_when_scraped(client, monkeypatch):
    spool = client.app.state.runtime.audit.spool
    samples = scrape(client)
    assert ("cds_audit_spool_depth", ()) in samples and samples[("cds_audit_spool_depth", ())] == 0
    monkeypatch.setattr(spool, "depth", lambda: 7)
    assert value(scrape(client), "cds_audit_spool_depth") == 7


def test_metrics_name_the_serving_rule_set_digest(make_client):
    class Holder:
        def current(self):
            return type("RuleSet", (), {"digest": "sha256:abc"})()

    samples = scrape(make_client(rules=Holder()))
    assert value(samples, "cds_ruleset_info", digest="sha256:abc", version="") == 1


def test_metrics_need_their_own_bearer_secret(client, make_client, tmp_path):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    off = make_client(settings=Settings(data_dir=tmp_path / "d2", pseudonym_key=PSEUDONYM_KEY.decode()))
    assert off.get("/metrics", headers={"Authorization": f"Bearer {SECRET}"}).status_code == 404


def test_ready_answers_200_with_the_rule_set_and_store(make_client):
    class Holder:
        def current(self):
            return type("RuleSet", (), {"digest": "sha256:abc"})()

    response = make_client(rules=Holder()).get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "ruleset": "sha256:abc", "store": "ok"}


def test_ready_is_503_while_the_store_does_not_answer_and_health_stays_200(client, store):
    store.engine.dispose()

    def refuse(*args, **kwargs):
        raise ConnectionError("database down")

    original = store.engine.connect
    store.engine.connect = refuse  # type: ignore[method-assign]
    try:
        response = client.get("/ready")
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert "audit store does not answer" in response.json()["issue"][0]["diagnostics"]
        assert client.get("/health").status_code == 200
    finally:
        store.engine.connect = original  # type: ignore[method-assign]


def test_ready_is_503_while_no_rule_set_is_loaded(make_client):
    class Loading:
        def current(self):
            raise RuntimeError("not loaded yet")

    response = make_client(rules=Loading()).get("/ready")
    assert response.status_code == 503
    assert "no rule set is loaded" in response.json()["issue"][0]["diagnostics"]
