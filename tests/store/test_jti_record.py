"""The client JWT replay record in the store: one token, one use, across every worker and host of a database."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from cds.service.replay import ReplayTable, StoreReplayGuard
from cds.store import AuditStore

ISS = "https://epj.example.no"
NOW = 1_790_000_000.0


def guard(store: AuditStore, tmp_path, host: str, clock=lambda: NOW) -> StoreReplayGuard:
    return StoreReplayGuard(store, ReplayTable(tmp_path / host / "jti-replay.bin", 1000, clock=clock), clock=clock)


def test_a_token_is_accepted_once_and_refused_on_the_other_host(store, tmp_path):
    first, second = guard(store, tmp_path, "host-a"), guard(store, tmp_path, "host-b")
    assert first.seen(ISS, "jti-1", NOW + 300) is False
    assert second.seen(ISS, "jti-1", NOW + 300) is True
    assert first.seen(ISS, "jti-1", NOW + 300) is True
    assert second.seen(ISS, "jti-2", NOW + 300) is False


def test_the_same_jti_from_another_issuer_is_another_token(store, tmp_path):
    record = guard(store, tmp_path, "host-a")
    assert record.seen(ISS, "jti-1", NOW + 300) is False
    assert record.seen("https://other.example.no", "jti-1", NOW + 300) is False


def test_an_expired_record_is_free_again_and_pruned(store, tmp_path):
    clock = [NOW]
    record = guard(store, tmp_path, "host-a", clock=lambda: clock[0])
    assert record.seen(ISS, "old", NOW + 10) is False
    clock[0] = NOW + 11
    assert record.seen(ISS, "old", NOW + 400) is False  # expired: a new token with that jti may be used
    assert record.seen(ISS, "old", NOW + 400) is True
    record.seen(ISS, "short", NOW + 20)
    assert store.prune_jti(now=NOW + 30) == 1
    with store.engine.connect() as conn:
        assert conn.execute(text("select count(*) from jti_seen")).scalar() == 1


def test_concurrent_uses_of_one_token_accept_exactly_one(store, tmp_path):
    hosts = [guard(store, tmp_path, f"host-{n}") for n in range(8)]
    answers: list[bool] = []
    barrier = threading.Barrier(len(hosts))

    def use(record: StoreReplayGuard) -> None:
        barrier.wait()
        answers.append(record.seen(ISS, "raced", NOW + 300))

    threads = [threading.Thread(target=use, args=(h,)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [False] + [True] * (len(hosts) - 1)


def test_while_the_store_is_unreachable_the_host_still_refuses_its_own_replays(store, tmp_path, monkeypatch,
                                                                             caplog):
    record = guard(store, tmp_path, "host-a")
    assert record.seen(ISS, "before", NOW + 300) is False

    def refused(*args, **kwargs):
        raise OperationalError("INSERT ...", {}, Exception("connection refused"))

    monkeypatch.setattr(store, "claim_jti", refused)
    assert record.seen(ISS, "before", NOW + 300) is True  # the local table knew it as well
    assert record.seen(ISS, "during", NOW + 300) is False
    assert record.seen(ISS, "during", NOW + 300) is True
    assert "unreachable" in caplog.text and "during" not in caplog.text


def test_a_bad_statement_is_not_mistaken_for_an_outage(store, tmp_path, monkeypatch):
    record = guard(store, tmp_path, "host-a")
    monkeypatch.setattr(store, "claim_jti", lambda *a, **k: (_ for _ in ()).throw(ValueError("bug")))
    with pytest.raises(ValueError):
        record.seen(ISS, "x", NOW + 300)
