"""Nothing identifying reaches the log, whatever the log level (gap 2 of issue #15).

Every persona is sent to its services without prefetch, so the service reads
the whole chart from a FHIR server on loopback over real HTTP (httpx, httpcore),
with a client JWT and a FHIR access token, through a real uvicorn server with
its access log on, and every logger at DEBUG. All log output is captured and
searched for the patients' ids, fødselsnummer and other identifier values,
encounter ids and both tokens.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cds.fhir.prefetch import render_template
from cds.hooks.services import PREFETCH_TEMPLATES
from cds.service.app import create_app
from cds.service.runtime import build_evaluator
from cds.service.settings import Settings
from cds.store import AuditStore

from .liveserver import serving

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_examples"
PERSONAS = json.loads((EXAMPLES / "personas.json").read_text(encoding="utf-8"))
SERVICE = {"patient-view": "frailty-patient-view", "encounter-start": "frailty-admission",
           "encounter-discharge": "discharge-pathway"}
KEY = "log-privacy-pseudonym-key-0123456789"
ISS = "https://arena.sykehus.example"
PUBLIC = "https://cds.sykehus.example"
ACCESS_TOKEN = "fhir-access-token-Zq81pX"
CLIENT_KEY = ec.generate_private_key(ec.SECP384R1())
JWKS = {"keys": [ECAlgorithm.to_jwk(CLIENT_KEY.public_key(), as_dict=True) | {"kid": "k1"}]}


def client_token(service: str) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "sub": "arena", "aud": f"{PUBLIC}/cds-services/{service}", "iat": now, "exp": now + 120,
              "jti": str(uuid.uuid4())}
    return jwt.encode(claims, CLIENT_KEY, algorithm="ES384", headers={"kid": "k1"})


def fhir_answers(request_body: dict) -> dict[str, object]:
    """What the FHIR server answers, by the query the service sends (the persona's prefetch values)."""
    answers = {}
    for key, template in PREFETCH_TEMPLATES.items():
        query = render_template(template, request_body["context"])
        value = request_body.get("prefetch", {}).get(key)
        if query is not None and value is not None:
            answers[query] = value
    return answers


def identifying_values(persona: dict, requests: list[dict]) -> set[str]:
    """The persona's patient and encounter ids, and every identifier value (fødselsnummer, ...) of its records."""
    found = {persona["patient_id"], persona["encounter_id"]}
    for body in requests:
        found.update(v for k, v in body["context"].items() if k in ("patientId", "encounterId"))
        stack: list[object] = [body.get("prefetch", {})]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if item.get("resourceType") in ("Patient", "Encounter") and isinstance(item.get("id"), str):
                    found.add(item["id"])
                for identifier in item.get("identifier", []) if isinstance(item.get("identifier"), list) else []:
                    if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
                        found.add(identifier["value"])
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return {value for value in found if len(value) >= 5}  # short values ("1") would match anything


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and str(args[2]).startswith("/fhir/"):
            return  # the loopback FHIR server's own access log: another program, on another host in production
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name} {record.levelname} {text}")


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory):
    return build_evaluator(Settings(data_dir=tmp_path_factory.mktemp("data"), pseudonym_key=KEY))


@pytest.fixture
def everything_at_debug():
    """Every logger at DEBUG, propagating to a root handler that keeps every line (restored afterwards)."""
    handler = Everything()
    root = logging.getLogger()
    saved: dict[str, tuple[int, bool, bool]] = {}
    saved_root = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)

    def all_debug() -> None:
        for name in list(logging.root.manager.loggerDict):
            logger = logging.getLogger(name)
            saved.setdefault(name, (logger.level, logger.propagate, logger.disabled))
            logger.setLevel(logging.DEBUG)
            logger.propagate = True  # e.g. uvicorn's own logging config stops uvicorn.access at its handler
            logger.disabled = False

    handler.all_debug = all_debug  # type: ignore[attr-defined]
    yield handler
    root.removeHandler(handler)
    root.setLevel(saved_root)
    for name, (level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled


def test_no_patient_id_fodselsnummer_encounter_id_or_token_in_any_log_line(evaluator, tmp_path, everything_at_debug):
    requests = {p["key"]: [json.loads((EXAMPLES / path).read_text(encoding="utf-8"))
                           for path in p["requests"].values()] for p in PERSONAS}
    answers: dict[str, object] = {}
    for bodies in requests.values():
        for body in bodies:
            answers.update(fhir_answers(body))

    async def fhir(request: Request) -> JSONResponse:
        query = request.url.path.removeprefix("/fhir/") + (f"?{request.url.query}" if request.url.query else "")
        found = answers.get(query)
        if found is None:
            return JSONResponse({"resourceType": "OperationOutcome", "issue": []}, status_code=404)
        return JSONResponse(found, media_type="application/fhir+json")

    fhir_app = Starlette(routes=[Route("/fhir/{rest:path}", fhir)])
    settings = Settings(data_dir=tmp_path / "data", pseudonym_key=KEY, public_base_url=PUBLIC,
                        auth={"issuers": {ISS: {"jwks": JWKS}}})
    store = AuditStore.open(f"sqlite:///{tmp_path / 'audit.sqlite3'}", pseudonym_key=KEY.encode())
    app = create_app(settings, evaluator=evaluator, store=store)
    everything_at_debug.all_debug()
    statuses = []
    tokens = []
    try:
        with serving(fhir_app) as fhir_base, serving(app, access_log=True) as base, \
                httpx.Client(base_url=base, timeout=60) as client:
            for persona in PERSONAS:
                for hook, path in sorted(persona["requests"].items()):
                    body = json.loads((EXAMPLES / path).read_text(encoding="utf-8"))
                    body.pop("prefetch", None)  # everything is read from the FHIR server
                    body["fhirServer"] = f"{fhir_base}/fhir"
                    body["fhirAuthorization"] = {"access_token": ACCESS_TOKEN, "token_type": "Bearer",
                                                 "expires_in": 300, "scope": "patient/*.read", "subject": "cds"}
                    tokens.append(client_token(SERVICE[hook]))
                    response = client.post(f"/cds-services/{SERVICE[hook]}", json=body,
                                           headers={"Authorization": f"Bearer {tokens[-1]}"})
                    statuses.append(response.status_code)
                # a client that puts the patient in a query string: the access log must not keep it
                client.get(f"/cds-services?patient={persona['patient_id']}")
    finally:
        store.close()
    assert statuses and all(status == 200 for status in statuses), statuses
    log = "\n".join(everything_at_debug.lines)
    assert "HTTP Request" not in log  # httpx's request lines are dropped, not merely shortened
    assert any("uvicorn.access" in line for line in everything_at_debug.lines), "the access log was on"
    secrets = set(tokens) | {ACCESS_TOKEN}
    for persona in PERSONAS:
        secrets |= identifying_values(persona, requests[persona["key"]])
    hits = sorted({secret for secret in secrets if secret in log})
    assert hits == [], [line for line in everything_at_debug.lines if any(h in line for h in hits)][:5]
