"""Fixtures for the HTTP service: a fake evaluator, a real SQLite audit store, request builders.

The persona throughout: Ingrid Berg, 84, lives alone with heart failure and
CFS 6, admitted through the emergency department and now being discharged.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cds.hooks.models import Card, to_json_dict
from cds.service.app import create_app
from cds.service.settings import Settings
from cds.store import AuditStore

NOW = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
PSEUDONYM_KEY = b"test-pseudonym-key-0123456789"
TOKEN = "sEcReT-fhir-access-token-123"

PATIENT = {"resourceType": "Patient", "id": "ingrid", "gender": "female", "birthDate": "1942-03-14"}
ENCOUNTER = {
    "resourceType": "Encounter",
    "id": "stay-1",
    "status": "in-progress",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
    "subject": {"reference": "Patient/ingrid"},
}
CFS = {
    "resourceType": "Observation",
    "id": "cfs-1",
    "status": "final",
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "763264000"}]},
    "subject": {"reference": "Patient/ingrid"},
    "valueInteger": 6,
}


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


@dataclass
class FakeEvaluation:
    cards: list[dict[str, Any]]  # CDS Hooks JSON, as `cds.cards` renders them
    ruleset_digest: str = "sha256:fake"
    patient_key: str = "p_fake"
    issues: list[str] = field(default_factory=list)


class FakeEvaluator:
    """Answers one card per call (none for patient-view) and remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def evaluate(self, call: Any) -> FakeEvaluation:
        self.calls.append(call)
        if call.hook == "patient-view":
            return FakeEvaluation(cards=[])
        card = to_json_dict(Card(
            summary=("Skrøpelig pasient: vurder forløp B" if call.language == "nb"
                     else "Frail patient: consider pathway B"),
            indicator="warning",
            source={"label": "Frailty CDS", "topic": {"code": "pathway", "system": "urn:cds:topic"}},
            suggestions=[{"label": "Henvis til geriatrisk vurdering", "uuid": "sugg-cga"}],
            selectionBehavior="at-most-one",
            extension={"no.cds.rule": {"ruleId": "discharge.pathway-b", "ruleVersion": "1.0.0"}},
        ))
        return FakeEvaluation(cards=[card])


def hook_request(hook: str = "encounter-discharge", **changes: Any) -> dict[str, Any]:
    """A complete, valid request for Ingrid: every prefetch key the services declare is sent."""
    from cds.hooks.services import PREFETCH_TEMPLATES

    prefetch: dict[str, Any] = {key: searchset() for key in PREFETCH_TEMPLATES}
    prefetch["patient"] = copy.deepcopy(PATIENT)
    prefetch["encounter"] = copy.deepcopy(ENCOUNTER)
    prefetch["observations"] = searchset(copy.deepcopy(CFS))
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr-hansen", "patientId": "ingrid", "encounterId": "stay-1"},
        "prefetch": prefetch,
    }
    body.update(changes)
    return body


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", pseudonym_key=PSEUDONYM_KEY.decode())


@pytest.fixture
def store(tmp_path) -> Iterator[AuditStore]:
    s = AuditStore.open(f"sqlite:///{tmp_path / 'audit.sqlite3'}", pseudonym_key=PSEUDONYM_KEY)
    yield s
    s.close()


@pytest.fixture
def evaluator() -> FakeEvaluator:
    return FakeEvaluator()


@pytest.fixture
def make_client(settings, store, evaluator) -> Callable[..., TestClient]:
    """A TestClient over an app built with the fakes; keyword arguments go to `create_app`."""

    def make(**kwargs: Any) -> TestClient:
        kwargs.setdefault("settings", settings)
        kwargs.setdefault("evaluator", evaluator)
        kwargs.setdefault("store", store)
        kwargs.setdefault("clock", lambda: NOW)
        return TestClient(create_app(**kwargs), raise_server_exceptions=False)

    return make


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


@pytest.fixture
def request_body() -> Callable[..., dict[str, Any]]:
    return hook_request


@pytest.fixture
def fhir_server() -> Callable[..., httpx.AsyncClient]:
    """An httpx client whose transport is a tiny FHIR server answering from a dict of path -> JSON."""

    def make(routes: dict[str, Any], seen: list[httpx.Request] | None = None) -> httpx.AsyncClient:
        def handler(request: httpx.Request) -> httpx.Response:
            if seen is not None:
                seen.append(request)
            key = request.url.path.split("/fhir/", 1)[-1]
            if request.url.query:
                key += "?" + request.url.query.decode()
            answer = routes.get(key, routes.get(key.split("?")[0] + "?*"))
            if answer is None:
                return httpx.Response(404, json={"resourceType": "OperationOutcome", "issue": []})
            if isinstance(answer, httpx.Response):
                return answer
            return httpx.Response(200, json=answer)

        return httpx.AsyncClient(transport=httpx.MockTransport(handler))

    return make
