"""`AuditStore`: writes calls, cards and feedback; nothing else touches the tables.

Privacy rules this class enforces (see docs/store.md):

* the patient is stored only as a keyed pseudonym (`cds.pseudonym`);
* nothing of the request is stored beyond the fields of `CallRecord`: no
  access tokens, no FHIR resources, no context;
* a clinician's free-text override comment is stored clipped to
  `COMMENT_MAX_CHARS` and can be wiped after a retention period with
  `AuditStore.redact_comments`.

Each method runs in its own short transaction, so one store can be shared by
the threads of a worker and several workers can share one database. The
service records calls through `cds.store.writer.AuditWriter` (write-behind,
batched); `record_call` / `record_calls` are the synchronous primitives it and
the quality tools use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, exists, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from cds.hooks.models import FeedbackItem
from cds.pseudonym import Pseudonymizer
from cds.store.engine import SQLITE_BEGIN_OPTION, StoreError, create_store_engine, display_url
from cds.store.migrate import upgrade_to_head
from cds.store.models import (
    CODE_LEN,
    COMMENT_MAX_CHARS,
    DIGEST_LEN,
    DISPLAY_LEN,
    ID_LEN,
    SHORT_LEN,
    TIMESTAMP_TEXT_LEN,
    Call,
    Card,
    Feedback,
    JtiSeen,
    RuleSetVersion,
)
from cds.store.records import CallRecord, CardRecord, FeedbackResult, PublishedVersion, ServedCard


class AuditStore:
    """The audit and feedback store over one database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, pseudonymizer: Pseudonymizer) -> None:
        """Wrap an engine whose schema is already at head; most callers want `AuditStore.open`."""
        self._engine = engine
        self._pseudonymizer = pseudonymizer

    @classmethod
    def open(cls, url: str, *, pseudonym_key: bytes) -> AuditStore:
        """Connect to ``url``, create or migrate the schema to the newest revision, and return the store.

        Raises `StoreError` (one line, password hidden) when the database cannot be reached or migrated,
        and `ValueError` when the pseudonym key is too short.
        """
        pseudonymizer = Pseudonymizer(pseudonym_key)
        engine = create_store_engine(url)
        try:
            upgrade_to_head(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot open the audit store at {display_url(url)}: {_first_line(exc)}") from exc
        return cls(engine, pseudonymizer)

    @property
    def engine(self) -> Engine:
        """The engine, for read-only queries such as `cds.quality.analytics`."""
        return self._engine

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writes

    def record_call(self, record: CallRecord) -> None:
        """Store one call and the cards it served; the patient id is pseudonymised first."""
        self.record_calls((record,))

    def record_calls(self, records: Sequence[CallRecord]) -> None:
        """Store calls and their cards in one transaction (all or none), as `record_call` would one by one.

        One multi-row insert for the calls and one for all their cards
        (`write_call_rows`; a call whose ``key`` is stored already is skipped). The service
        writes through `cds.store.writer.AuditWriter`, which batches calls here.
        """
        for record in records:
            if record.at.tzinfo is None or record.at.utcoffset() is None:
                raise ValueError("CallRecord.at must be timezone-aware")
        if not records:
            return
        self.write_call_rows([self.call_row(record) for record in records])

    def call_row(self, record: CallRecord) -> dict[str, Any]:
        """The call as it is stored, cards included, in JSON types (the patient already pseudonymised).

        This is what `cds.store.spool.AuditSpool` keeps while the database is
        unreachable; `write_call_rows` writes it.
        """
        if record.at.tzinfo is None or record.at.utcoffset() is None:
            raise ValueError("CallRecord.at must be timezone-aware")
        row = self._call_row(record)
        row["at"] = record.at.astimezone(UTC).isoformat()
        row["cards"] = [_card_row(0, card) for card in record.cards]
        return row

    def write_call_rows(self, rows: Sequence[dict[str, Any]]) -> int:
        """Write `call_row` s in one transaction; a row whose ``call_key`` is stored already is skipped.

        One multi-row insert for the calls (``ON CONFLICT (call_key) DO
        NOTHING ... RETURNING``), one for the cards of the calls inserted.
        Returns the number of calls inserted.
        """
        if not rows:
            return 0
        calls, cards = Call.__table__, Card.__table__
        call_rows = [{**{k: v for k, v in row.items() if k != "cards"}, "at": datetime.fromisoformat(row["at"])}
                     for row in rows]
        with self._write() as conn:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            inserted = conn.execute(
                insert(calls).on_conflict_do_nothing(index_elements=["call_key"]).returning(calls.c.id, calls.c.call_key),
                call_rows,
            ).all()
            ids = {key: call_id for call_id, key in inserted}
            card_rows = [{**card, "call_id": ids[row["call_key"]]} for row in rows if row["call_key"] in ids
                         for card in row["cards"]]
            if card_rows:
                conn.execute(cards.insert(), card_rows)
        return len(ids)

    def _call_row(self, record: CallRecord) -> dict[str, Any]:
        return {
            "at": record.at,
            "service_id": _clip(record.service_id, ID_LEN),
            "hook": _clip(record.hook, ID_LEN),
            "hook_instance": _clip(record.hook_instance, ID_LEN),
            "patient_pseudonym": self._pseudonymizer.pseudonym(record.patient_id) if record.patient_id else None,
            "ruleset_digest": _clip_optional(record.ruleset_digest, DIGEST_LEN),
            "duration_ms": float(record.duration_ms),
            "outcome": _clip(record.outcome, SHORT_LEN),
            "http_status": int(record.http_status),
            "site": _clip_optional(record.site, ID_LEN),
            "call_key": _clip(record.key, SHORT_LEN),
        }

    def record_feedback(
        self, service_id: str, items: list[FeedbackItem], *, received_at: datetime
    ) -> FeedbackResult:
        """Store feedback items once each; repeats of an item already stored are counted, not stored.

        An item is a repeat when its card uuid, outcome, outcomeTimestamp and
        accepted suggestion ids (in any order) equal those of a stored item.
        Items about cards this service never served are stored too, flagged.
        """
        if received_at.tzinfo is None or received_at.utcoffset() is None:
            raise ValueError("received_at must be timezone-aware")
        service = _clip(service_id, ID_LEN)
        stored = duplicates = unknown = 0
        with self._write() as conn:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            table = Feedback.__table__
            for item in items:
                row = _feedback_row(service, item, received_at)
                row["known_card"] = self._card_served(conn, service, row["card_uuid"])
                inserted = conn.execute(
                    insert(table)
                    .values(row)
                    .on_conflict_do_nothing(index_elements=["dedup_key"])
                    .returning(table.c.id)
                ).first()
                if inserted is not None:
                    stored += 1
                    unknown += 0 if row["known_card"] else 1
                else:
                    duplicates += 1
        return FeedbackResult(stored=stored, duplicates=duplicates, unknown_cards=unknown)

    def redact_comments(self, *, received_before: datetime) -> int:
        """Wipe the free text of feedback received before the cutoff; return how many items had any.

        Free text is the clinician's ``userComment`` and the override reason's
        ``display`` as the client sent it. The coded override reason (system and
        code, checked against the card's own list when received) stays. Run it on
        the retention schedule your data-protection officer sets.
        """
        table = Feedback.__table__
        with self._write() as conn:
            result = conn.execute(
                update(table)
                .where(table.c.received_at < received_before,
                       table.c.user_comment.is_not(None) | table.c.override_display.is_not(None))
                .values(user_comment=None, override_display=None)
            )
            return int(result.rowcount)

    def served_cards(self, service_id: str, uuids: Iterable[str]) -> dict[str, ServedCard]:
        """The cards among ``uuids`` that ``service_id`` served, by uuid (for checking feedback)."""
        wanted = sorted({u for u in uuids if len(u) <= ID_LEN})
        if not wanted:
            return {}
        cards, calls = Card.__table__, Call.__table__
        query = (
            select(cards.c.uuid, cards.c.rule_id, cards.c.suggestion_ids)
            .join(calls, calls.c.id == cards.c.call_id)
            .where(cards.c.uuid.in_(wanted), calls.c.service_id == _clip(service_id, ID_LEN))
        )
        with self._engine.connect() as conn:
            return {row.uuid: ServedCard(uuid=row.uuid, rule_id=row.rule_id,
                                         suggestion_ids=tuple(row.suggestion_ids or ()))
                    for row in conn.execute(query)}

    def delete_before(self, cutoff: datetime) -> tuple[int, int]:
        """Delete calls made (with their cards) and feedback received before ``cutoff``.

        Returns (calls deleted, feedback items deleted). Pseudonymised rows are
        still personal data; run this on the retention schedule of the deployment.
        """
        if cutoff.tzinfo is None or cutoff.utcoffset() is None:
            raise ValueError("cutoff must be timezone-aware")
        calls, cards, feedback = Call.__table__, Card.__table__, Feedback.__table__
        with self._write() as conn:
            old_calls = select(calls.c.id).where(calls.c.at < cutoff)
            conn.execute(delete(cards).where(cards.c.call_id.in_(old_calls)))
            deleted_calls = conn.execute(delete(calls).where(calls.c.at < cutoff)).rowcount
            deleted_feedback = conn.execute(delete(feedback).where(feedback.c.received_at < cutoff)).rowcount
        return int(deleted_calls), int(deleted_feedback)

    # ------------------------------------------------------------------ shared state

    def claim_jti(self, key: str, *, expires_at: int, now: float) -> bool:
        """Hold ``key`` (a digest of a client JWT's iss and jti) until ``expires_at``; False if it is held already.

        One statement: an insert on the unique key that takes over an expired
        row (``ON CONFLICT ... DO UPDATE ... WHERE expires_at < now``) and
        returns a row only when it inserted or took over. Every worker and
        host sharing the database sees the same answer.

        On PostgreSQL the commit does not wait for the WAL flush
        (``synchronous_commit = off`` for this transaction only): it cut the
        check from ~10 ms to ~2 ms of wall time on the test machine. Other
        sessions see the row at once; a crash of the *database server* can
        forget the records of the last moments (at most three
        ``wal_writer_delay``, 0.6 s by default), whose tokens could then be
        replayed until they expire.
        """
        table = JtiSeen.__table__
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL synchronous_commit = off"))
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            row = insert(table).values(key=key, expires_at=expires_at)
            claim = row.on_conflict_do_update(
                index_elements=["key"], set_={"expires_at": row.excluded.expires_at},
                where=table.c.expires_at < now,
            ).returning(table.c.key)
            return conn.execute(claim).first() is not None

    def prune_jti(self, *, now: float) -> int:
        """Delete the replay records that expired before ``now``; return how many."""
        table = JtiSeen.__table__
        with self._write() as conn:
            return int(conn.execute(delete(table).where(table.c.expires_at < now)).rowcount)

    def publish_ruleset(self, digest: str, archive: bytes, *, switch_seconds: float, now: datetime) -> PublishedVersion:
        """Store a rule set's archive as the newest version, to be served everywhere from its ``effective_at``.

        ``effective_at`` is ``now + switch_seconds``, and never before the
        previous version's (so versions take effect in the order published).
        """
        table = RuleSetVersion.__table__
        with self._write() as conn:
            previous = conn.execute(select(table.c.effective_at).order_by(table.c.id.desc()).limit(1)).scalar()
            effective_at = now + timedelta(seconds=switch_seconds)
            if previous is not None and previous > effective_at:
                effective_at = previous
            version = conn.execute(
                table.insert().values(digest=digest, published_at=now, effective_at=effective_at, archive=archive)
                .returning(table.c.id)
            ).scalar_one()
        return PublishedVersion(version, digest, effective_at)

    def ruleset_versions(self, *, after: int = 0) -> list[PublishedVersion]:
        """The published rule-set versions newer than ``after``, oldest first (without their archives)."""
        table = RuleSetVersion.__table__
        with self._engine.connect() as conn:
            rows = conn.execute(select(table.c.id, table.c.digest, table.c.effective_at)
                                .where(table.c.id > after).order_by(table.c.id)).all()
        return [PublishedVersion(*row) for row in rows]

    def ruleset_archive(self, version: int) -> bytes:
        """The files of a published version (KeyError if there is none)."""
        table = RuleSetVersion.__table__
        with self._engine.connect() as conn:
            archive = conn.execute(select(table.c.archive).where(table.c.id == version)).scalar()
        if archive is None:
            raise KeyError(version)
        return bytes(archive)

    # ------------------------------------------------------------------ helpers

    def _write(self) -> _WriteTransaction:
        return _WriteTransaction(self._engine)

    @staticmethod
    def _card_served(conn: Connection, service_id: str, card_uuid: str) -> bool:
        cards, calls = Card.__table__, Call.__table__
        # The call is looked up per matching card by primary key, whatever the planner's statistics say.
        service_of_call = select(calls.c.service_id).where(calls.c.id == cards.c.call_id).scalar_subquery()
        query = select(exists().where(cards.c.uuid == card_uuid, service_of_call == service_id))
        return bool(conn.execute(query).scalar())


class _WriteTransaction:
    """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __enter__(self) -> Connection:
        self._conn = self._engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        self._tx = self._conn.begin()
        return self._conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is None:
                self._tx.commit()
            else:
                self._tx.rollback()
        finally:
            self._conn.close()


def _card_row(call_id: int, card: CardRecord) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "uuid": _clip(card.uuid, ID_LEN),
        "rule_id": _clip(card.rule_id, ID_LEN),
        "rule_version": _clip(card.rule_version, SHORT_LEN),
        "indicator": _clip(card.indicator, SHORT_LEN),
        "topic": _clip(card.topic, ID_LEN),
        "suggestion_ids": [_clip(s, ID_LEN) for s in card.suggestion_ids],
    }


def _feedback_row(service_id: str, item: FeedbackItem, received_at: datetime) -> dict[str, Any]:
    suggestions = sorted({s.id for s in item.acceptedSuggestions or ()})
    reason = item.overrideReason.reason if item.overrideReason else None
    comment = item.overrideReason.userComment if item.overrideReason else None
    comment = comment.strip() if comment else None
    outcome_at = _parse_instant(item.outcomeTimestamp)
    # The same instant written two ways ("...Z", "...+00:00") is the same item.
    timestamp_key = outcome_at.isoformat() if outcome_at else item.outcomeTimestamp.strip()
    return {
        "dedup_key": _dedup_key(item.card, item.outcome.value, timestamp_key, suggestions),
        "service_id": service_id,
        "card_uuid": _clip(item.card, ID_LEN),
        "outcome": item.outcome.value,
        "outcome_timestamp": _clip(item.outcomeTimestamp, TIMESTAMP_TEXT_LEN),
        "outcome_at": outcome_at,
        "received_at": received_at,
        "accepted_suggestions": [_clip(s, ID_LEN) for s in suggestions],
        "override_system": _clip_optional(reason.system if reason else None, CODE_LEN),
        "override_code": _clip_optional(reason.code if reason else None, CODE_LEN),
        "override_display": _clip_optional(reason.display if reason else None, DISPLAY_LEN),
        "user_comment": _clip(comment, COMMENT_MAX_CHARS) if comment else None,
    }


def _dedup_key(card: str, outcome: str, timestamp: str, suggestions: Iterable[str]) -> str:
    canonical = json.dumps([card, outcome, timestamp, list(suggestions)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _parse_instant(value: str) -> datetime | None:
    """An ISO 8601 instant as aware UTC; a time without zone is read as UTC; garbage gives None."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _clip(value: str, length: int) -> str:
    return value if len(value) <= length else value[:length]


def _clip_optional(value: str | None, length: int) -> str | None:
    return None if value is None else _clip(value, length)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
