"""The audit store's tables (SQLAlchemy 2 ORM).

Five tables:

``calls``
    One row per hook call: service, hook, hookInstance, the patient's keyed
    pseudonym, rule-set digest, duration, outcome, HTTP status, site, time.
``cards``
    One row per card served, pointing at its call: card uuid, rule id and
    version, indicator, topic, the ids of its suggestions.
``feedback``
    One row per distinct feedback item. It refers to a card by *uuid*, with no
    foreign key: an EHR may send feedback for a card this store never saw
    (another deployment, a card older than the retention period), and that
    feedback is kept, flagged ``known_card = false``. ``dedup_key`` (unique)
    makes repeated deliveries of the same item harmless.
``jti_seen``
    The client JWT replay record shared by every worker and replica.
``ruleset_versions``
    The published rule sets; every worker serves the newest one.

All times are stored as UTC without a zone (`UtcDateTime` converts on the way
in and out). The Alembic migrations in ``migrations/versions`` must describe
exactly these models; a test compares them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Column sizes. Values from the outside world are clipped to these before they are written.
ID_LEN = 200
SHORT_LEN = 64
DIGEST_LEN = 128
CODE_LEN = 200
DISPLAY_LEN = 500
TIMESTAMP_TEXT_LEN = 64
COMMENT_MAX_CHARS = 1000

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as naive UTC; naive input is refused."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("the audit store only takes timezone-aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Call(Base):
    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    service_id: Mapped[str] = mapped_column(String(ID_LEN), nullable=False)
    hook: Mapped[str] = mapped_column(String(ID_LEN), nullable=False)
    hook_instance: Mapped[str] = mapped_column(String(ID_LEN), nullable=False)
    patient_pseudonym: Mapped[str | None] = mapped_column(String(SHORT_LEN), nullable=True)
    ruleset_digest: Mapped[str | None] = mapped_column(String(DIGEST_LEN), nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False)
    outcome: Mapped[str] = mapped_column(String(SHORT_LEN), nullable=False)
    http_status: Mapped[int] = mapped_column(Integer, nullable=False)
    site: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    # Idempotency key chosen by the service for each call: a call written twice (from the spool after
    # a commit whose acknowledgement was lost) is stored once. NULL for rows older than revision 0002.
    call_key: Mapped[str | None] = mapped_column(String(SHORT_LEN), nullable=True)

    cards: Mapped[list[Card]] = relationship(back_populates="call", cascade="all, delete-orphan")

    __table_args__ = (
        Index(None, "at"),
        Index(None, "service_id", "at"),
        Index(None, "site", "at"),
        Index(None, "hook_instance"),
        Index(None, "call_key", unique=True),
    )


class Card(Base):
    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), nullable=False)
    uuid: Mapped[str] = mapped_column(String(ID_LEN), nullable=False)
    rule_id: Mapped[str] = mapped_column(String(ID_LEN), nullable=False)
    rule_version: Mapped[str] = mapped_column(String(SHORT_LEN), nullable=False)
    indicator: Mapped[str] = mapped_column(String(SHORT_LEN), nullable=False)
    topic: Mapped[str] = mapped_column(String(ID_LEN), nullable=False)
    suggestion_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False)

    call: Mapped[Call] = relationship(back_populates="cards")

    __table_args__ = (
        Index(None, "uuid"),
        Index(None, "call_id"),
        Index(None, "rule_id", "rule_version"),
        Index(None, "topic"),
    )


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedup_key: Mapped[str] = mapped_column(String(SHORT_LEN), nullable=False)
    service_id: Mapped[str] = mapped_column(String(ID_LEN), nullable=False)
    card_uuid: Mapped[str] = mapped_column(String(ID_LEN), nullable=False)
    known_card: Mapped[bool] = mapped_column(Boolean, nullable=False)
    outcome: Mapped[str] = mapped_column(String(SHORT_LEN), nullable=False)
    outcome_timestamp: Mapped[str] = mapped_column(String(TIMESTAMP_TEXT_LEN), nullable=False)
    outcome_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    override_system: Mapped[str | None] = mapped_column(String(CODE_LEN), nullable=True)
    override_code: Mapped[str | None] = mapped_column(String(CODE_LEN), nullable=True)
    override_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN), nullable=True)
    user_comment: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index(None, "dedup_key", unique=True),
        Index(None, "card_uuid"),
        Index(None, "received_at"),
    )


class JtiSeen(Base):
    """A client JWT accepted once: the digest of its (iss, jti) until it expires (replay refusal)."""

    __tablename__ = "jti_seen"

    key: Mapped[str] = mapped_column(String(SHORT_LEN), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, nullable=False)  # Unix seconds: exp + leeway

    __table_args__ = (Index(None, "expires_at"),)


class RuleSetVersion(Base):
    """A published rule set: its files (a tar archive) and digest; the highest id is the one served."""

    __tablename__ = "ruleset_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(DIGEST_LEN), nullable=False)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    effective_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    archive: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
