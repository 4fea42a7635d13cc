"""The service on PostgreSQL through one URL setting (CDS_DATABASE_URL).

Runs when CDS_TEST_POSTGRES_URL names a server (CI: the local PostgreSQL);
set but unreachable fails, unset skips with the reason shown by -ra.
"""

import pytest
from sqlalchemy import text

from cds.service.settings import Settings
from cds.store.testing import POSTGRES_URL_ENV, postgres_schema_url, postgres_url_from_env

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres_url():
    base = postgres_url_from_env()
    if base is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: no PostgreSQL server")
    with postgres_schema_url(base) as url:
        yield url


def test_calls_and_feedback_are_recorded_in_postgresql_named_by_one_url(evaluator, tmp_path, postgres_url,
                                                                         request_body):
    from cds.service.app import create_app
    from fastapi.testclient import TestClient

    settings = Settings(data_dir=tmp_path, database_url=postgres_url, pseudonym_key="test-pseudonym-key-0123456789")
    with TestClient(create_app(settings, evaluator=evaluator)) as client:
        card = client.post("/cds-services/discharge-pathway", json=request_body()).json()["cards"][0]
        feedback = {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                                  "outcomeTimestamp": "2026-11-02T10:40:00Z"}]}
        assert client.post("/cds-services/discharge-pathway/feedback", json=feedback).json()["unknown_cards"] == 0
        store = client.app.state.runtime.store
        assert store.engine.dialect.name == "postgresql"
        with store.engine.connect() as conn:
            assert conn.execute(text("select count(*) from calls")).scalar_one() == 1
