"""The audit and feedback store (SQLAlchemy 2, Alembic; SQLite by default, PostgreSQL by URL).

>>> from datetime import datetime, UTC
>>> store = AuditStore.open("sqlite://", pseudonym_key=b"0123456789abcdef")
>>> store.record_call(CallRecord(service_id="frailty-discharge", hook="encounter-discharge",
...     hook_instance="d1577c69", patient_id="Patient/123", ruleset_digest="sha256:ab",
...     duration_ms=4.2, outcome="ok", http_status=200, cards=(), at=datetime.now(UTC)))
>>> store.close()

See docs/store.md for the schema, the privacy rules and retention.
"""

from __future__ import annotations

from cds.store.engine import StoreError, create_store_engine, default_database_url, display_url
from cds.store.migrate import current_revision, head_revision, schema_diff, upgrade_to_head
from cds.store.records import CallRecord, CardRecord, FeedbackResult
from cds.store.repository import AuditStore

__all__ = [
    "AuditStore",
    "CallRecord",
    "CardRecord",
    "FeedbackResult",
    "StoreError",
    "create_store_engine",
    "current_revision",
    "default_database_url",
    "display_url",
    "head_revision",
    "schema_diff",
    "upgrade_to_head",
]
