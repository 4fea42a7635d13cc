"""Database URLs and engines for the audit store.

SQLite is the default (a file under the data directory); PostgreSQL is one URL
away. SQLite engines are set up for several service worker processes writing at
once: WAL journal, a busy timeout, foreign keys on, and transactions that can
ask for the write lock up front (``BEGIN IMMEDIATE``) so a read-then-write
transaction never fails half-way with "database is locked".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

DATABASE_URL_ENV = "CDS_DATABASE_URL"
DATA_DIR_ENV = "CDS_DATA_DIR"
DEFAULT_DATA_DIR = "./data"
DEFAULT_SQLITE_FILE = "cds.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Seconds to wait for a PostgreSQL connection (unless the URL sets ``connect_timeout``).
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5

# Execution option naming how a SQLite transaction begins: "DEFERRED" (reads) or "IMMEDIATE" (writes).
SQLITE_BEGIN_OPTION = "cds_sqlite_begin"


class StoreError(Exception):
    """The audit store cannot be used (bad URL, unreachable database, unknown schema)."""


def default_database_url(environ: dict[str, str] | None = None) -> str:
    """The database URL the service and the CLI use unless told otherwise.

    ``CDS_DATABASE_URL`` when set; otherwise a SQLite file ``cds.sqlite3`` in
    ``CDS_DATA_DIR`` (default ``./data``), as an absolute path.
    """
    env = os.environ if environ is None else environ
    url = env.get(DATABASE_URL_ENV, "").strip()
    if url:
        return url
    return sqlite_url(Path(env.get(DATA_DIR_ENV, "").strip() or DEFAULT_DATA_DIR))


def sqlite_url(data_dir: Path) -> str:
    """The URL of the embedded SQLite store in ``data_dir`` (an absolute path)."""
    return f"sqlite:///{(Path(data_dir) / DEFAULT_SQLITE_FILE).resolve()}"


def display_url(url: str | URL) -> str:
    """``url`` with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparseable URL is shown as a placeholder
        return "<unparseable database URL>"


def parse_url(url: str) -> URL:
    """Parse ``url`` or raise `StoreError` with a one-line reason."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises several types here
        raise StoreError(f"not a database URL: {display_url(url)!s} ({exc.__class__.__name__})") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")
    return parsed


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory database."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def create_store_engine(url: str, *, create_directory: bool = True) -> Engine:
    """An engine for ``url`` configured for the audit store (see the module docstring)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, create_directory=create_directory)
    # A database that does not answer (a network cut, not a refusal) must not hold a request or the
    # audit writer for the kernel's TCP timeout: the writer spools after this many seconds instead.
    connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (0600); SQLite gives its WAL and shared-memory
    files the same mode. An existing file is left as it is."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except OSError:
        pass  # it exists, or the directory cannot hold it: SQLite opens it or reports why


def _sqlite_engine(url: URL, *, create_directory: bool) -> Engine:
    path = sqlite_path(url)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    if path is None:
        kwargs["poolclass"] = StaticPool  # one shared in-memory database for every thread
    else:
        if create_directory:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _create_private(path)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if path is not None:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE"):
            raise ValueError(f"unknown SQLite begin mode {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine
