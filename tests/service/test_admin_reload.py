"""Rule reload: admin credential in constant time; a broken rule set is refused and the old one keeps serving.

Story: the quality team at Innlandet edits the discharge rules during the day
shift and asks the running service to pick them up.
"""

import shutil

import pytest

from cds.rules import RuleSetHolder
from cds.service.settings import BUNDLED_RULES_DIR, Settings

ADMIN = "admin-secret-for-the-quality-team"


@pytest.fixture
def rules_dir(tmp_path):
    target = tmp_path / "rules"
    shutil.copytree(BUNDLED_RULES_DIR, target)
    return target


@pytest.fixture
def holder(rules_dir):
    return RuleSetHolder(rules_dir)


@pytest.fixture
def admin_client(make_client, tmp_path, holder):
    settings = Settings(data_dir=tmp_path / "data", pseudonym_key="test-pseudonym-key-0123456789",
                        auth={"admin_token": ADMIN})
    return make_client(settings=settings, rules=holder)


def reload(client, secret=ADMIN):
    return client.post("/admin/rules/reload", headers={"Authorization": f"Bearer {secret}"})


def test_reload_with_the_admin_secret_answers_the_digest(admin_client, holder):
    response = reload(admin_client)
    assert response.status_code == 200
    assert response.json()["ok"] is True and response.json()["digest"] == holder.current().digest


def test_a_changed_rule_file_gives_a_new_digest(admin_client, holder, rules_dir):
    before = holder.current().digest
    path = rules_dir / "discharge" / "pathway-b.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# reviewed by the quality team\n", encoding="utf-8")
    body = reload(admin_client).json()
    assert body["changed"] is True and body["previousDigest"] == before and body["digest"] != before


def test_a_broken_rule_file_is_422_with_file_and_line_and_the_old_set_keeps_serving(admin_client, holder,
                                                                                    rules_dir):
    before = holder.current().digest
    (rules_dir / "discharge" / "pathway-b.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    response = reload(admin_client)
    assert response.status_code == 422
    assert "pathway-b.yaml" in response.json()["issue"][0]["diagnostics"]
    assert holder.current().digest == before


def test_a_wrong_admin_secret_is_401(admin_client):
    assert reload(admin_client, "guess").status_code == 401


def test_a_client_jwt_is_not_an_admin_credential(admin_client):
    assert admin_client.post("/admin/rules/reload").status_code == 401


def test_without_a_configured_admin_secret_reload_is_disabled(make_client, holder):
    assert reload(make_client(rules=holder)).status_code == 403


def test_with_several_workers_a_changed_rule_set_is_published_and_no_worker_restarted(make_client, tmp_path, holder,
                                                                                       rules_dir, store, monkeypatch):
    import os

    sent = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    settings = Settings(data_dir=tmp_path / "data", pseudonym_key="test-pseudonym-key-0123456789", workers=2,
                        auth={"admin_token": ADMIN}, rules_switch_seconds=7)
    path = rules_dir / "discharge" / "pathway-b.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    body = reload(make_client(settings=settings, rules=holder)).json()
    [published] = store.ruleset_versions()
    assert (body["version"], body["digest"]) == (published.version, published.digest)
    assert body["effectiveAt"] == published.effective_at.isoformat()
    assert "workersRestarting" not in body and sent == []


def test_an_unchanged_rule_set_publishes_nothing(make_client, tmp_path, holder, store):
    settings = Settings(data_dir=tmp_path / "data", pseudonym_key="test-pseudonym-key-0123456789", workers=2,
                        auth={"admin_token": ADMIN})
    with make_client(settings=settings, rules=holder) as client:  # the start publishes the files as version 1
        first = reload(client).json()
    assert first["changed"] is False and "version" not in first and len(store.ruleset_versions()) == 1
