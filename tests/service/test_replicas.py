"""Two ``cds serve`` replicas (two ports, two data directories, two copies of the rules) over one PostgreSQL.

What a deployment behind nginx/HAProxy relies on: a client JWT used on one
replica is refused by the other; a rule reload on one is served by both from
the same moment (its ``effectiveAt``, within the poll deadline); a broken
reload changes neither. Runs when CDS_TEST_POSTGRES_URL names a server (CI).
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import create_engine, text

from cds.service.settings import BUNDLED_RULES_DIR
from cds.store.testing import POSTGRES_URL_ENV, postgres_schema_url, postgres_url_from_env

from .served import Served

pytestmark = pytest.mark.postgres

ISSUER = "https://arena.sykehuset-innlandet.example"
ADMIN = "admin-secret-for-the-quality-team"
BASE = "http://cds.test"
SWITCH_SECONDS = 8  # poll (0.5 s) plus loading the bundled rules (~2 s on a busy machine), with room
REQUEST = Path(__file__).resolve().parents[2] / "fhir_examples" / "requests" / "a-ingrid-haugen.encounter-discharge.json"
KEY = ec.generate_private_key(ec.SECP384R1())


def token(audience: str) -> str:
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "aud": audience, "iat": now, "exp": now + 240, "jti": str(uuid.uuid4())},
                      KEY, algorithm="ES384", headers={"kid": "arena-1"})


@pytest.fixture
def database_url():
    base = postgres_url_from_env()
    if base is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: no PostgreSQL server")
    with postgres_schema_url(base) as url:
        yield url


class Replica(Served):
    def __init__(self, tmp_path: Path, name: str, database_url: str) -> None:
        directory = tmp_path / name
        self.rules_dir = directory / "rules"
        shutil.copytree(BUNDLED_RULES_DIR, self.rules_dir)
        jwks = directory / "arena-jwks.json"
        jwks.write_text(json.dumps({"keys": [ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True) | {"kid": "arena-1"}]}))
        config = directory / "cds.toml"
        config.write_text(
            f'public_base_url = "{BASE}"\nrules_dir = "{self.rules_dir}"\nrules_switch_seconds = {SWITCH_SECONDS}\n'
            f'rules_poll_seconds = 0.5\n[auth]\nprotect_discovery = true\nadmin_token = "{ADMIN}"\n'
            f'[auth.issuers."{ISSUER}"]\njwks_file = "{jwks}"\n')
        super().__init__(directory, {"CDS_DATABASE_URL": database_url,
                                     "CDS_PSEUDONYM_KEY": "test-pseudonym-key-0123456789"}, "--config", str(config))

    def discover(self, bearer: str) -> int:
        return self.request("GET", "/cds-services", headers={"Host": "cds.test", "Authorization": f"Bearer {bearer}"})[0]

    def call(self, instance: str) -> int:
        body = json.loads(REQUEST.read_text(encoding="utf-8")) | {"hookInstance": instance}
        bearer = token(f"{BASE}/cds-services/discharge-pathway")
        return self.request("POST", "/cds-services/discharge-pathway", body,
                            headers={"Host": "cds.test", "Authorization": f"Bearer {bearer}"})[0]

    def reload(self) -> tuple[int, dict]:
        status, _, body = self.request("POST", "/admin/rules/reload", headers={"Authorization": f"Bearer {ADMIN}"},
                                       timeout=60)
        return status, json.loads(body)

    def edit(self, text: str) -> None:
        path = self.rules_dir / "discharge" / "pathway-b.yaml"
        path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def digests_of(engine, instances: list[str]) -> list[str]:
    """The rule-set digest each call was answered with, from its audit row (written within ~50 ms)."""
    deadline = time.monotonic() + 10
    while True:
        with engine.connect() as conn:
            rows = dict(conn.execute(text("select hook_instance, ruleset_digest from calls where hook_instance = "
                                          "any(:i)"), {"i": instances}).all())
        if len(rows) == len(instances) or time.monotonic() > deadline:
            return [rows.get(i, "no audit row") for i in instances]
        time.sleep(0.1)


def test_two_replicas_share_the_replay_record_and_the_published_rule_set(tmp_path, database_url):
    engine = create_engine(database_url)
    a, b = Replica(tmp_path, "host-a", database_url), Replica(tmp_path, "host-b", database_url)  # start together
    with a, b:
        # a client JWT used on one replica is refused by the other, and by the first
        bearer = token(f"{BASE}/cds-services")
        assert [a.discover(bearer), b.discover(bearer), a.discover(bearer)] == [200, 401, 401]

        first = [str(uuid.uuid4()) for _ in range(2)]
        assert [a.call(first[0]), b.call(first[1])] == [200, 200]
        [before, also_before] = digests_of(engine, first)
        assert before == also_before and len(before) == 64

        # a broken reload answers the errors and changes neither
        b.edit("\n  broken: [unclosed\n")
        status, refused = b.reload()
        assert status == 422 and "pathway-b.yaml" in json.dumps(refused)
        # (b's files stay broken: a replica serves what is published, whatever its own files hold)
        time.sleep(1.5)  # three polls
        after_broken = [str(uuid.uuid4()) for _ in range(2)]
        assert [a.call(after_broken[0]), b.call(after_broken[1])] == [200, 200]
        assert digests_of(engine, after_broken) == [before, before]

        # a good reload on a is served by both from its effective time
        a.edit("\n# reviewed by the quality team\n")
        status, published = a.reload()
        assert status == 200 and published["changed"] is True
        effective = datetime.fromisoformat(published["effectiveAt"])
        assert (effective - datetime.now(UTC)).total_seconds() > 2, "the test needs time to ask before the switch"
        early = [str(uuid.uuid4()) for _ in range(2)]
        assert [a.call(early[0]), b.call(early[1])] == [200, 200]
        while datetime.now(UTC) < effective:
            time.sleep(0.1)
        time.sleep(0.5)  # the switch deadline: effectiveAt plus a worker thread's wake-up
        late = [str(uuid.uuid4()) for _ in range(4)]
        assert [a.call(late[0]), b.call(late[1]), a.call(late[2]), b.call(late[3])] == [200] * 4
        assert digests_of(engine, early) == [before, before]
        assert digests_of(engine, late) == [published["digest"]] * 4
    engine.dispose()
    for replica in (a, b):
        assert "Traceback" not in replica.text()
