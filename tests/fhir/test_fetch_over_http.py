"""The service reading a chart from a FHIR server over real HTTP (loopback): same cards, and visible gaps.

Every persona's chart is served by `fhirserver.FhirServer`; the CDS Hooks call
carries no prefetch but the Patient, so every other key is fetched. A search
cut short by the paging bounds, failing or not answered in time changes the
response visibly: a data-quality card first, naming the data, and facts of
that type unknown instead of drawn from part of it.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhirserver import FhirServer, serving
from logical_refs import fnr_of, to_logical

from cds.service.app import create_app
from cds.service.runtime import build_evaluator
from cds.service.settings import Settings
from cds.store import AuditStore

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_examples"
PERSONAS: list[dict[str, Any]] = json.loads((EXAMPLES / "personas.json").read_text(encoding="utf-8"))
KEY = "http-fetch-test-pseudonym-key-0123456789"


def persona(key: str) -> dict[str, Any]:
    return next(p for p in PERSONAS if p["key"] == key)


def chart(p: dict[str, Any]) -> list[dict[str, Any]]:
    bundle = json.loads((EXAMPLES / p["bundle"]).read_text(encoding="utf-8"))
    return [entry["resource"] for entry in bundle["entry"]]


def request_for(p: dict[str, Any], hook: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / p["requests"][hook]).read_text(encoding="utf-8"))


def without_uuids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_uuids(v) for k, v in value.items() if k != "uuid"}
    if isinstance(value, list):
        return [without_uuids(v) for v in value]
    return value


def service_id(hook: str) -> str:
    from cds.hooks.services import SERVICES

    return next(s.id for s in SERVICES if s.hook == hook)


@functools.cache
def evaluator() -> Any:
    """The real evaluator, loaded once (it depends only on the rules, the model and the key, not on fhir.*)."""
    return build_evaluator(Settings(pseudonym_key=KEY))


def call(p: dict[str, Any], body: dict[str, Any], tmp_path: Path, **fhir: Any) -> Any:
    settings = Settings(data_dir=tmp_path / "data", pseudonym_key=KEY, fhir=fhir)
    store = AuditStore.open(f"sqlite:///{tmp_path / 'audit.sqlite3'}", pseudonym_key=KEY.encode())
    moment = datetime.fromisoformat(p["now"])
    try:
        client = TestClient(create_app(settings=settings, evaluator=evaluator(), store=store,
                                       clock=lambda: moment), raise_server_exceptions=False)
        return client.post(f"/cds-services/{service_id(body['hook'])}", json=body)
    finally:
        store.close()


def fetching(body: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The same call with only the Patient in prefetch and the FHIR server to read the rest from."""
    return dict(body, prefetch={"patient": body["prefetch"]["patient"]}, fhirServer=base_url)


CASES = [(p["key"], hook) for p in PERSONAS for hook in sorted(p["requests"])]


@pytest.mark.parametrize(("key", "hook"), CASES)
def test_fetching_every_key_from_the_fhir_server_gives_the_prefetch_cards(key, hook, tmp_path):
    p = persona(key)
    body = request_for(p, hook)
    expected = call(p, body, tmp_path / "prefetch")
    with serving(FhirServer(chart(p))) as server:
        fetched = call(p, fetching(body, server.base_url), tmp_path / "fetch")
    assert expected.status_code == fetched.status_code == 200, fetched.text
    assert without_uuids(fetched.json()) == without_uuids(expected.json())


def _topics(response: Any) -> list[str]:
    return [card["source"]["topic"]["code"] for card in response.json()["cards"]]


@pytest.mark.parametrize(("change", "words"), [
    ({"fhir": {"max_pages": 1}}, "avbrutt ved sidegrensen"),
    ({"fail": {"Observation": 500}}, "svarte med en feil"),
    ({"delay": {"Observation": 2.0}, "fhir": {"total_timeout_seconds": 0.5}}, "svarte ikke i tide"),
], ids=["truncated", "failed", "timed-out"])
def test_an_incomplete_observation_search_is_named_in_a_data_quality_card_first(change, words, tmp_path):
    p = persona("a")  # Ingrid: 133 Observations, more than one page of 100
    body = request_for(p, "encounter-discharge")
    with serving(FhirServer(chart(p))) as server:
        complete = call(p, fetching(body, server.base_url), tmp_path / "complete")
    with serving(FhirServer(chart(p), fail=change.get("fail", {}), delay=change.get("delay", {}))) as server:
        response = call(p, fetching(body, server.base_url), tmp_path / "incomplete", **change.get("fhir", {}))
    assert response.status_code == 200, response.text
    first = response.json()["cards"][0]
    assert _topics(response)[0] == "data-quality" and "data-quality" not in _topics(complete)
    assert "observasjoner" in first["summary"] and words in first["detail"]
    assert first["indicator"] == "warning" and not first.get("suggestions")
    assert _topics(response)[1:] != _topics(complete), "the answer without observations differs, visibly flagged"


