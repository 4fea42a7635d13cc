"""What the service hands to the audit store: plain, immutable records.

These are the seam between `cds.service` and `cds.store`; they carry no ORM
state. ``patient_id`` is the raw identifier as the service knows it; the store
turns it into a keyed pseudonym before anything is written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CardRecord:
    """One card served: its uuid (feedback refers to it) and where it came from."""

    uuid: str
    rule_id: str
    rule_version: str
    indicator: str
    topic: str
    suggestion_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallRecord:
    """One hook call: who asked, what was answered, how long it took.

    ``at`` must be timezone-aware. ``outcome`` is a short machine word chosen by
    the service (for example ``ok``, ``error``, ``prefetch-missing``).
    """

    service_id: str
    hook: str
    hook_instance: str
    patient_id: str | None
    ruleset_digest: str | None
    duration_ms: float
    outcome: str
    http_status: int
    cards: tuple[CardRecord, ...]
    at: datetime
    site: str | None = None
    #: Idempotency key: the same call written twice (from the spool after an outage) is stored once.
    key: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class FeedbackResult:
    """What became of one feedback request.

    ``stored + duplicates`` is the number of items sent. ``unknown_cards``
    counts the newly stored items whose card the store has not seen served by
    that service (they are stored all the same, flagged ``known_card = false``).
    When the database was unreachable the items are ``spooled`` instead (kept
    durably on the service's disk and written later) and the other counts are 0.
    """

    stored: int
    duplicates: int
    unknown_cards: int
    #: Items kept in the local spool because the database was unreachable (written when it is back).
    spooled: int = 0


@dataclass(frozen=True)
class ServedCard:
    """A card as the audit store knows it, for checking feedback about it (`AuditStore.served_cards`)."""

    uuid: str
    rule_id: str
    suggestion_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishedVersion:
    """A published rule set: its version number, digest, and the moment every worker serves it."""

    version: int
    digest: str
    effective_at: datetime
