"""The command line's common rules: one time rule, unknown ids refused, any working directory, one-line errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import cds
from cds import bundled
from cds.cli import UserError, app
from cds.cli._quality_options import parse_at
from cds.cli._time import parse_time
from cds.cli.analytics import _parse_when
from cds.clinicaltime import DEFAULT_ZONE

EXAMPLES = bundled.EXAMPLES_DIR
INGRID = json.loads((EXAMPLES / "personas.json").read_text(encoding="utf-8"))[0]
BUNDLE = EXAMPLES / INGRID["bundle"]
REQUEST = EXAMPLES / INGRID["requests"]["encounter-discharge"]
SRC = Path(cds.__file__).resolve().parents[1]


def _cds(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ) | {"PYTHONPATH": str(SRC)} | (env or {})
    return subprocess.run([sys.executable, "-c", "from cds.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, env=full_env, cwd=cwd)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cds: error: "), result.stderr
    return lines[0]


# -- one time rule ------------------------------------------------------------------------


def test_every_time_option_is_read_by_the_one_parser_naive_as_oslo_time() -> None:
    oslo_11 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # 11:00 in Oslo
    assert parse_time("2026-11-20T11:00", "--now", DEFAULT_ZONE) == oslo_11
    assert _parse_when("2026-11-20T11:00", "--from") == oslo_11  # cds analytics (was UTC)
    assert parse_at("2026-11-20T11:00") == oslo_11  # cds screen / backtest
    assert _parse_when("2026-11-20", "--to") == datetime(2026, 11, 19, 23, 0, tzinfo=UTC)  # a day: its Oslo midnight
    assert parse_at("2026-07-01") == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # --at a day: noon, summer time
    assert parse_time("2026-11-20", "--now", DEFAULT_ZONE, bare_date_at=time(11)) == oslo_11


def test_a_bad_time_is_a_user_error_naming_the_option() -> None:
    with pytest.raises(UserError, match="--from '20.11.2026' is not a date or date-time in ISO 8601"):
        _parse_when("20.11.2026", "--from")


def _time_options(command: Any, path: str) -> list[tuple[str, str]]:
    found = []
    for name, sub in (getattr(command, "commands", None) or {}).items():
        found += _time_options(sub, f"{path} {name}")
    for param in getattr(command, "params", ()):
        if set(getattr(param, "opts", ())) & {"--now", "--at", "--from", "--to"} and path.split()[-1] != "kpi":
            found.append((f"{path} {param.opts[0]}", param.help or ""))
    return found


def test_every_time_option_says_in_its_help_that_naive_times_are_clinical_time() -> None:
    options = _time_options(typer.main.get_command(app), "cds")
    names = {name for name, _ in options}
    assert {"cds evaluate --now", "cds score --now", "cds rules explain --now", "cds analytics --from",
            "cds analytics --to", "cds screen --at", "cds backtest --at"} <= names
    assert [name for name, text in options if "clinical time (Europe/Oslo" not in text] == []


def _without_uuids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_uuids(v) for k, v in value.items() if k != "uuid"}
    if isinstance(value, list):
        return [_without_uuids(v) for v in value]
    return value


def _evaluate_json(now: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["evaluate", "--json", "--now", now, str(REQUEST)])
    assert result.exit_code == 0, result.output
    return _without_uuids(json.loads(result.stdout))


def _score_json(now: str) -> dict[str, Any]:
    args = ["score", "--json", "--patient", INGRID["patient_id"], "--encounter", INGRID["encounter_id"], "--now", now]
    result = CliRunner().invoke(app, [*args, str(BUNDLE)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.usefixtures("shared_evaluator")
def test_evaluate_and_score_read_a_naive_now_as_the_same_oslo_instant() -> None:
    naive, oslo, utc = "2026-11-20T11:00", "2026-11-20T11:00+01:00", "2026-11-20T10:00:00Z"
    assert _evaluate_json(naive) == _evaluate_json(oslo) == _evaluate_json(utc)
    assert _score_json(naive) == _score_json(oslo) == _score_json(utc)


TURNS_70 = {"resourceType": "Bundle", "type": "collection", "entry": [
    {"resource": {"resourceType": "Patient", "id": "p70", "birthDate": "1956-11-21", "gender": "female"}}]}


@pytest.mark.parametrize(
    ("now", "age"),
    [("2026-11-20T23:59", 69), ("2026-11-21T00:00", 70), ("2026-11-20T22:59:00Z", 69), ("2026-11-20T23:00:00Z", 70),
     ("2026-11-21T00:00+01:00", 70)],
)
@pytest.mark.usefixtures("shared_evaluator")
def test_a_patient_turns_70_at_oslo_midnight_in_evaluate_and_explain(tmp_path: Path, now: str, age: int) -> None:
    bundle = tmp_path / "p70.json"
    bundle.write_text(json.dumps(TURNS_70), encoding="utf-8")
    args = ["--hook", "patient-view", "--patient", "p70", "--now", now, str(bundle)]
    served = CliRunner().invoke(app, ["evaluate", *args])
    explained = CliRunner().invoke(app, ["rules", "explain", *args])
    assert served.exit_code == explained.exit_code == 0, served.output + explained.output
    assert ("pasienten er 70 år" in served.stdout) is (age == 70)  # cfs-screening-due starts at 70
    assert f"age = {age}  >= 70 ($min_age)" in explained.stdout


# -- unknown ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["evaluate", "--hook", "encounter-discharge", "--patient", "nobody", str(BUNDLE)],
        ["evaluate", "--hook", "encounter-discharge", "--patient", INGRID["patient_id"], "--encounter", "no-stay", str(BUNDLE)],
        ["evaluate", "--patient", "nobody", str(REQUEST)],
        ["evaluate", "--encounter", "no-stay", str(REQUEST)],
        ["rules", "explain", "--hook", "patient-view", "--patient", "nobody", str(BUNDLE)],
        ["rules", "explain", "--encounter", "no-stay", str(REQUEST)],
        ["score", "--patient", "nobody", str(BUNDLE)],
        ["score", "--patient", INGRID["patient_id"], "--encounter", "no-stay", str(BUNDLE)],
    ],
    ids=["evaluate-bundle-patient", "evaluate-bundle-encounter", "evaluate-request-patient",
         "evaluate-request-encounter", "explain-bundle-patient", "explain-request-encounter", "score-patient",
         "score-encounter"],
)
@pytest.mark.usefixtures("shared_evaluator")
def test_an_unknown_patient_or_encounter_is_refused_with_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, UserError), result.output
    assert result.stdout == ""  # no cards for nobody
    assert "nobody" in str(result.exception) or "no-stay" in str(result.exception)


def test_evaluate_of_an_unknown_patient_prints_one_line_and_exits_2() -> None:
    line = _one_line_error(_cds("evaluate", "--hook", "encounter-discharge", "--patient", "nobody", str(BUNDLE)))
    assert "no Patient with id 'nobody'" in line


# -- any working directory -----------------------------------------------------------------


def test_commands_find_the_bundled_rules_and_model_from_any_directory(tmp_path: Path) -> None:
    env = {"CDS_DATA_DIR": str(tmp_path / "data"), "CDS_PSEUDONYM_KEY": "cli-test-pseudonym-key-0123456789"}
    check = _cds("rules", "check", cwd=tmp_path, env=env)
    assert check.returncode == 0 and check.stdout.startswith("ok: "), check.stderr
    served = _cds("evaluate", "--json", "--now", INGRID["now"], str(REQUEST), cwd=tmp_path, env=env)
    assert served.returncode == 0, served.stderr
    rules = {c["extension"]["no.cds-frailty.provenance"]["ruleId"] for c in json.loads(served.stdout)["cards"]}
    assert "readmission-risk-high" in rules or "readmission-risk" in rules  # the bundled model was loaded
    explained = _cds("rules", "explain", "--now", INGRID["now"], str(REQUEST), cwd=tmp_path, env=env)
    assert explained.returncode == 0 and "FIRED" in explained.stdout, explained.stderr


# -- one-line errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["evaluate"],  # missing argument
        ["evaluate", str(REQUEST), "--bogus"],  # unknown option
        ["no-such-command"],
        ["score", str(BUNDLE)],  # missing required option
        ["rules", "explain"],
        ["evaluate", "--now", "yesterday", str(REQUEST)],
        ["serve", "--port", "not-a-number"],
    ],
    ids=["missing-argument", "unknown-option", "unknown-command", "missing-option", "explain-missing-file",
         "bad-time", "bad-port"],
)
def test_a_wrong_invocation_is_one_line_on_stderr_and_exit_2(args: list[str]) -> None:
    result = _cds(*args)
    _one_line_error(result)
    assert "Usage:" not in result.stdout + result.stderr


def test_serve_on_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _cds("serve", "--port", str(port), env={"CDS_DATA_DIR": str(tmp_path / "data"), "CDS_MODEL_DIR": "none"})
    assert f"cannot listen on 127.0.0.1:{port}" in _one_line_error(result)
