"""`cds analytics`: a readable table or JSON from the audit store, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from cds.cli import UserError
from cds.cli.analytics import register
from cds.hooks.models import FeedbackItem
from cds.store import AuditStore, CallRecord, CardRecord

KEY = b"analytics-cli-test-pseudonym-k1"
SERVICE = "frailty-discharge"


@pytest.fixture
def database(tmp_path: Path) -> str:
    """November 2026 at Ahus: three CFS-due cards (one accepted, one overridden with a comment, one ignored)."""
    url = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    with AuditStore.open(url, pseudonym_key=KEY) as store:
        cards = tuple(
            CardRecord(uuid=f"c{i}", rule_id="cfs-due", rule_version="1.2.0", indicator="warning",
                       topic="frailty-screening", suggestion_ids=("s1",))
            for i in (1, 2, 3)
        )
        store.record_call(CallRecord(service_id=SERVICE, hook="encounter-discharge", hook_instance="hi-1",
                                     patient_id="pat-1", ruleset_digest="sha256:x", duration_ms=2.0, outcome="ok",
                                     http_status=200, cards=cards, at=datetime(2026, 11, 5, 9, tzinfo=UTC), site="ahus"))
        store.record_feedback(SERVICE, [
            FeedbackItem.model_validate({"card": "c1", "outcome": "accepted", "acceptedSuggestions": [{"id": "s1"}],
                                         "outcomeTimestamp": "2026-11-05T09:05:00Z"}),
            FeedbackItem.model_validate({"card": "c2", "outcome": "overridden", "outcomeTimestamp": "2026-11-05T09:06:00Z",
                                         "overrideReason": {"reason": {"code": "already-done", "display": "Allerede utført"},
                                                            "userComment": "CFS 5 i\nforrige uke"}}),
        ], received_at=datetime(2026, 11, 5, 9, 7, tzinfo=UTC))
    return url


def invoke(*args: str) -> Result:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps typer from collapsing the app to one command
    return CliRunner().invoke(app, ["analytics", *args])


def run(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.output


def user_error(*args: str) -> str:
    """The message of the UserError the command raises (`cds.cli.main` prints it as one line, exit 2)."""
    result = invoke(*args)
    assert isinstance(result.exception, UserError), result.output
    return str(result.exception)


def run_cds(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from cds.cli import main; main()", *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120,
    )


NOVEMBER = ("--from", "2026-11-01", "--to", "2026-12-01")


def test_table_shows_counts_and_rate_per_rule_and_topic(database: str) -> None:
    out = run("--database", database, *NOVEMBER)
    lines = out.splitlines()
    # a bare date is its Oslo midnight (the one CLI time rule), not UTC midnight
    assert lines[0].startswith("Card analytics 2026-11-01T00:00:00+01:00 to 2026-12-01T00:00:00+01:00")
    assert lines[2].split() == ["rule", "topic", "shown", "accepted", "overridden", "ignored", "acceptance"]
    assert lines[3].split() == ["cfs-due", "frailty-screening", "3", "1", "1", "1", "33.3%"]
    assert lines[5].split() == ["total", "3", "1", "1", "1", "33.3%"]


def test_table_lists_top_override_reasons(database: str) -> None:
    out = run("--database", database, *NOVEMBER)
    assert "Top override reasons" in out
    assert "1  already-done  Allerede utført" in out


def test_comments_are_printed_only_with_the_comments_option(database: str) -> None:
    assert "CFS 5" not in run("--database", database, *NOVEMBER)
    out = run("--database", database, *NOVEMBER, "--comments")
    assert "quality team only" in out
    assert '2026-11-05 09:06  v1.2.0 ahus  "CFS 5 i forrige uke"' in out


def test_by_site_and_version_changes_the_columns(database: str) -> None:
    out = run("--database", database, *NOVEMBER, "--by", "site", "--by", "version")
    assert out.splitlines()[2].split()[:3] == ["rule", "version", "site"]
    assert out.splitlines()[3].split()[:3] == ["cfs-due", "1.2.0", "ahus"]


def test_json_output(database: str) -> None:
    data = json.loads(run("--database", database, *NOVEMBER, "--json"))
    assert (data["total"]["shown"], data["total"]["accepted"], data["total"]["ignored"]) == (3, 1, 1)
    assert data["groups"][0]["override_reasons"][0]["code"] == "already-done"
    assert data["comments_included"] is False


def test_empty_period_says_so(database: str) -> None:
    out = run("--database", database, "--from", "2025-01-01", "--to", "2025-02-01")
    assert "No cards were served in this period." in out


def test_database_defaults_to_the_service_setting(database: str) -> None:
    result = run_cds("analytics", *NOVEMBER, env={"CDS_DATABASE_URL": database})
    assert result.returncode == 0, result.stderr
    assert "cfs-due" in result.stdout


def test_missing_database_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cds("analytics", "--database", f"sqlite:///{tmp_path / 'nothing.sqlite3'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"cds: error: no audit database at {tmp_path / 'nothing.sqlite3'} "
        "(the service creates it; use --database or CDS_DATABASE_URL)"
    ]
    assert not (tmp_path / "nothing.sqlite3").exists()


def test_database_without_audit_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other.sqlite3").write_bytes(b"")
    assert "has no audit schema" in user_error("--database", f"sqlite:///{tmp_path / 'other.sqlite3'}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "1st of May"), "--from '1st of May' is not a date"),
        (("--by", "ward"), "cannot group by 'ward'"),
        (("--from", "2026-12-01", "--to", "2026-11-01"), "end must be after start"),
    ],
)
def test_bad_options_are_refused_with_a_reason(database: str, args: tuple[str, ...], message: str) -> None:
    assert message in user_error("--database", database, *args)


def test_unreachable_database_hides_the_password() -> None:
    result = run_cds("analytics", "--database", "postgresql+psycopg://cds:s3cret@127.0.0.1:1/cds")
    assert result.returncode == 2
    assert "s3cret" not in result.stderr
    assert "cannot read the audit store" in result.stderr
