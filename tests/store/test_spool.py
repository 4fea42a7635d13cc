"""The audit spool: while the database is unreachable, calls and feedback wait on disk, then are written once, in order."""

from __future__ import annotations

import stat
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from cds.hooks.models import FeedbackItem
from cds.store import AuditStore
from cds.store.models import Call, Card
from cds.store.spool import AuditSpool, SpoolFull
from cds.store.writer import AuditWriter, unavailable

from .test_writer import INGRID_ID, call


def outage() -> OperationalError:
    return OperationalError("INSERT ...", {}, Exception("connection refused"))


class Outage:
    """Makes the store's writes fail as an unreachable database does while ``down`` is set."""

    def __init__(self, store: AuditStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down = threading.Event()
        for name in ("write_call_rows", "record_feedback"):
            original = getattr(store, name)

            def failing(*args, _original=original, **kwargs):
                if self.down.is_set():
                    raise outage()
                return _original(*args, **kwargs)

            monkeypatch.setattr(store, name, failing)


def feedback_item(card: str, minute: int = 0) -> FeedbackItem:
    return FeedbackItem.model_validate({"card": card, "outcome": "overridden",
                                        "outcomeTimestamp": f"2026-11-20T14:{minute:02d}:00Z",
                                        "overrideReason": {"userComment": "pasienten ønsket det"}})


def test_a_spool_keeps_entries_in_order_in_a_file_only_its_owner_can_read(tmp_path):
    spool = AuditSpool(tmp_path)
    for n in range(3):
        spool.append({"n": n})
    assert spool.depth() == 3 and spool.pending()
    assert stat.S_IMODE(spool.path.stat().st_mode) == 0o600
    seen: list[int] = []
    assert spool.drain(lambda entry: seen.append(entry["n"])) == 3
    assert seen == [0, 1, 2] and spool.depth() == 0 and not spool.pending()


def test_a_drain_that_fails_keeps_the_failed_entry_and_those_after_it_in_order(tmp_path):
    spool = AuditSpool(tmp_path)
    for n in range(5):
        spool.append({"n": n})

    def write(entry):
        if entry["n"] == 2:
            raise outage()
        written.append(entry["n"])

    written: list[int] = []
    with pytest.raises(OperationalError):
        spool.drain(write)
    assert written == [0, 1]
    rest: list[int] = []
    spool.drain(lambda entry: rest.append(entry["n"]))
    assert rest == [2, 3, 4]


def test_a_full_spool_refuses_the_entry_and_keeps_what_it_holds(tmp_path):
    spool = AuditSpool(tmp_path, max_bytes=60)
    spool.append({"text": "x" * 30})
    with pytest.raises(SpoolFull, match="full"):
        spool.append({"text": "y" * 30})
    assert spool.depth() == 1


def test_a_torn_last_line_is_skipped_not_written(tmp_path):
    spool = AuditSpool(tmp_path)
    spool.append({"n": 1})
    with spool.path.open("ab") as file:
        file.write(b'{"n": 2')  # a crash during an append: never acknowledged
    seen: list[int] = []
    spool.drain(lambda entry: seen.append(entry["n"]))
    assert seen == [1]


def test_connection_errors_count_as_unavailable_and_bad_records_do_not():
    assert unavailable(outage())
    assert not unavailable(ValueError("CallRecord.at must be timezone-aware"))


def test_calls_made_during_an_outage_are_written_once_in_order_when_the_database_is_back(store, now, monkeypatch,
                                                                                         tmp_path):
    failing = Outage(store, monkeypatch)
    writer = AuditWriter(store, spool=AuditSpool(tmp_path / "spool"), retry_seconds=0.05, max_batch=4)
    try:
        writer.submit(call(now, 0))
        writer.flush()
        failing.down.set()
        for n in range(1, 11):
            writer.submit(call(now, n, patient_id=f"{INGRID_ID}{n}"))
        writer.flush()
        assert writer.spool is not None and writer.spool.depth() > 0
        raw = writer.spool.path.read_text(encoding="utf-8")
        assert INGRID_ID not in raw, "the spool holds pseudonyms, never the patient's identifier"
        failing.down.clear()
        writer.submit(call(now, 11))
        writer.flush()
    finally:
        writer.close()
    with store.engine.connect() as conn:
        instances = conn.execute(select(Call.hook_instance).order_by(Call.id)).scalars().all()
        cards = conn.execute(select(Card.uuid)).scalars().all()
    assert instances == [f"hook-{n:04d}" for n in range(12)]
    assert sorted(cards) == sorted(f"card-{n}-0" for n in range(12))


def test_a_batch_whose_commit_acknowledgement_was_lost_is_not_stored_twice(store, now, monkeypatch, tmp_path):
    original = store.write_call_rows
    lost = {"once": True}

    def committed_then_cut(rows):
        written = original(rows)
        if lost.pop("once", False):
            raise outage()  # the rows are in the database, but the service did not hear so
        return written

    monkeypatch.setattr(store, "write_call_rows", committed_then_cut)
    writer = AuditWriter(store, spool=AuditSpool(tmp_path / "spool"), retry_seconds=0.05)
    try:
        for n in range(3):
            writer.submit(call(now, n))
        writer.flush()
        writer.flush()
    finally:
        writer.close()
    with store.engine.connect() as conn:
        assert conn.execute(text("select count(*) from calls")).scalar() == 3
        assert conn.execute(text("select count(*) from cards")).scalar() == 3


def test_feedback_during_an_outage_is_spooled_and_stored_once_later(store, now, monkeypatch, tmp_path):
    failing = Outage(store, monkeypatch)
    writer = AuditWriter(store, spool=AuditSpool(tmp_path / "spool"), retry_seconds=0.05)
    try:
        failing.down.set()
        result = writer.record_feedback("frailty-discharge", [feedback_item("card-a"), feedback_item("card-b")],
                                        received_at=now)
        assert (result.stored, result.spooled) == (0, 2)
        again = writer.record_feedback("frailty-discharge", [feedback_item("card-a")], received_at=now)
        assert again.spooled == 1  # a client retry while down: spooled again, stored once
        failing.down.clear()
        writer.flush()
    finally:
        writer.close()
    with store.engine.connect() as conn:
        rows = conn.execute(text("select card_uuid, user_comment from feedback order by id")).all()
    assert [tuple(r) for r in rows] == [("card-a", "pasienten ønsket det"), ("card-b", "pasienten ønsket det")]


def test_feedback_that_can_be_neither_stored_nor_spooled_raises_spool_full(store, now, monkeypatch, tmp_path):
    failing = Outage(store, monkeypatch)
    writer = AuditWriter(store, spool=AuditSpool(tmp_path / "spool", max_bytes=100), retry_seconds=0.05)
    try:
        failing.down.set()
        with pytest.raises(SpoolFull):
            writer.record_feedback("frailty-discharge", [feedback_item("card-a")], received_at=now)
    finally:
        failing.down.clear()
        writer.close()


def test_feedback_with_bad_data_is_not_hidden_in_the_spool(store, now, tmp_path):
    writer = AuditWriter(store, spool=AuditSpool(tmp_path / "spool"))
    try:
        with pytest.raises(ValueError, match="timezone-aware"):
            writer.record_feedback("frailty-discharge", [feedback_item("card-a")],
                                   received_at=datetime(2026, 11, 20) + timedelta(0))
        assert writer.spool is not None and not writer.spool.pending()
    finally:
        writer.close()
