"""CDS Hooks 2.0 conformance checklist (CDS-HOOKS-2.0 in docs/sources.md), item by item, against the real engine.

Every persona request in fhir_examples/requests/ is sent to its service; every
card that comes back is checked against the spec's card rules.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from cds.service.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_examples"
PERSONAS = json.loads((EXAMPLES / "personas.json").read_text(encoding="utf-8"))
#: (persona key, hook, request file, evaluation time) for every persona request.
REQUESTS = [
    pytest.param(hook, EXAMPLES / path, datetime.fromisoformat(p["now"]), id=f"{p['key']}-{hook}")
    for p in PERSONAS
    for hook, path in sorted(p["requests"].items())
]
SERVICE = {"patient-view": "frailty-patient-view", "encounter-start": "frailty-admission",
           "encounter-discharge": "discharge-pathway"}
INGRID = EXAMPLES / "requests" / "a-ingrid-haugen.encounter-discharge.json"


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def answer(factory, hook, path, now):
    client = factory(clock=lambda: now)
    response = client.post(f"/cds-services/{SERVICE[hook]}", json=load(path))
    assert response.status_code == 200, response.text
    return response.json()


def empty_values(value, where="$"):
    """Paths of nulls and empty strings/lists/objects anywhere in a JSON value."""
    found = []
    if value is None or value == "" or value == [] or value == {}:
        found.append(where)
    elif isinstance(value, dict):
        for k, v in value.items():
            found += empty_values(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += empty_values(v, f"{where}[{i}]")
    return found


# 1 -------------------------------------------------------------------------------------------
def test_1_discovery_lists_services_with_string_hook_id_and_description(real_client_factory):
    response = real_client_factory().get("/cds-services")
    assert response.status_code == 200
    services = response.json()["services"]
    assert services
    for s in services:
        assert all(isinstance(s[k], str) and s[k] for k in ("hook", "id", "description"))


# 2-7 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("hook,path,now", REQUESTS)
def test_2_every_card_has_a_short_summary_a_valid_indicator_and_a_source_label(real_client_factory, hook, path,
                                                                                now):
    for card in answer(real_client_factory, hook, path, now)["cards"]:
        assert len(card["summary"]) < 140
        assert card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"]


@pytest.mark.parametrize("hook,path,now", REQUESTS)
def test_3_and_4_suggestions_carry_a_selection_behavior_and_at_most_one_is_recommended(real_client_factory, hook,
                                                                                        path, now):
    for card in answer(real_client_factory, hook, path, now)["cards"]:
        if card.get("suggestions"):
            assert card["selectionBehavior"] in ("at-most-one", "any")
            if card["selectionBehavior"] == "at-most-one":
                assert sum(1 for s in card["suggestions"] if s.get("isRecommended")) <= 1


@pytest.mark.parametrize("hook,path,now", REQUESTS)
def test_5_every_action_has_a_description_and_deletes_carry_only_resource_ids(real_client_factory, hook, path,
                                                                              now):
    for card in answer(real_client_factory, hook, path, now)["cards"]:
        for suggestion in card.get("suggestions", []):
            for action in suggestion.get("actions", []):
                assert action["description"] and action["type"] in ("create", "update", "delete")
                if action["type"] == "delete":
                    assert action["resourceId"] and "resource" not in action
                else:
                    assert action["resource"]["resourceType"]


@pytest.mark.parametrize("hook,path,now", REQUESTS)
def test_6_app_context_only_on_smart_links_and_override_reasons_have_display(real_client_factory, hook, path,
                                                                             now):
    for card in answer(real_client_factory, hook, path, now)["cards"]:
        for link in card.get("links", []):
            assert link["type"] in ("absolute", "smart")
            assert "appContext" not in link or link["type"] == "smart"
        for reason in card.get("overrideReasons", []):
            assert reason["display"] and reason["code"]


@pytest.mark.parametrize("hook,path,now", REQUESTS)
def test_7_no_nulls_or_empty_values_in_any_response(real_client_factory, hook, path, now):
    body = answer(real_client_factory, hook, path, now)
    assert empty_values(body["cards"], "$.cards") == [] if body["cards"] else body == {"cards": []}


def test_7_discovery_has_no_nulls_or_empty_values(real_client_factory):
    assert empty_values(real_client_factory().get("/cds-services").json()) == []


def test_the_discharge_of_ingrid_haugen_gets_cards(real_client_factory):
    body = answer(real_client_factory, "encounter-discharge", INGRID, datetime.fromisoformat(
        "2026-11-20T11:00:00+01:00"))
    assert body["cards"], "Ingrid (84, CFS 6, pathway C) should get discharge guidance"


# 8 -------------------------------------------------------------------------------------------
def test_8_fhir_authorization_without_fhir_server_is_400(real_client_factory):
    body = load(INGRID)
    body.pop("fhirServer", None)
    body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 300,
                                 "scope": "patient/*.read", "subject": "cds"}
    response = real_client_factory().post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 400 and response.json()["resourceType"] == "OperationOutcome"


# 9 -------------------------------------------------------------------------------------------
def test_9_absent_prefetch_without_fhir_server_is_412_with_operation_outcome(real_client_factory):
    body = load(INGRID)
    body.pop("fhirServer", None)
    del body["prefetch"]["observations"]
    response = real_client_factory().post("/cds-services/discharge-pathway", json=body)
    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "observations" in response.json()["issue"][0]["diagnostics"]


def test_9_null_prefetch_is_not_fetched(real_client_factory):
    fetched = []
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: fetched.append(r) or httpx.Response(500)))
    body = load(INGRID)
    body["fhirServer"] = "https://fhir.sykehus.example/fhir"
    body["prefetch"] = {key: None for key in body["prefetch"]} | {"patient": body["prefetch"]["patient"]}
    response = real_client_factory(http=http).post("/cds-services/discharge-pathway", json=body)
    assert fetched == []
    assert response.status_code == 200, response.text


# 10 ------------------------------------------------------------------------------------------
def _feedback(outcome="accepted", **extra):
    item = {"card": str(uuid.uuid4()), "outcome": outcome, "outcomeTimestamp": "2026-11-20T11:05:00+01:00"}
    item.update(extra)
    return {"feedback": [item]}


def test_10_feedback_outcome_must_be_accepted_or_overridden(real_client_factory):
    response = real_client_factory().post("/cds-services/discharge-pathway/feedback", json=_feedback("dismissed"))
    assert response.status_code == 400


def test_10_accepted_feedback_needs_accepted_suggestions(real_client_factory):
    response = real_client_factory().post("/cds-services/discharge-pathway/feedback", json=_feedback())
    assert response.status_code == 400


def test_10_feedback_is_idempotent(real_client_factory):
    client = real_client_factory()
    card = client.post("/cds-services/discharge-pathway", json=load(INGRID)).json()["cards"][0]
    body = _feedback(card=card["uuid"], outcome="overridden")
    first = client.post("/cds-services/discharge-pathway/feedback", json=body).json()
    second = client.post("/cds-services/discharge-pathway/feedback", json=body).json()
    assert (first["stored"], second["stored"], second["duplicates"]) == (1, 0, 1)


# 11 ------------------------------------------------------------------------------------------
ISS = "https://arena.example.no"
URL = "http://testserver/cds-services/discharge-pathway"
KEY = ec.generate_private_key(ec.SECP384R1())
JWKS = {"keys": [ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True) | {"kid": "k1"}]}


def _token(key=KEY, alg="ES384", kid="k1", **claims):
    now = int(time.time())
    payload = {"iss": ISS, "aud": URL, "iat": now, "exp": now + 120, "jti": str(uuid.uuid4())} | claims
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})


@pytest.fixture
def secured(real_client_factory, tmp_path):
    settings = Settings(data_dir=tmp_path, pseudonym_key="conformance-pseudonym-key-0123456789",
                        public_base_url="http://testserver", auth={"issuers": {ISS: {"jwks": JWKS}}})
    client = real_client_factory(settings=settings)

    def post(token):
        return client.post("/cds-services/discharge-pathway", json=load(INGRID),
                           headers={"Authorization": f"Bearer {token}"})

    return post


def test_11_a_valid_es384_token_is_accepted(secured):
    assert secured(_token()).status_code == 200


@pytest.mark.parametrize("make_token", [
    pytest.param(lambda: jwt.encode({"iss": ISS, "aud": URL, "exp": int(time.time()) + 60,
                                     "iat": int(time.time()), "jti": "n"}, None, algorithm="none",
                                    headers={"kid": "k1"}), id="alg-none"),
    pytest.param(lambda: _token(key="a-shared-secret-that-is-32-bytes-long", alg="HS256"), id="hs256"),
    pytest.param(lambda: _token(aud="http://testserver/cds-services/frailty-admission"), id="wrong-aud"),
    pytest.param(lambda: _token(iat=int(time.time()) - 400, exp=int(time.time()) - 200), id="expired"),
    pytest.param(lambda: _token(kid="unknown"), id="unknown-kid"),
])
def test_11_bad_tokens_are_401(secured, make_token):
    response = secured(make_token())
    assert response.status_code == 401 and response.json()["resourceType"] == "OperationOutcome"


def test_11_a_replayed_jti_is_401(secured):
    token = _token()
    assert secured(token).status_code == 200
    assert secured(token).status_code == 401


# 12 ------------------------------------------------------------------------------------------
def test_12_unknown_extension_and_context_fields_are_tolerated(real_client_factory):
    body = load(INGRID)
    body["extension"] = {"no.dips.arena.unit": {"ward": "MED3"}}
    body["context"]["no.example.shift"] = "day"
    response = real_client_factory().post("/cds-services/discharge-pathway", json=copy.deepcopy(body))
    assert response.status_code == 200
