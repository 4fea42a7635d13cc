"""Fixtures for the audit-store tests: every store test runs on SQLite and on PostgreSQL.

The PostgreSQL variant runs when CDS_TEST_POSTGRES_URL is set (CI sets it to
postgresql+psycopg://postgres@127.0.0.1:5432/test). Set but unreachable is a
failure, never a skip; unset skips the variant with the reason shown by -ra.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cds.store import AuditStore
from cds.store.testing import POSTGRES_URL_ENV, postgres_schema_url, postgres_url_from_env, sqlite_file_url

PSEUDONYM_KEY = b"test-key-for-the-audit-store-0001"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield sqlite_file_url(tmp_path)
        return
    base = postgres_url_from_env()
    if base is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: no PostgreSQL server to run the PostgreSQL variant against")
    try:
        context = postgres_schema_url(base)
        url = context.__enter__()
    except Exception as exc:  # noqa: BLE001 - any connection problem must fail loudly
        pytest.fail(f"{POSTGRES_URL_ENV} is set but the PostgreSQL server is unusable: {exc}", pytrace=False)
    try:
        yield url
    finally:
        context.__exit__(None, None, None)


@pytest.fixture
def store(database_url: str) -> Iterator[AuditStore]:
    audit = AuditStore.open(database_url, pseudonym_key=PSEUDONYM_KEY)
    try:
        yield audit
    finally:
        audit.close()


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
