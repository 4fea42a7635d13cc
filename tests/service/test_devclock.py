"""The development-mode clock override (`CDS-Dev-Now`): the Quickstart's examples answer their cards on any date."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cds.cli import _register_all, app
from cds.service.devclock import HEADER
from cds.service.runtime import build_evaluator
from cds.service.settings import Settings
from cds.store.models import Call

from .conftest import NOW
from .test_auth import ISS, JWKS, token

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_examples"
PERSONAS = json.loads((EXAMPLES / "personas.json").read_text(encoding="utf-8"))
PERSONA_REQUESTS = [
    pytest.param(persona["now"], EXAMPLES / path, id=f"{persona['key']}-{hook}")
    for persona in PERSONAS
    for hook, path in persona["requests"].items()
]
SERVICE_OF_HOOK = {"patient-view": "frailty-patient-view", "encounter-start": "frailty-admission",
                   "encounter-discharge": "discharge-pathway"}
# Any day long after the personas' stories: what "today" is when a newcomer tries the Quickstart.
LATER = datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
KEY = "devclock-test-pseudonym-key-0123456789"

if not app.registered_commands:
    _register_all()


@pytest.fixture(scope="module")
def real_evaluator(tmp_path_factory):
    return build_evaluator(Settings(data_dir=tmp_path_factory.mktemp("data"), pseudonym_key=KEY))


@pytest.fixture
def development_client(make_client, real_evaluator, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", pseudonym_key=KEY)
    assert settings.development
    return make_client(settings=settings, evaluator=real_evaluator, clock=lambda: LATER)


def without_uuids(value):
    """A response with the random uuids of cards and suggestions left out (every call draws new ones)."""
    if isinstance(value, dict):
        return {k: without_uuids(v) for k, v in value.items() if k != "uuid"}
    if isinstance(value, list):
        return [without_uuids(v) for v in value]
    return value


def cli_answer(now: str, request_file: Path, evaluator, monkeypatch, tmp_path) -> dict:
    """`cds evaluate --now NOW --json FILE`, with the evaluator already built (same rules, model and key)."""
    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("CDS_PSEUDONYM_KEY", KEY)
    monkeypatch.setattr("cds.service.runtime.build_evaluator", lambda settings: evaluator)
    result = CliRunner().invoke(app, ["evaluate", "--now", now, "--json", str(request_file)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(("now", "request_file"), PERSONA_REQUESTS)
def test_every_persona_request_answers_over_http_with_the_header_as_cds_evaluate_now(
    now, request_file, development_client, real_evaluator, monkeypatch, tmp_path
):
    body = json.loads(request_file.read_text(encoding="utf-8"))
    response = development_client.post(f"/cds-services/{SERVICE_OF_HOOK[body['hook']]}", json=body,
                                       headers={HEADER: now})
    assert response.status_code == 200, response.text
    from_cli = cli_answer(now, request_file, real_evaluator, monkeypatch, tmp_path)
    assert from_cli["cards"], "every persona request has cards at its evaluation time"
    assert without_uuids(response.json()) == without_uuids(from_cli)


def test_without_the_header_ingrids_discharge_long_after_her_story_loses_cards(development_client):
    """The drift the header exists for: on the wall clock the same request answers differently."""
    persona = next(p for p in PERSONAS if p["key"] == "a")
    body = json.loads((EXAMPLES / persona["requests"]["encounter-discharge"]).read_text(encoding="utf-8"))
    at_story_time = development_client.post("/cds-services/discharge-pathway", json=body,
                                            headers={HEADER: persona["now"]}).json()
    on_wall_clock = development_client.post("/cds-services/discharge-pathway", json=body).json()
    assert on_wall_clock["cards"] != at_story_time["cards"]


def test_a_service_with_client_authentication_refuses_the_header(make_client, request_body, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", pseudonym_key=KEY, public_base_url="http://testserver",
                        auth={"issuers": {ISS: {"jwks": JWKS}}})
    assert not settings.development
    client = make_client(settings=settings)
    headers = {"Authorization": f"Bearer {token()}"}
    assert client.post("/cds-services/discharge-pathway", json=request_body(), headers=headers).status_code == 200
    refused = client.post("/cds-services/discharge-pathway", json=request_body(),
                          headers={**headers, "Authorization": f"Bearer {token()}", HEADER: "2026-11-20T11:00:00+01:00"})
    assert refused.status_code == 400
    outcome = refused.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "only in development mode" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize("value", ["yesterday", "2026-11-20T11:00:00", "2026-13-01T10:00:00+01:00", ""])
def test_a_header_that_is_not_a_time_with_an_offset_is_a_400_naming_the_form(client, request_body, value):
    response = client.post("/cds-services/discharge-pathway", json=request_body(), headers={HEADER: value})
    assert response.status_code == 400
    assert "ISO 8601 date-time with a UTC offset" in response.json()["issue"][0]["diagnostics"]


def test_the_evaluation_gets_the_headers_time_and_the_audit_keeps_the_time_received(client, request_body, evaluator, store):
    client.post("/cds-services/discharge-pathway", json=request_body(), headers={HEADER: "2026-11-20T11:00:00+01:00"})
    assert evaluator.calls[-1].now.isoformat() == "2026-11-20T11:00:00+01:00"
    client.app.state.runtime.audit.flush()
    with store.engine.connect() as conn:
        [received] = conn.execute(select(Call.at)).scalars().all()
    assert received == NOW
