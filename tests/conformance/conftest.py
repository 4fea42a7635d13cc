"""Conformance runs against the real Evaluator (bundled rules and model) and the persona requests."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from cds.service.app import create_app
from cds.service.runtime import build_evaluator
from cds.service.settings import Settings
from cds.store import AuditStore

KEY = "conformance-pseudonym-key-0123456789"


@pytest.fixture(scope="session")
def real_evaluator(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), pseudonym_key=KEY)
    return build_evaluator(settings)


@pytest.fixture
def conformance_settings(tmp_path):
    return Settings(data_dir=tmp_path / "data", pseudonym_key=KEY)


@pytest.fixture
def real_client_factory(real_evaluator, conformance_settings, tmp_path):
    stores = []

    def make(settings=None, clock=None, **kwargs):
        store = AuditStore.open(f"sqlite:///{tmp_path / f'audit{len(stores)}.sqlite3'}", pseudonym_key=KEY.encode())
        stores.append(store)
        return TestClient(
            create_app(settings or conformance_settings, evaluator=real_evaluator, store=store,
                       clock=clock or (lambda: datetime.fromisoformat("2026-11-20T11:00:00+01:00")), **kwargs),
            raise_server_exceptions=False,
        )

    yield make
    for store in stores:
        store.close()
