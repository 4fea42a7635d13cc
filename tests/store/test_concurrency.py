"""Several service workers on one database: concurrent start-up and writes neither fail nor double-count."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sqlalchemy import func, select

from cds.hooks.models import FeedbackItem
from cds.store import AuditStore, CallRecord, CardRecord, FeedbackResult, current_revision, head_revision
from cds.store.models import Call, Card, Feedback

KEY = b"concurrency-test-pseudonym-key-1"
WORKERS = 6
CALLS_PER_WORKER = 15


def run_workers(target: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(WORKERS)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            target(n)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_workers_starting_together_on_an_empty_database_all_open_it(database_url: str) -> None:
    def open_and_close(_: int) -> None:
        AuditStore.open(database_url, pseudonym_key=KEY).close()

    assert run_workers(open_and_close) == []
    with AuditStore.open(database_url, pseudonym_key=KEY) as store:
        assert current_revision(store.engine) == head_revision()


def test_concurrent_calls_and_repeated_feedback_from_several_workers(database_url: str, now: datetime) -> None:
    AuditStore.open(database_url, pseudonym_key=KEY).close()
    card = CardRecord(uuid="card-shared", rule_id="cfs-due", rule_version="1", indicator="info", topic="frailty")
    with AuditStore.open(database_url, pseudonym_key=KEY) as first:
        first.record_call(_call(now, (card,)))
    feedback = FeedbackItem.model_validate(
        {"card": "card-shared", "outcome": "accepted", "acceptedSuggestions": [{"id": "s1"}],
         "outcomeTimestamp": "2026-11-20T14:40:00Z"}
    )
    results: list[FeedbackResult] = []

    def worker(n: int) -> None:
        with AuditStore.open(database_url, pseudonym_key=KEY) as store:
            for i in range(CALLS_PER_WORKER):
                store.record_call(_call(now, (CardRecord(uuid=f"c-{n}-{i}", rule_id="r", rule_version="1",
                                                         indicator="info", topic="t"),)))
                results.append(store.record_feedback("frailty-discharge", [feedback], received_at=now))

    assert run_workers(worker) == []
    with AuditStore.open(database_url, pseudonym_key=KEY) as store, store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Call)).scalar() == 1 + WORKERS * CALLS_PER_WORKER
        assert conn.execute(select(func.count()).select_from(Card)).scalar() == 1 + WORKERS * CALLS_PER_WORKER
        assert conn.execute(select(func.count()).select_from(Feedback)).scalar() == 1
    assert sum(r.stored for r in results) == 1
    assert sum(r.duplicates for r in results) == WORKERS * CALLS_PER_WORKER - 1


def _call(at: datetime, cards: tuple[CardRecord, ...]) -> CallRecord:
    return CallRecord(
        service_id="frailty-discharge", hook="encounter-discharge", hook_instance="hi", patient_id="pat-7",
        ruleset_digest=None, duration_ms=1.0, outcome="ok", http_status=200, cards=cards, at=at,
    )


def _locked_upgrade(times: int, calls: list[int]) -> Callable[..., None]:
    """An upgrade step that SQLite refuses with 'database is locked' ``times`` times, then runs."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from cds.store import migrate

    real = migrate._upgrade

    def upgrade(engine: Any) -> None:
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))
        real(engine)

    return upgrade


def test_a_store_opening_while_sqlite_is_briefly_locked_retries_and_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cds.store import migrate

    calls: list[int] = []
    monkeypatch.setattr(migrate, "_upgrade", _locked_upgrade(2, calls))
    monkeypatch.setattr(migrate, "SQLITE_LOCKED_BACKOFF_SECONDS", (0.0, 0.0, 0.0))
    with AuditStore.open(f"sqlite:///{tmp_path / 'a.sqlite3'}", pseudonym_key=KEY) as store:
        assert current_revision(store.engine) == head_revision()
    assert len(calls) == 3


def test_a_store_that_stays_locked_gives_up_with_a_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cds.store import StoreError, migrate

    calls: list[int] = []
    monkeypatch.setattr(migrate, "_upgrade", _locked_upgrade(10, calls))
    monkeypatch.setattr(migrate, "SQLITE_LOCKED_BACKOFF_SECONDS", (0.0, 0.0))
    with pytest.raises(StoreError, match="database is locked"):
        AuditStore.open(f"sqlite:///{tmp_path / 'a.sqlite3'}", pseudonym_key=KEY)
    assert len(calls) == 3  # the first try and one per back-off step
