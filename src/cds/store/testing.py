"""Helpers for tests that need a real audit database (SQLite file or PostgreSQL).

PostgreSQL is used when ``CDS_TEST_POSTGRES_URL`` names a server, for example
``postgresql+psycopg://postgres@127.0.0.1:5432/test``. `postgres_schema_url`
creates a fresh schema, hands out a URL whose ``search_path`` points at it, and
drops it afterwards, so parallel and later runs never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_URL_ENV = "CDS_TEST_POSTGRES_URL"


def postgres_url_from_env() -> str | None:
    """The PostgreSQL test server URL, or None when the environment names none."""
    return os.environ.get(POSTGRES_URL_ENV, "").strip() or None


def sqlite_file_url(directory: Path) -> str:
    """A URL for a new SQLite file in ``directory``."""
    return f"sqlite:///{directory / 'audit.sqlite3'}"


@contextmanager
def postgres_schema_url(base_url: str) -> Iterator[str]:
    """Yield a URL bound to a new, empty schema on ``base_url``'s server; drop the schema afterwards."""
    schema = f"cds_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        try:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            admin.dispose()
