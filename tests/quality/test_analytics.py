"""Card analytics on a small hand-made audit store with hand-computed expectations.

The month is November 2026. Two sites (Ahus, OUS), two rules:

====  ===================  =======  ====  =======================================
card  rule (topic)         version  site  what happened
====  ===================  =======  ====  =======================================
c1    cfs-due (frailty)    1        ahus  accepted
c2    cfs-due              1        ahus  overridden: already-done, "Gjort i går"
c3    cfs-due              2        ous   overridden: already-done
c4    cfs-due              2        ous   overridden: not-relevant, "Palliativ pasient"
c5    cfs-due              2        ahus  no feedback
c11   cfs-due              2        ous   served by the admission service; the feedback
                                          came to the discharge service, so it does not count
c6    gp-notification      1        ahus  accepted
c7    gp-notification      1        ous   overridden ("Feil pasient?"), later accepted
c8    gp-notification      1        ous   overridden without a reason
c9    cfs-due              1        ahus  served 31 October: outside the period
c10   gp-notification      1        ous   served 1 December 00:00: outside (end is exclusive)
ghost -                    -        -     feedback for a card never served
====  ===================  =======  ====  =======================================
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cds.hooks.models import FeedbackItem
from cds.quality.analytics import CardAnalytics, CardStats, GroupBy, card_analytics
from cds.store import AuditStore, CallRecord, CardRecord
from cds.store.testing import POSTGRES_URL_ENV, postgres_schema_url, postgres_url_from_env, sqlite_file_url

KEY = b"analytics-test-pseudonym-key-01"
DISCHARGE, ADMISSION = "frailty-discharge", "frailty-admission"
NOV = datetime(2026, 11, 1, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)
ALREADY_DONE = {"system": "urn:cds:override", "code": "already-done", "display": "Allerede utført"}
NOT_RELEVANT = {"system": "urn:cds:override", "code": "not-relevant", "display": "Ikke relevant"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_file_url(tmp_path)
        return
    base = postgres_url_from_env()
    if base is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: no PostgreSQL server to run the PostgreSQL variant against")
    with postgres_schema_url(base) as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[AuditStore]:
    with AuditStore.open(database_url, pseudonym_key=KEY) as audit:
        build_month(audit)
        yield audit


def card(uuid: str, rule: str, version: str) -> CardRecord:
    topic = "frailty-screening" if rule == "cfs-due" else "discharge"
    return CardRecord(uuid=uuid, rule_id=rule, rule_version=version, indicator="warning", topic=topic,
                      suggestion_ids=("s1",))


def serve(store: AuditStore, at: datetime, site: str, *cards: CardRecord, service: str = DISCHARGE) -> None:
    store.record_call(CallRecord(service_id=service, hook="encounter-discharge", hook_instance=f"hi-{at.isoformat()}",
                                 patient_id="pat-1", ruleset_digest="sha256:x", duration_ms=2.0, outcome="ok",
                                 http_status=200, cards=cards, at=at, site=site))


def accepted(uuid: str, at: datetime) -> FeedbackItem:
    return FeedbackItem.model_validate({"card": uuid, "outcome": "accepted", "acceptedSuggestions": [{"id": "s1"}],
                                        "outcomeTimestamp": at.isoformat()})


def overridden(uuid: str, at: datetime, reason: dict[str, str] | None = None, comment: str | None = None) -> FeedbackItem:
    override: dict[str, Any] = {}
    if reason:
        override["reason"] = reason
    if comment:
        override["userComment"] = comment
    data: dict[str, Any] = {"card": uuid, "outcome": "overridden", "outcomeTimestamp": at.isoformat()}
    if override:
        data["overrideReason"] = override
    return FeedbackItem.model_validate(data)


def build_month(store: AuditStore) -> None:
    day = lambda d, h=10: datetime(2026, 11, d, h, tzinfo=UTC)  # noqa: E731
    serve(store, day(3), "ahus", card("c1", "cfs-due", "1"), card("c2", "cfs-due", "1"), card("c6", "gp-notification", "1"))
    serve(store, day(10), "ous", card("c3", "cfs-due", "2"), card("c4", "cfs-due", "2"))
    serve(store, day(11), "ahus", card("c5", "cfs-due", "2"))
    serve(store, day(12), "ous", card("c7", "gp-notification", "1"), card("c8", "gp-notification", "1"))
    serve(store, day(13), "ous", card("c11", "cfs-due", "2"), service=ADMISSION)
    serve(store, datetime(2026, 10, 31, 23, 59, tzinfo=UTC), "ahus", card("c9", "cfs-due", "1"))
    serve(store, DEC, "ous", card("c10", "gp-notification", "1"))
    late = DEC + timedelta(days=2)
    store.record_feedback(DISCHARGE, [
        accepted("c1", day(3, 11)),
        overridden("c2", day(3, 11), ALREADY_DONE, "Gjort i går"),
        accepted("c6", day(3, 12)),
        overridden("c3", day(10, 11), ALREADY_DONE),
        overridden("c4", day(10, 12), NOT_RELEVANT, "Palliativ pasient"),
        overridden("c7", day(12, 11), NOT_RELEVANT, "Feil pasient?"),
        accepted("c7", late),  # later than the override: the card counts as accepted
        overridden("c8", day(12, 11)),
        overridden("c11", day(13, 11), ALREADY_DONE),
        accepted("c9", datetime(2026, 11, 1, 8, tzinfo=UTC)),
        accepted("c10", late),
        overridden("ghost", day(20), ALREADY_DONE),
    ], received_at=late)


def counts(stats: CardStats) -> tuple[int, int, int, int]:
    return stats.shown, stats.accepted, stats.overridden, stats.ignored


def november(store: AuditStore, **kw: Any) -> CardAnalytics:
    return card_analytics(store.engine, start=NOV, end=DEC, **kw)


def test_counts_per_rule_and_topic(store: AuditStore) -> None:
    report = november(store)
    assert [(g.rule_id, g.topic, counts(g)) for g in report.groups] == [
        ("cfs-due", "frailty-screening", (6, 1, 3, 2)),
        ("gp-notification", "discharge", (3, 2, 1, 0)),
    ]


def test_acceptance_rate_is_accepted_over_shown(store: AuditStore) -> None:
    rates = {g.rule_id: g.acceptance_rate for g in november(store).groups}
    assert rates == {"cfs-due": pytest.approx(1 / 6), "gp-notification": pytest.approx(2 / 3)}


def test_total_covers_only_cards_served_in_the_period(store: AuditStore) -> None:
    total = november(store).total
    assert counts(total) == (9, 3, 4, 2)
    assert total.acceptance_rate == pytest.approx(3 / 9)


def test_counts_per_rule_version(store: AuditStore) -> None:
    report = november(store, by=[GroupBy.version])
    assert sorted((g.rule_id, g.rule_version, counts(g)) for g in report.groups) == [
        ("cfs-due", "1", (2, 1, 1, 0)),
        ("cfs-due", "2", (4, 0, 2, 2)),
        ("gp-notification", "1", (3, 2, 1, 0)),
    ]
    assert all(g.topic is None and g.site is None for g in report.groups)


def test_counts_per_site(store: AuditStore) -> None:
    report = november(store, by=["site"])
    assert [(g.site, counts(g)) for g in report.groups] == [("ous", (5, 1, 3, 1)), ("ahus", (4, 2, 1, 1))]


def test_counts_per_rule_and_site(store: AuditStore) -> None:
    report = november(store, by=["rule", "site"])
    assert {(g.rule_id, g.site): counts(g) for g in report.groups} == {
        ("cfs-due", "ahus"): (3, 1, 1, 1),
        ("cfs-due", "ous"): (3, 0, 2, 1),
        ("gp-notification", "ahus"): (1, 1, 0, 0),
        ("gp-notification", "ous"): (2, 1, 1, 0),
    }


def test_latest_feedback_decides_the_outcome_of_a_card(store: AuditStore) -> None:
    [gp] = [g for g in november(store, by=["rule", "site"]).groups if (g.rule_id, g.site) == ("gp-notification", "ous")]
    assert (gp.accepted, gp.overridden) == (1, 1)  # c7 accepted after its override, c8 overridden


def test_feedback_sent_to_another_service_does_not_count(store: AuditStore) -> None:
    report = november(store, by=["version", "site"])
    [v2_ous] = [g for g in report.groups if (g.rule_version, g.site) == ("2", "ous")]
    assert counts(v2_ous) == (3, 0, 2, 1)  # c11 stays ignored


def test_top_override_reasons_by_count(store: AuditStore) -> None:
    groups = {g.rule_id: g for g in november(store).groups}
    assert [(r.code, r.display, r.count) for r in groups["cfs-due"].override_reasons] == [
        ("already-done", "Allerede utført", 2),
        ("not-relevant", "Ikke relevant", 1),
    ]
    assert [(r.code, r.count) for r in groups["gp-notification"].override_reasons] == [(None, 1)]


def test_top_limits_the_reasons_listed(store: AuditStore) -> None:
    total = november(store, top=1).total
    assert [(r.code, r.count) for r in total.override_reasons] == [("already-done", 2)]


def test_comments_are_left_out_unless_asked_for(store: AuditStore) -> None:
    report = november(store)
    assert report.comments_included is False
    assert all(not g.comments for g in report.groups) and not report.total.comments


def test_comments_of_the_latest_feedback_newest_first(store: AuditStore) -> None:
    report = november(store, include_comments=True)
    groups = {g.rule_id: g for g in report.groups}
    assert [(c.text, c.rule_version, c.site) for c in groups["cfs-due"].comments] == [
        ("Palliativ pasient", "2", "ous"),
        ("Gjort i går", "1", "ahus"),
    ]
    assert groups["gp-notification"].comments == ()  # c7's comment was superseded by its acceptance
    assert groups["cfs-due"].comments[0].at == datetime(2026, 11, 10, 12, tzinfo=UTC)


def test_top_limits_the_comments_listed(store: AuditStore) -> None:
    report = november(store, include_comments=True, top=1)
    assert [c.text for c in report.total.comments] == ["Palliativ pasient"]


def test_period_without_cards_has_zero_counts_and_no_rate(store: AuditStore) -> None:
    report = card_analytics(store.engine, start=datetime(2025, 1, 1, tzinfo=UTC), end=datetime(2025, 2, 1, tzinfo=UTC))
    assert report.groups == ()
    assert counts(report.total) == (0, 0, 0, 0)
    assert report.total.acceptance_rate is None


def test_report_serialises_to_json(store: AuditStore) -> None:
    data = november(store, include_comments=True).model_dump(mode="json")
    assert data["total"]["shown"] == 9
    assert data["group_by"] == ["rule", "topic"]
    assert data["start"].startswith("2026-11-01T00:00:00")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": datetime(2026, 11, 1), "end": DEC}, "timezone-aware"),
        ({"start": DEC, "end": NOV}, "end must be after start"),
        ({"start": NOV, "end": DEC, "by": ["ward"]}, "cannot group by 'ward'"),
        ({"start": NOV, "end": DEC, "by": []}, "group by at least one"),
    ],
)
def test_bad_arguments_are_refused_with_a_reason(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with AuditStore.open(sqlite_file_url(tmp_path), pseudonym_key=KEY) as empty:
        with pytest.raises(ValueError, match=message):
            card_analytics(empty.engine, **kwargs)
