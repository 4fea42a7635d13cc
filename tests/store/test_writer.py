"""The write-behind audit writer: batches end up as synchronous writes would, nothing is lost or dropped."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from cds.store import AuditStore, CallRecord, CardRecord
from cds.store.models import Call, Card
from cds.store.writer import AuditWriter

INGRID_ID = "24014212345"


def call(at: datetime, n: int, *, cards: int = 1, patient_id: str | None = INGRID_ID) -> CallRecord:
    return CallRecord(
        service_id="frailty-discharge",
        hook="encounter-discharge",
        hook_instance=f"hook-{n:04d}",
        patient_id=patient_id,
        ruleset_digest="sha256:4f2a",
        duration_ms=3.5 + n,
        outcome="ok" if cards else "no-cards",
        http_status=200,
        cards=tuple(
            CardRecord(uuid=f"card-{n}-{i}", rule_id=f"rule-{i}", rule_version="1.0.0", indicator="warning",
                       topic="discharge", suggestion_ids=(f"sugg-{n}-{i}",) if i % 2 == 0 else ())
            for i in range(cards)
        ),
        at=at + timedelta(seconds=n),
        site="ahus",
    )


def stored(store: AuditStore, prefix: str) -> list[tuple[object, ...]]:
    """Every call whose hookInstance starts with ``prefix`` with its cards, ids replaced by the call's position."""
    with store.engine.connect() as conn:
        calls = conn.execute(
            select(Call.__table__).where(Call.hook_instance.startswith(prefix)).order_by(Call.id)).all()
        out = []
        for row in calls:
            cards = conn.execute(select(Card.__table__).where(Card.call_id == row.id).order_by(Card.id)).all()
            out.append((
                row.hook_instance.removeprefix(prefix), row.at, row.service_id, row.hook, row.patient_pseudonym,
                row.ruleset_digest, row.duration_ms, row.outcome, row.http_status, row.site,
                [(c.uuid, c.rule_id, c.rule_version, c.indicator, c.topic, c.suggestion_ids) for c in cards],
            ))
    return out


