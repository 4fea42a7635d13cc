"""A chart whose resources name the patient only by fødselsnummer gives the same cards as with literal references.

Every persona, every hook its story covers, through every path that reads a
chart: the HTTP service with prefetch, ``cds evaluate`` on a Bundle (its
simulated searches), ``cds rules explain`` and ``cds screen`` on an NDJSON
export. (The FHIR-fetch path is in ``tests/service/test_fhir_server_paths.py``.)
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from logical_refs import fnr_of, to_logical
from typer.testing import CliRunner

from cds.cli import _register_all, app
from cds.quality.batch import BatchOptions, EvaluatorSpec, run_batch
from cds.quality.sources import default_rules_dir
from cds.service.app import create_app
from cds.service.runtime import build_evaluator
from cds.service.settings import Settings
from cds.store import AuditStore

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_examples"
PERSONAS: list[dict[str, Any]] = json.loads((EXAMPLES / "personas.json").read_text(encoding="utf-8"))
CASES = [(p["key"], hook) for p in PERSONAS for hook in sorted(p["requests"])]
KEY = "identity-test-pseudonym-key-0123456789"

if not app.registered_commands:
    _register_all()


def _persona(key: str) -> dict[str, Any]:
    return next(p for p in PERSONAS if p["key"] == key)


def _bundles(persona: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the persona's Bundle, the same Bundle with every patient reference by fødselsnummer)."""
    bundle = json.loads((EXAMPLES / persona["bundle"]).read_text(encoding="utf-8"))
    entry = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    logical = to_logical(bundle, persona["patient_id"], fnr_of(entry["resource"]), entry.get("fullUrl"))
    return bundle, logical


def _without_uuids(value: Any) -> Any:
    """Card and suggestion uuids are drawn per call; everything else must be equal."""
    if isinstance(value, dict):
        return {k: _without_uuids(v) for k, v in value.items() if k != "uuid"}
    if isinstance(value, list):
        return [_without_uuids(v) for v in value]
    return value


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CDS_PSEUDONYM_KEY", KEY)


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _context_args(persona: dict[str, Any], hook: str) -> list[str]:
    request = json.loads((EXAMPLES / persona["requests"][hook]).read_text(encoding="utf-8"))
    args = ["--hook", hook, "--patient", persona["patient_id"], "--now", persona["now"]]
    if "encounterId" in request["context"]:
        args += ["--encounter", request["context"]["encounterId"]]
    return args


@pytest.mark.parametrize(("key", "hook"), CASES)
def test_cds_evaluate_gives_the_same_cards_for_references_by_fodselsnummer(key, hook, tmp_path):
    persona = _persona(key)
    literal, logical = _bundles(persona)
    answers = []
    for name, bundle in (("literal", literal), ("logical", logical)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        answers.append(_without_uuids(json.loads(_cli("evaluate", *_context_args(persona, hook), "--json", str(path)))))
    assert answers[0]["cards"], "every persona story has cards for its hooks"
    assert answers[1] == answers[0]


@pytest.mark.parametrize(("key", "hook"), CASES)
def test_cds_rules_explain_gives_the_same_explanation_for_references_by_fodselsnummer(key, hook, tmp_path):
    persona = _persona(key)
    literal, logical = _bundles(persona)
    answers = []
    for name, bundle in (("literal", literal), ("logical", logical)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        answers.append(json.loads(_cli("rules", "explain", *_context_args(persona, hook), "--json", str(path))))
    assert answers[1] == answers[0]


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> TestClient:
    directory = tmp_path_factory.mktemp("service")
    settings = Settings(data_dir=directory / "data", pseudonym_key=KEY)
    store = AuditStore.open(f"sqlite:///{directory / 'audit.sqlite3'}", pseudonym_key=KEY.encode())
    clients: dict[str, TestClient] = {}
    for persona in PERSONAS:
        moment = datetime.fromisoformat(persona["now"])
        clients[persona["key"]] = TestClient(
            create_app(settings=settings, evaluator=build_evaluator(settings), store=store, clock=lambda m=moment: m),
            raise_server_exceptions=False,
        )
    yield clients
    store.close()


def _service_id(hook: str) -> str:
    from cds.hooks.services import SERVICES

    return next(s.id for s in SERVICES if s.hook == hook)


@pytest.mark.parametrize(("key", "hook"), CASES)
def test_the_service_with_prefetch_gives_the_same_cards_for_references_by_fodselsnummer(key, hook, service):
    persona = _persona(key)
    request = json.loads((EXAMPLES / persona["requests"][hook]).read_text(encoding="utf-8"))
    patient = request["prefetch"]["patient"]
    logical = dict(request, prefetch={
        name: to_logical(value, persona["patient_id"], fnr_of(patient)) for name, value in request["prefetch"].items()
    })
    answers = []
    for body in (request, logical):
        response = service[key].post(f"/cds-services/{_service_id(hook)}", json=body)
        assert response.status_code == 200, response.text
        answers.append(_without_uuids(response.json()))
    assert answers[1] == answers[0]


def _export(directory: Path, bundles: list[dict[str, Any]]) -> Path:
    directory.mkdir()
    by_type: dict[str, list[bytes]] = {}
    for bundle in bundles:
        for entry in bundle["entry"]:
            by_type.setdefault(entry["resource"]["resourceType"], []).append(orjson.dumps(entry["resource"]))
    for rtype, lines in by_type.items():
        (directory / f"{rtype}.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    return directory


@pytest.mark.parametrize("hook", ["encounter-discharge", "patient-view"])
def test_cds_screen_gives_every_persona_the_same_cards_for_references_by_fodselsnummer(hook, tmp_path):
    pairs = [_bundles(p) for p in PERSONAS]
    options = BatchOptions(hook=hook, at=None, evaluators=(EvaluatorSpec(default_rules_dir()),),
                           pseudonym_key=KEY.encode(), with_ids=True)
    answers = []
    for name, bundles in (("literal", [a for a, _ in pairs]), ("logical", [b for _, b in pairs])):
        out = io.BytesIO()
        summary = run_batch(_export(tmp_path / name, bundles), options, out, workers=1, progress=False)
        assert summary.bad_lines == []
        lines = [_without_uuids(orjson.loads(line)) for line in out.getvalue().splitlines()]
        answers.append(sorted(lines, key=lambda line: json.dumps(line, sort_keys=True)))
    assert len(answers[0]) == len(PERSONAS)
    assert sum(bool(line.get("cards")) for line in answers[0]) >= len(PERSONAS) // 2
    assert answers[1] == answers[0]
