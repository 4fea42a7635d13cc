"""Recording feedback: stored once however often it arrives, unknown cards kept and flagged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from cds.hooks.models import FeedbackItem
from cds.store import AuditStore, CallRecord, CardRecord, FeedbackResult
from cds.store.models import COMMENT_MAX_CHARS, Feedback

SERVICE = "frailty-discharge"
CFS_CARD = CardRecord(
    uuid="card-cfs-1", rule_id="cfs-due", rule_version="1.2.0", indicator="warning", topic="frailty-screening",
    suggestion_ids=("sugg-a", "sugg-b"),
)


def serve(store: AuditStore, at: datetime, *cards: CardRecord, service_id: str = SERVICE) -> None:
    store.record_call(
        CallRecord(
            service_id=service_id, hook="encounter-discharge", hook_instance="hi-1", patient_id="pat-1",
            ruleset_digest="sha256:1", duration_ms=2.0, outcome="ok", http_status=200, cards=cards, at=at,
        )
    )


def item(**fields: Any) -> FeedbackItem:
    data: dict[str, Any] = {"card": "card-cfs-1", "outcome": "accepted", "acceptedSuggestions": [{"id": "sugg-a"}],
                            "outcomeTimestamp": "2026-11-20T14:35:00Z"}
    data.update(fields)
    return FeedbackItem.model_validate(data)


def overridden(**fields: Any) -> FeedbackItem:
    data: dict[str, Any] = {
        "outcome": "overridden", "acceptedSuggestions": None,
        "overrideReason": {"reason": {"system": "http://example.org/override", "code": "already-done",
                                      "display": "Allerede utført"}, "userComment": "CFS tatt i går"},
    }
    data.update(fields)
    return item(**data)


def rows(store: AuditStore) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(Feedback.__table__).order_by(Feedback.id)))


def test_accepted_feedback_is_stored_with_its_suggestions(store: AuditStore, now: datetime) -> None:
    serve(store, now, CFS_CARD)
    result = store.record_feedback(SERVICE, [item(acceptedSuggestions=[{"id": "sugg-b"}, {"id": "sugg-a"}])],
                                   received_at=now + timedelta(minutes=6))
    assert result == FeedbackResult(stored=1, duplicates=0, unknown_cards=0)
    [row] = rows(store)
    assert (row.card_uuid, row.outcome, row.known_card, row.service_id) == ("card-cfs-1", "accepted", True, SERVICE)
    assert row.accepted_suggestions == ["sugg-a", "sugg-b"]
    assert row.outcome_at == datetime(2026, 11, 20, 14, 35, tzinfo=UTC)
    assert row.received_at == now + timedelta(minutes=6)


def test_override_reason_and_comment_are_stored(store: AuditStore, now: datetime) -> None:
    serve(store, now, CFS_CARD)
    store.record_feedback(SERVICE, [overridden()], received_at=now)
    [row] = rows(store)
    assert (row.override_system, row.override_code, row.override_display) == (
        "http://example.org/override", "already-done", "Allerede utført")
    assert row.user_comment == "CFS tatt i går"
    assert row.accepted_suggestions == []


def test_same_item_twice_is_stored_once(store: AuditStore, now: datetime) -> None:
    serve(store, now, CFS_CARD)
    first = store.record_feedback(SERVICE, [item()], received_at=now)
    again = store.record_feedback(SERVICE, [item()], received_at=now + timedelta(seconds=30))
    assert first == FeedbackResult(stored=1, duplicates=0, unknown_cards=0)
    assert again == FeedbackResult(stored=0, duplicates=1, unknown_cards=0)
    assert len(rows(store)) == 1


def test_repeat_inside_one_request_is_stored_once(store: AuditStore, now: datetime) -> None:
    serve(store, now, CFS_CARD)
    result = store.record_feedback(SERVICE, [item(), item()], received_at=now)
    assert result == FeedbackResult(stored=1, duplicates=1, unknown_cards=0)


def test_suggestion_order_and_timestamp_notation_do_not_make_a_new_item(store: AuditStore, now: datetime) -> None:
    serve(store, now, CFS_CARD)
    store.record_feedback(SERVICE, [item(acceptedSuggestions=[{"id": "sugg-a"}, {"id": "sugg-b"}])], received_at=now)
    result = store.record_feedback(
        SERVICE,
        [item(acceptedSuggestions=[{"id": "sugg-b"}, {"id": "sugg-a"}], outcomeTimestamp="2026-11-20T15:35:00+01:00")],
        received_at=now,
    )
    assert result.duplicates == 1


def test_later_feedback_on_the_same_card_is_a_new_item(store: AuditStore, now: datetime) -> None:
    serve(store, now, CFS_CARD)
    store.record_feedback(SERVICE, [item()], received_at=now)
    result = store.record_feedback(SERVICE, [overridden(outcomeTimestamp="2026-11-20T16:00:00Z")], received_at=now)
    assert result == FeedbackResult(stored=1, duplicates=0, unknown_cards=0)
    assert [r.outcome for r in rows(store)] == ["accepted", "overridden"]


def test_feedback_for_an_unknown_card_is_stored_and_flagged(store: AuditStore, now: datetime) -> None:
    result = store.record_feedback(SERVICE, [item(card="card-never-served")], received_at=now)
    assert result == FeedbackResult(stored=1, duplicates=0, unknown_cards=1)
    [row] = rows(store)
    assert row.card_uuid == "card-never-served"
    assert row.known_card is False


def test_card_served_by_another_service_counts_as_unknown(store: AuditStore, now: datetime) -> None:
    serve(store, now, CFS_CARD, service_id="frailty-admission")
    result = store.record_feedback(SERVICE, [item()], received_at=now)
    assert result.unknown_cards == 1


def test_repeated_unknown_card_is_a_duplicate_not_a_second_unknown(store: AuditStore, now: datetime) -> None:
    store.record_feedback(SERVICE, [item(card="card-x")], received_at=now)
    result = store.record_feedback(SERVICE, [item(card="card-x")], received_at=now)
    assert result == FeedbackResult(stored=0, duplicates=1, unknown_cards=0)


def test_unparseable_outcome_timestamp_is_kept_as_text(store: AuditStore, now: datetime) -> None:
    serve(store, now, CFS_CARD)
    store.record_feedback(SERVICE, [item(outcomeTimestamp="yesterday afternoon")], received_at=now)
    [row] = rows(store)
    assert (row.outcome_timestamp, row.outcome_at) == ("yesterday afternoon", None)


def test_long_comment_is_clipped(store: AuditStore, now: datetime) -> None:
    serve(store, now, CFS_CARD)
    reason = {"reason": {"code": "other", "display": "Annet"}, "userComment": "ø" * (COMMENT_MAX_CHARS + 500)}
    store.record_feedback(SERVICE, [overridden(overrideReason=reason)], received_at=now)
    [row] = rows(store)
    assert row.user_comment == "ø" * COMMENT_MAX_CHARS


def test_served_cards_are_found_by_uuid_for_their_own_service_only(store: AuditStore, now: datetime) -> None:
    from cds.store.records import ServedCard

    other = CardRecord(uuid="card-other", rule_id="x", rule_version="1.0", indicator="info", topic="t")
    serve(store, now, CFS_CARD)
    serve(store, now, other, service_id="frailty-admission")
    found = store.served_cards(SERVICE, ["card-cfs-1", "card-other", "never-served"])
    assert found == {"card-cfs-1": ServedCard(uuid="card-cfs-1", rule_id="cfs-due", suggestion_ids=("sugg-a", "sugg-b"))}
    assert store.served_cards(SERVICE, []) == {}


def test_redact_comments_wipes_the_override_display_too(store: AuditStore, now: datetime) -> None:
    serve(store, now, CFS_CARD)
    store.record_feedback(SERVICE, [overridden(overrideReason={"reason": {"code": "already-done",
                                                                          "display": "Ingrid Haugen"}})],
                          received_at=now - timedelta(days=400))
    assert store.redact_comments(received_before=now - timedelta(days=365)) == 1
    [row] = rows(store)
    assert (row.override_display, row.user_comment, row.override_code) == (None, None, "already-done")


def test_redact_comments_wipes_only_old_comments_and_keeps_the_reason(store: AuditStore, now: datetime) -> None:
    serve(store, now, CFS_CARD)
    store.record_feedback(SERVICE, [overridden()], received_at=now - timedelta(days=400))
    store.record_feedback(SERVICE, [overridden(outcomeTimestamp="2026-11-20T15:00:00Z")], received_at=now)
    assert store.redact_comments(received_before=now - timedelta(days=365)) == 1
    old, recent = rows(store)
    assert (old.user_comment, old.override_code) == (None, "already-done")
    assert recent.user_comment == "CFS tatt i går"