def test_a_truncated_search_uses_none_of_its_resources(tmp_path):
    """Facts of a truncated type are unknown, exactly as if its search had not run, never drawn from page one."""
    p = persona("a")
    body = request_for(p, "encounter-discharge")
    without_observations = [r for r in chart(p) if r["resourceType"] != "Observation"]
    with serving(FhirServer(chart(p))) as server:
        truncated = call(p, fetching(body, server.base_url), tmp_path / "truncated", max_pages=1)
    with serving(FhirServer(without_observations, fail={"Observation": 503})) as server:
        failed = call(p, fetching(body, server.base_url), tmp_path / "failed")
    assert without_uuids(truncated.json()["cards"][1:]) == without_uuids(failed.json()["cards"][1:])


def logical_chart(p: dict[str, Any]) -> list[dict[str, Any]]:
    """The persona's chart with every reference to the patient by fødselsnummer only (VKP style)."""
    resources = chart(p)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    bundle = json.loads((EXAMPLES / p["bundle"]).read_text(encoding="utf-8"))
    full_url = next(e.get("fullUrl") for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    return to_logical(resources, p["patient_id"], fnr_of(patient), full_url)


@pytest.mark.parametrize(("key", "hook"), CASES)
def test_a_chart_referenced_only_by_fodselsnummer_fetched_from_the_fhir_server_gives_the_same_cards(key, hook, tmp_path):
    p = persona(key)
    body = request_for(p, hook)
    expected = call(p, body, tmp_path / "prefetch")
    with serving(FhirServer(logical_chart(p))) as server:
        fetched = call(p, fetching(body, server.base_url), tmp_path / "fetch")
    assert fetched.status_code == 200, fetched.text
    assert without_uuids(fetched.json()) == without_uuids(expected.json())
    assert any("patient%3Aidentifier" in q or "patient:identifier" in q for q in server.requests)


def test_literal_and_logical_search_results_are_merged_without_duplicates(tmp_path):
    p = persona("a")
    body = request_for(p, "encounter-discharge")
    resources = chart(p)
    fnr = fnr_of(next(r for r in resources if r["resourceType"] == "Patient"))
    for resource in resources:  # both forms at once: every search answers each resource twice
        if isinstance(resource.get("subject"), dict):
            resource["subject"]["identifier"] = {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": fnr}
    expected = call(p, body, tmp_path / "prefetch")
    with serving(FhirServer(resources)) as server:
        fetched = call(p, fetching(body, server.base_url), tmp_path / "fetch")
    assert without_uuids(fetched.json()) == without_uuids(expected.json())


@pytest.mark.parametrize(("mode", "parameter"), [("chained", "patient.identifier="), ("off", None)])
def test_the_identifier_search_is_configurable_per_server(mode, parameter, tmp_path):
    p = persona("a")
    body = request_for(p, "encounter-discharge")
    with serving(FhirServer(chart(p))) as server:
        response = call(p, fetching(body, server.base_url), tmp_path, identifier_search_by_server={server.base_url: mode})
    assert response.status_code == 200
    searches = [q for q in server.requests if "?" in q]
    assert not any(":identifier" in q for q in searches)
    if parameter is None:
        assert not any("identifier" in q for q in searches)
    else:
        assert any(parameter in q for q in searches)


GP_ROLE = {"coding": [{"system": "https://fhir.cds-frailty.no/CodeSystem/care-team-role", "code": "gp"}]}


def _gp_card(response: Any) -> dict[str, Any]:
    return next(c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "gp-admission-notice")


def test_a_gp_found_in_the_gp_register_gets_the_admission_notice(tmp_path):
    """Arne, 72, admitted: without generalPractitioner the card asks to find the GP; the register names one."""
    p = persona("b")
    body = request_for(p, "encounter-start")
    patient = body["prefetch"]["patient"]
    del patient["generalPractitioner"]
    unknown = call(p, body, tmp_path / "unknown")
    card = _gp_card(unknown)
    assert "ikke funnet" in card["summary"] and not card.get("suggestions")
    register = [{"resourceType": "CareTeam", "id": "flr-1", "status": "active",
                 "subject": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": fnr_of(patient)}},
                 "participant": [{"role": [GP_ROLE], "member": {"reference": "Practitioner/flr-gp-7"}}]}]
    with serving(FhirServer(register)) as flr:
        found = call(p, body, tmp_path / "found",
                     gp_lookup_url=f"{flr.base_url}/CareTeam?subject:identifier={{identifier}}")
    card = _gp_card(found)
    assert card["summary"].startswith("Varsle fastlegen")
    action = card["suggestions"][0]["actions"][0]["resource"]
    assert action["recipient"] == [{"reference": "Practitioner/flr-gp-7"}]
    assert any(q.startswith("CareTeam?subject:identifier=") for q in flr.requests)


def test_a_failing_gp_register_leaves_the_gp_unknown(tmp_path):
    p = persona("b")
    body = request_for(p, "encounter-start")
    del body["prefetch"]["patient"]["generalPractitioner"]
    with serving(FhirServer([], fail={"CareTeam": 503})) as flr:
        response = call(p, body, tmp_path, gp_lookup_url=f"{flr.base_url}/CareTeam?subject:identifier={{identifier}}")
    assert response.status_code == 200 and "ikke funnet" in _gp_card(response)["summary"]