class Gate:
    """Wraps ``store.record_calls``: the first write waits until the gate opens; remembers batch sizes."""

    def __init__(self, store: AuditStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.batches: list[int] = []
        original = store.record_calls

        def record_calls(records):  # type: ignore[no-untyped-def]
            self.entered.set()
            self.open.wait()
            self.batches.append(len(records))
            original(records)

        monkeypatch.setattr(store, "record_calls", record_calls)


@pytest.fixture
def writer(store: AuditStore) -> Iterator[AuditWriter]:
    w = AuditWriter(store, max_pending=50, max_batch=20)
    yield w
    w.close()


def test_calls_written_in_batches_equal_calls_written_one_by_one(store, now, monkeypatch):
    records = [call(now, n, cards=n % 4, patient_id=None if n % 5 == 0 else f"{INGRID_ID}{n}") for n in range(45)]
    for record in records:
        store.record_call(replace(record, hook_instance="sync-" + record.hook_instance, key="sync-" + record.key))
    gate = Gate(store, monkeypatch)
    writer = AuditWriter(store, max_pending=50, max_batch=20)
    for record in records:
        writer.submit(replace(record, hook_instance="batch-" + record.hook_instance, key="batch-" + record.key))
    gate.open.set()
    writer.close()
    assert max(gate.batches) > 1, "the calls were meant to be written several per transaction"
    assert sum(gate.batches) == len(records)
    assert stored(store, "batch-") == stored(store, "sync-")
    assert len(stored(store, "batch-")) == len(records)


def test_close_writes_every_call_still_queued(store, now, monkeypatch):
    gate = Gate(store, monkeypatch)
    writer = AuditWriter(store, max_pending=50, max_batch=5)
    for n in range(30):
        writer.submit(call(now, n))
    assert gate.entered.wait(10)
    gate.open.set()
    writer.close()
    assert len(stored(store, "hook-")) == 30
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(call(now, 99))


def test_a_full_queue_makes_the_caller_wait_and_drops_nothing(store, now, monkeypatch):
    gate = Gate(store, monkeypatch)
    writer = AuditWriter(store, max_pending=2, max_batch=10)
    writer.submit(call(now, 0))
    assert gate.entered.wait(10)  # the thread holds call 0 and waits at the gate; the queue is empty
    writer.submit(call(now, 1))
    writer.submit(call(now, 2))  # the queue is full now
    late = threading.Thread(target=writer.submit, args=(call(now, 3),))
    late.start()
    late.join(0.5)
    assert late.is_alive(), "submit returned although the queue was full"
    gate.open.set()
    late.join(10)
    assert not late.is_alive()
    writer.flush()
    assert [row[0] for row in stored(store, "hook-")] == ["0000", "0001", "0002", "0003"]
    writer.close()


def test_submit_async_waits_for_room_without_blocking_the_event_loop(store, now, monkeypatch):
    gate = Gate(store, monkeypatch)
    writer = AuditWriter(store, max_pending=1, max_batch=10)

    async def scenario() -> None:
        await writer.submit_async(call(now, 0))
        assert await asyncio.to_thread(gate.entered.wait, 10)
        await writer.submit_async(call(now, 1))  # fills the queue
        waiting = asyncio.ensure_future(writer.submit_async(call(now, 2)))
        await asyncio.sleep(0)  # the loop keeps running while the submission waits for room
        assert not waiting.done()
        gate.open.set()
        await waiting

    asyncio.run(scenario())
    writer.close()
    assert len(stored(store, "hook-")) == 3


def test_a_failing_write_is_logged_in_one_line_and_the_writer_goes_on(store, now, monkeypatch, caplog):
    original = store.record_calls
    failures = iter(range(2))  # the batch and its one call retried alone

    def record_calls(records):  # type: ignore[no-untyped-def]
        if next(failures, None) is not None:
            raise OperationalError("INSERT INTO calls ...", {"patient_pseudonym": "p_secret"},
                                   Exception("database is locked"))
        original(records)

    monkeypatch.setattr(store, "record_calls", record_calls)
    writer = AuditWriter(store)
    with caplog.at_level(logging.ERROR, logger="cds.store.writer"):
        writer.submit(call(now, 0))
        writer.flush()
        writer.submit(call(now, 1))
        writer.flush()
    [message] = [r.getMessage() for r in caplog.records]
    assert message == "could not record 1 of 1 calls in the audit store: Exception: database is locked"
    assert [row[0] for row in stored(store, "hook-")] == ["0001"]
    writer.close()


def test_one_bad_call_does_not_take_its_batch_with_it(store, now, monkeypatch, caplog):
    gate = Gate(store, monkeypatch)
    writer = AuditWriter(store)
    writer.submit(call(now, 0))
    assert gate.entered.wait(10)
    writer.submit(call(now, 1))
    writer.submit(replace(call(now, 2), at=datetime(2026, 11, 20, 14, 30)))  # naive: refused by the store
    writer.submit(call(now, 3))
    with caplog.at_level(logging.ERROR, logger="cds.store.writer"):
        gate.open.set()
        writer.close()
    assert [row[0] for row in stored(store, "hook-")] == ["0000", "0001", "0003"]
    [message] = [r.getMessage() for r in caplog.records]
    assert message.startswith("could not record 1 of 3 calls") and INGRID_ID not in message


def test_feedback_after_a_flush_finds_the_card_just_served(store, now, writer):
    writer.submit(call(now, 7, cards=1))
    writer.flush()
    items = [{"card": "card-7-0", "outcome": "overridden", "outcomeTimestamp": "2026-11-20T14:40:00Z"}]
    from cds.hooks.models import FeedbackItem

    result = store.record_feedback("frailty-discharge", [FeedbackItem.model_validate(i) for i in items],
                                   received_at=now)
    assert result.unknown_cards == 0


def test_flush_and_close_without_any_call_return_at_once(store):
    writer = AuditWriter(store)
    writer.flush()
    writer.close()
    writer.close()


def test_calls_arriving_while_a_batch_gathers_share_its_transaction_and_a_flush_ends_the_wait(store, now,
                                                                                            monkeypatch):
    gate = Gate(store, monkeypatch)
    gate.open.set()
    writer = AuditWriter(store, linger=600.0)  # only the flush can end this batch's wait
    for n in range(3):
        writer.submit(call(now, n))
    writer.flush()
    assert gate.batches == [3]
    assert len(stored(store, "hook-")) == 3
    writer.close()


def test_a_flush_does_not_wait_out_the_linger(store, now):
    writer = AuditWriter(store, linger=3600)
    writer.submit(call(now, 0))
    flushing = threading.Thread(target=writer.flush)
    flushing.start()
    flushing.join(60)
    assert not flushing.is_alive(), "flush waited for the writer's linger"
    assert [row[0] for row in stored(store, "hook-")] == ["0000"]
    writer.close()


def test_a_full_batch_is_written_without_waiting_out_the_linger(store, now, monkeypatch):
    gate = Gate(store, monkeypatch)
    gate.open.set()
    writer = AuditWriter(store, max_batch=3, linger=3600)
    for n in range(3):
        writer.submit(call(now, n))
    assert gate.entered.wait(60), "a full batch waited for the writer's linger"
    assert gate.batches == [3]
    writer.close()


def test_calls_submitted_while_the_writer_lingers_are_written_in_one_batch(store, now, monkeypatch):
    gate = Gate(store, monkeypatch)
    gate.open.set()
    writer = AuditWriter(store, max_batch=200, linger=3600)
    for n in range(10):
        writer.submit(call(now, n))
    writer.flush()
    assert gate.batches == [10]
    writer.close()
