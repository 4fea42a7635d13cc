"""Rule-set publishing: a reload on one replica is served by every replica from the same moment; a broken one by none.

Story: the quality team at Innlandet publishes edited discharge rules while two
replicas (two hosts, one database) serve the wards. Each replica here is an app
with its own copy of the rule files, its own data directory and its own
connection to one shared SQLite store; their lifespans run (``with client``),
so each watches the store as a real worker does.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime

import pytest

from cds.rules import RuleSetHolder
from cds.rules.archive import ArchiveError, pack, unpack
from cds.rules.ruleset import RuleSet
from cds.service.settings import BUNDLED_RULES_DIR, Settings
from cds.store import AuditStore

from .conftest import PSEUDONYM_KEY

ADMIN = "admin-secret-for-the-quality-team"
SWITCH_SECONDS = 6.0  # above the poll interval plus the ~2 s a replica needs to load the bundled rules


class Replica:
    def __init__(self, name, tmp_path, store_url, make_client, **settings):
        self.rules_dir = tmp_path / name / "rules"
        shutil.copytree(BUNDLED_RULES_DIR, self.rules_dir)
        self.holder = RuleSetHolder(self.rules_dir)
        self.store = AuditStore.open(store_url, pseudonym_key=PSEUDONYM_KEY)
        self.settings = Settings(data_dir=tmp_path / name / "data", pseudonym_key=PSEUDONYM_KEY.decode(),
                                 auth={"admin_token": ADMIN}, rules_switch_seconds=SWITCH_SECONDS,
                                 rules_poll_seconds=0.2, **settings)
        self.client = make_client(settings=self.settings, rules=self.holder, store=self.store)

    def edit(self, text="\n# reviewed by the quality team\n"):
        path = self.rules_dir / "discharge" / "pathway-b.yaml"
        path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")

    def reload(self):
        return self.client.post("/admin/rules/reload", headers={"Authorization": f"Bearer {ADMIN}"})

    def digest(self):
        return self.holder.current().digest


@pytest.fixture
def replicas(tmp_path, make_client):
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    made = [Replica(name, tmp_path, url, make_client) for name in ("host-a", "host-b")]
    for replica in made:
        replica.client.__enter__()
    yield made
    for replica in made:
        replica.client.__exit__(None, None, None)
        replica.store.close()


def test_a_reload_on_one_replica_is_served_by_both_from_its_effective_time_and_not_before(replicas):
    a, b = replicas
    before = a.digest()
    assert b.digest() == before
    a.edit()
    response = a.reload()
    assert response.status_code == 200
    body = response.json()
    effective = datetime.fromisoformat(body["effectiveAt"])
    assert body["changed"] is True and body["digest"] != before
    while datetime.now(UTC) < effective:
        assert (a.digest(), b.digest()) == (before, before), "no replica may switch before the effective time"
        time.sleep(0.05)
    time.sleep(0.5)  # the switch deadline: the effective time plus the thread's wake-up
    assert (a.digest(), b.digest()) == (body["digest"], body["digest"])


def test_a_broken_reload_answers_the_errors_and_changes_no_replica(replicas):
    a, b = replicas
    before = a.digest()
    (a.rules_dir / "discharge" / "pathway-b.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    response = a.reload()
    assert response.status_code == 422
    assert "pathway-b.yaml" in response.json()["issue"][0]["diagnostics"]
    assert len(a.store.ruleset_versions()) == 1  # the set published at the first start, nothing since
    time.sleep(0.5)
    assert (a.digest(), b.digest()) == (before, before)


def test_a_replica_started_with_other_rule_files_serves_the_published_set(tmp_path, make_client, caplog):
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    first = Replica("host-a", tmp_path, url, make_client)
    stale = Replica("host-b", tmp_path, url, make_client)
    stale.edit("\n# a local edit never published\n")
    stale.holder = RuleSetHolder(stale.rules_dir)
    stale.client = make_client(settings=stale.settings, rules=stale.holder, store=stale.store)
    with first.client, stale.client:
        assert stale.digest() == first.digest()
        assert "differ from the published rule set" in caplog.text
    first.store.close()
    stale.store.close()


def test_an_archive_loads_with_the_digest_of_the_files_it_was_packed_from(tmp_path):
    files = unpack(pack(BUNDLED_RULES_DIR), tmp_path / "unpacked")
    assert RuleSet.load(files.rules_dir, files.overrides).digest == RuleSet.load(BUNDLED_RULES_DIR).digest


def test_an_archive_with_a_path_outside_its_directory_is_refused(tmp_path):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape.yaml")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"x\n"))
    with pytest.raises(ArchiveError, match="unexpected entry"):
        unpack(buffer.getvalue(), tmp_path / "unpacked")
    assert not (tmp_path / "escape.yaml").exists()
