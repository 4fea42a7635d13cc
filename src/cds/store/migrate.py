"""Schema migrations for the audit store, run from code (no ``alembic.ini``).

`upgrade_to_head` brings a database to the newest Alembic revision shipped in
``cds/store/migrations``. It is safe when several service workers start at the
same moment: on SQLite the migration holds the write lock from its first
statement (``BEGIN IMMEDIATE``), on PostgreSQL a transaction-scoped advisory
lock, so the second worker waits and then finds nothing to do. SQLite can
still answer "database is locked" at once, without waiting, to a connection
that arrives while another one is switching the file to WAL mode or recovering
it; the upgrade is then retried a few times with a short back-off.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from cds.store.engine import SQLITE_BEGIN_OPTION
from cds.store.models import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant naming the advisory lock that serialises migrations on PostgreSQL.
_PG_MIGRATION_LOCK = 0x0CD5_A0D1
#: Seconds to wait before each retry of an upgrade that SQLite refused with "database is locked".
SQLITE_LOCKED_BACKOFF_SECONDS = (0.05, 0.1, 0.2, 0.4, 0.8)


def alembic_config(*, connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations, bound to a connection or a URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of the package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise RuntimeError("no Alembic revision found in cds/store/migrations")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has no audit schema."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Create or migrate the audit schema to `head_revision`."""
    for backoff in (*SQLITE_LOCKED_BACKOFF_SECONDS, None):
        try:
            _upgrade(engine)
            return
        except OperationalError as exc:
            if backoff is None or engine.dialect.name != "sqlite" or "database is locked" not in str(exc.orig):
                raise
            time.sleep(backoff)


def _upgrade(engine: Engine) -> None:
    with engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"}) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(connection=conn), "head")


def schema_diff(engine: Engine) -> list[Any]:
    """Differences between the ORM models and the database (empty when they agree)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))
