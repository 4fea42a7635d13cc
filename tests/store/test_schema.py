"""The schema: created and migrated by AuditStore.open, identical to the ORM models."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from cds.store import AuditStore, StoreError, current_revision, head_revision, schema_diff

PSEUDONYM_KEY = b"schema-tests-pseudonym-key-01"


def test_open_migrates_an_empty_database_to_head(store: AuditStore) -> None:
    assert current_revision(store.engine) == head_revision()
    assert {"calls", "cards", "feedback"} <= set(inspect(store.engine).get_table_names())


def test_models_and_migration_head_agree(store: AuditStore) -> None:
    assert schema_diff(store.engine) == []


def test_opening_an_up_to_date_database_again_changes_nothing(database_url: str) -> None:
    AuditStore.open(database_url, pseudonym_key=PSEUDONYM_KEY).close()
    with AuditStore.open(database_url, pseudonym_key=PSEUDONYM_KEY) as store:
        assert current_revision(store.engine) == head_revision()
        assert schema_diff(store.engine) == []


def test_sqlite_store_creates_its_data_directory(tmp_path: Path) -> None:
    path = tmp_path / "data" / "nested" / "cds.sqlite3"
    with AuditStore.open(f"sqlite:///{path}", pseudonym_key=PSEUDONYM_KEY):
        assert path.exists()


def test_sqlite_store_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    with AuditStore.open(f"sqlite:///{tmp_path / 'a.sqlite3'}", pseudonym_key=PSEUDONYM_KEY) as store:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_unsupported_database_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        AuditStore.open("mysql://u@h/db", pseudonym_key=PSEUDONYM_KEY)


def test_unreachable_postgres_is_a_store_error_without_the_password() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    with pytest.raises(StoreError) as caught:
        AuditStore.open("postgresql+psycopg://cds:s3cret@127.0.0.1:1/cds", pseudonym_key=PSEUDONYM_KEY)
    assert "s3cret" not in str(caught.value)
    assert "cannot open the audit store" in str(caught.value)


def test_short_pseudonym_key_is_refused_before_touching_the_database(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 16"):
        AuditStore.open(f"sqlite:///{tmp_path / 'x.sqlite3'}", pseudonym_key=b"too-short")
    assert not (tmp_path / "x.sqlite3").exists()


def test_migrations_are_packages_so_they_ship_in_the_wheel() -> None:
    from setuptools import find_packages

    src = Path(__file__).resolve().parents[2] / "src"
    packages = set(find_packages(str(src)))
    assert {"cds.store.migrations", "cds.store.migrations.versions"} <= packages
    assert (src / "cds" / "store" / "migrations" / "script.py.mako").is_file()
