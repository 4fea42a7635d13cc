"""Recording calls and cards: what is stored, and what never is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select

from cds.pseudonym import Pseudonymizer
from cds.store import AuditStore, CallRecord, CardRecord
from cds.store.models import Call, Card

# Ingrid Hansen, 84, admitted after a fall; her (synthetic) identifier must never reach the database.
INGRID_ID = "24014212345"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.secret-access-token"
KEY = b"test-key-for-the-audit-store-0001"  # the key the `store` fixture uses


def discharge_call(at: datetime, *, patient_id: str | None = INGRID_ID, cards: tuple[CardRecord, ...] = ()) -> CallRecord:
    return CallRecord(
        service_id="frailty-discharge",
        hook="encounter-discharge",
        hook_instance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        patient_id=patient_id,
        ruleset_digest="sha256:4f2a",
        duration_ms=3.75,
        outcome="ok",
        http_status=200,
        cards=cards,
        at=at,
        site="ahus",
    )


CFS_CARD = CardRecord(
    uuid="card-cfs-1",
    rule_id="cfs-due",
    rule_version="1.2.0",
    indicator="warning",
    topic="frailty-screening",
    suggestion_ids=("sugg-order-cfs",),
)
NOTIFY_CARD = CardRecord(
    uuid="card-notify-1", rule_id="gp-notification", rule_version="2.0.0", indicator="info", topic="discharge"
)


def test_call_is_stored_with_its_fields(store: AuditStore, now: datetime) -> None:
    store.record_call(discharge_call(now))
    with store.engine.connect() as conn:
        row = conn.execute(select(Call.__table__)).one()
    assert row.service_id == "frailty-discharge"
    assert row.hook == "encounter-discharge"
    assert row.hook_instance == "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
    assert row.ruleset_digest == "sha256:4f2a"
    assert row.duration_ms == pytest.approx(3.75)
    assert (row.outcome, row.http_status, row.site) == ("ok", 200, "ahus")


def test_call_time_is_read_back_as_the_same_utc_instant(store: AuditStore) -> None:
    oslo_afternoon = datetime(2026, 11, 20, 15, 30, tzinfo=timezone(timedelta(hours=1)))
    store.record_call(discharge_call(oslo_afternoon))
    with store.engine.connect() as conn:
        stored = conn.execute(select(Call.at)).scalar_one()
    assert stored == oslo_afternoon
    assert stored.tzinfo == UTC


def test_cards_are_stored_with_their_call(store: AuditStore, now: datetime) -> None:
    store.record_call(discharge_call(now, cards=(CFS_CARD, NOTIFY_CARD)))
    with store.engine.connect() as conn:
        call_id = conn.execute(select(Call.id)).scalar_one()
        rows = conn.execute(select(Card.__table__).order_by(Card.uuid)).all()
    assert [(r.uuid, r.rule_id, r.rule_version, r.indicator, r.topic) for r in rows] == [
        ("card-cfs-1", "cfs-due", "1.2.0", "warning", "frailty-screening"),
        ("card-notify-1", "gp-notification", "2.0.0", "info", "discharge"),
    ]
    assert [r.suggestion_ids for r in rows] == [["sugg-order-cfs"], []]
    assert {r.call_id for r in rows} == {call_id}


def test_patient_is_stored_as_the_keyed_pseudonym(store: AuditStore, now: datetime) -> None:
    store.record_call(discharge_call(now))
    with store.engine.connect() as conn:
        stored = conn.execute(select(Call.patient_pseudonym)).scalar_one()
    assert stored == Pseudonymizer(KEY).pseudonym(INGRID_ID)


def test_call_without_patient_stores_no_pseudonym(store: AuditStore, now: datetime) -> None:
    store.record_call(discharge_call(now, patient_id=None))
    with store.engine.connect() as conn:
        assert conn.execute(select(Call.patient_pseudonym)).scalar_one() is None


def test_raw_patient_id_appears_nowhere_in_the_database(store: AuditStore, now: datetime) -> None:
    store.record_call(discharge_call(now, patient_id=f"Patient/{INGRID_ID}", cards=(CFS_CARD,)))
    store.record_call(discharge_call(now + timedelta(minutes=5), patient_id=INGRID_ID))
    dump = _dump_all_tables(store)
    assert INGRID_ID not in dump
    assert "p_" in dump  # the pseudonym is there instead


def test_sqlite_file_does_not_contain_the_raw_patient_id(tmp_path: Path, now: datetime) -> None:
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    with AuditStore.open(url, pseudonym_key=KEY) as store:
        store.record_call(discharge_call(now, cards=(CFS_CARD,)))
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert INGRID_ID.encode() not in raw


def test_record_has_no_place_for_tokens_or_resources() -> None:
    fields = set(CallRecord.__dataclass_fields__)
    assert not fields & {"fhir_authorization", "access_token", "prefetch", "context", "resources", "request"}


def test_naive_call_time_is_refused(store: AuditStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.record_call(discharge_call(datetime(2026, 11, 20, 14, 30)))
    with store.engine.connect() as conn:
        assert conn.execute(select(Call.id)).first() is None


def test_overlong_client_values_are_clipped_not_rejected(store: AuditStore, now: datetime) -> None:
    record = discharge_call(now)
    long_instance = "x" * 5000
    store.record_call(CallRecord(**{**record.__dict__, "hook_instance": long_instance}))
    with store.engine.connect() as conn:
        assert conn.execute(select(Call.hook_instance)).scalar_one() == "x" * 200


def _dump_all_tables(store: AuditStore) -> str:
    metadata = MetaData()
    metadata.reflect(store.engine)
    parts: list[str] = []
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


def test_delete_before_removes_old_calls_cards_and_feedback_only(store: AuditStore, now: datetime) -> None:
    from cds.hooks.models import FeedbackItem
    from cds.store.models import Feedback

    old_card = CardRecord(uuid="old", rule_id="cfs-due", rule_version="1", indicator="info", topic="frailty")
    store.record_call(discharge_call(now - timedelta(days=800), cards=(old_card,)))
    store.record_call(discharge_call(now, cards=(CFS_CARD,)))
    for uuid, received in (("old", now - timedelta(days=800)), ("card-cfs-1", now)):
        item = FeedbackItem.model_validate({"card": uuid, "outcome": "accepted", "acceptedSuggestions": [{"id": "s"}],
                                            "outcomeTimestamp": received.isoformat()})
        store.record_feedback("frailty-discharge", [item], received_at=received)

    assert store.delete_before(now - timedelta(days=730)) == (1, 1)
    with store.engine.connect() as conn:
        assert conn.execute(select(Card.uuid)).scalars().all() == ["card-cfs-1"]
        assert conn.execute(select(Feedback.card_uuid)).scalars().all() == ["card-cfs-1"]
        assert len(conn.execute(select(Call.id)).all()) == 1
