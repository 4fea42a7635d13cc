"""`cds evaluate` and `cds serve` from the command line."""

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cds.cli import UserError, app, _register_all

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_examples"
INGRID_BUNDLE = EXAMPLES / "bundles" / "a-ingrid-haugen.json"
INGRID_REQUEST = EXAMPLES / "requests" / "a-ingrid-haugen.encounter-discharge.json"
NOW = "2026-11-20T11:00:00+01:00"

if not app.registered_commands:
    _register_all()


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CDS_PSEUDONYM_KEY", "cli-test-pseudonym-key-0123456789")


def run(*args):
    return CliRunner().invoke(app, list(args))


def bundle_args(*extra):
    request = json.loads(INGRID_REQUEST.read_text(encoding="utf-8"))
    return ("evaluate", "--hook", "encounter-discharge", "--patient", request["context"]["patientId"],
            "--encounter", request["context"]["encounterId"], "--now", NOW, str(INGRID_BUNDLE), *extra)


def summaries(response):
    return sorted(card["summary"] for card in response["cards"])


def test_evaluate_prints_readable_cards_for_a_bundle():
    result = run(*bundle_args())
    assert result.exit_code == 0, result.output
    assert "[WARNING]" in result.output or "[INFO]" in result.output
    assert "Source:" in result.output


def test_evaluate_json_prints_the_response_body():
    result = run(*bundle_args("--json", "--lang", "en"))
    body = json.loads(result.output)
    assert body["cards"] and all(card["source"]["label"] for card in body["cards"])


def test_a_bundle_and_the_equivalent_request_give_the_same_cards():
    from_bundle = json.loads(run(*bundle_args("--json")).output)
    from_request = json.loads(run("evaluate", "--now", NOW, "--json", str(INGRID_REQUEST)).output)
    assert summaries(from_bundle) == summaries(from_request)


def test_evaluate_answers_like_the_http_service(make_client):
    from cds.service.runtime import build_evaluator
    from cds.service.settings import load_settings

    client = make_client(evaluator=build_evaluator(load_settings()), clock=lambda: datetime.fromisoformat(NOW))
    over_http = client.post("/cds-services/discharge-pathway", json=json.loads(INGRID_REQUEST.read_text())).json()
    from_cli = json.loads(run("evaluate", "--now", NOW, "--json", str(INGRID_REQUEST)).output)
    assert summaries(over_http) == summaries(from_cli)


def test_a_missing_file_is_a_user_error():
    result = run("evaluate", "--hook", "patient-view", "--patient", "x", "/no/such/file.json")
    assert isinstance(result.exception, UserError) and "file not found" in str(result.exception)


def test_nan_in_a_file_is_not_json_for_the_cli_as_for_the_service(tmp_path):
    path = tmp_path / "nan.json"
    path.write_text(INGRID_BUNDLE.read_text(encoding="utf-8").replace('"value": 6', '"value": NaN', 1))
    assert "NaN" in path.read_text()
    result = run("evaluate", "--hook", "patient-view", "--patient", "x", str(path))
    assert isinstance(result.exception, UserError) and "not valid JSON" in str(result.exception)


def test_a_bundle_needs_hook_and_patient():
    result = run("evaluate", str(INGRID_BUNDLE))
    assert isinstance(result.exception, UserError) and "--hook and --patient" in str(result.exception)


def test_a_request_that_the_service_would_refuse_is_a_user_error_with_the_status(tmp_path):
    request = json.loads(INGRID_REQUEST.read_text())
    del request["prefetch"]["conditions"]
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(request))
    result = run("evaluate", "--now", NOW, str(path))
    assert isinstance(result.exception, UserError) and "HTTP 412" in str(result.exception)


def test_an_unknown_language_is_a_user_error():
    result = run(*bundle_args("--lang", "de"))
    assert isinstance(result.exception, UserError)


def _cds(*args, env_extra=None, tmp_path=None):
    import os

    env = dict(os.environ) | (env_extra or {})
    return subprocess.run([sys.executable, "-c", "from cds.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_serve_refuses_a_public_address_without_authentication():
    result = _cds("serve", "--host", "0.0.0.0")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "cds: error: refusing to listen on 0.0.0.0 without client authentication; "
        "configure [auth.issuers] or bind to 127.0.0.1"]


def test_serve_with_authentication_but_no_public_base_url_refuses_to_start_in_one_line(tmp_path):
    config = tmp_path / "cds.toml"
    config.write_text('pseudonym_key = "a-pseudonym-key-0123456789"\n'
                      '[auth.issuers."https://epj.example.no"]\njwks = { keys = [] }\n')
    result = _cds("serve", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "cds: error: public_base_url is required when authentication is on: it is the "
        "audience client tokens must name (e.g. https://cds.example.no; set CDS_PUBLIC_BASE_URL)"]


def test_serve_with_a_missing_config_file_is_a_one_line_error():
    result = _cds("serve", "--config", "/no/such/cds.toml")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_serve_answers_on_loopback_warns_about_development_mode_and_reloads_rules_on_sighup(tmp_path):
    import os
    import signal
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    env = dict(os.environ) | {"CDS_DATA_DIR": str(tmp_path / "data"), "CDS_MODEL_DIR": "none"}
    with log.open("w") as err:
        server = subprocess.Popen([sys.executable, "-c", "from cds.cli import main; main()", "serve", "--port",
                                   str(port)], stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/cds-services", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert "development mode" in log.read_text()
        server.send_signal(signal.SIGHUP)
        while time.monotonic() < deadline and "SIGHUP: rules reloaded" not in log.read_text():
            time.sleep(0.5)
        assert "SIGHUP: rules reloaded" in log.read_text()
        assert server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=60)


@pytest.mark.parametrize(("setting", "expected"), [(None, False), ("1", True)])
def test_serve_keeps_the_per_request_access_log_off_unless_asked(monkeypatch, setting, expected):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("CDS_WORKERS", "2")  # the multi-worker path: uvicorn builds the app, not this test
    monkeypatch.delenv("CDS_ACCESS_LOG", raising=False)
    if setting is not None:
        monkeypatch.setenv("CDS_ACCESS_LOG", setting)
    assert run("serve").exit_code == 0
    assert seen["access_log"] is expected and seen["workers"] == 2
    assert seen["loop"] == "cds.service.balance:BalancedLoop"  # connections spread over the workers
