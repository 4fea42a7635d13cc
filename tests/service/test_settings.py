"""Settings: secure defaults, file + environment, development-mode pseudonym key."""

import os
import stat

import pytest

from cds.service.settings import ConfigError, Settings, is_loopback, load_settings


def test_defaults_bind_to_loopback_with_sqlite_in_the_data_dir(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert settings.host == "127.0.0.1" and settings.port == 8080
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve()}/cds.sqlite3"
    assert settings.development


def test_database_url_from_the_environment(monkeypatch):
    monkeypatch.setenv("CDS_DATABASE_URL", "postgresql+psycopg://cds@db/cds")
    assert load_settings().effective_database_url == "postgresql+psycopg://cds@db/cds"


def test_data_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path))
    assert load_settings().data_dir == tmp_path


def test_toml_file_is_read_and_the_environment_wins(monkeypatch, tmp_path):
    config = tmp_path / "cds.toml"
    config.write_text('port = 9000\nsite = "innlandet"\n[auth]\nleeway_seconds = 10\n', encoding="utf-8")
    monkeypatch.setenv("CDS_PORT", "9100")
    settings = load_settings(config)
    assert (settings.port, settings.site, settings.auth.leeway_seconds) == (9100, "innlandet", 10)


def test_yaml_file_is_read(tmp_path):
    config = tmp_path / "cds.yaml"
    config.write_text("cors_origins: [https://epj.example.no]\nfhir:\n  max_pages: 5\n", encoding="utf-8")
    settings = load_settings(config)
    assert settings.cors_origins == ["https://epj.example.no"] and settings.fhir.max_pages == 5


def test_an_unknown_setting_is_a_one_line_error(tmp_path):
    config = tmp_path / "cds.toml"
    config.write_text("prot = 80\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="prot"):
        load_settings(config)


def test_a_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_without_authentication_only_loopback_is_allowed(tmp_path):
    with pytest.raises(ConfigError, match="refusing to listen on 0.0.0.0 without client authentication"):
        Settings(data_dir=tmp_path).check_bind("0.0.0.0")
    Settings(data_dir=tmp_path).check_bind("127.0.0.1")


def test_with_authentication_any_address_is_allowed(tmp_path):
    Settings(data_dir=tmp_path, public_base_url="https://cds.example.no",
                        auth={"issuers": {"https://epj": {"jwks": {"keys": []}}}}).check_bind("0.0.0.0")


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                           ("0.0.0.0", False), ("10.0.0.5", False), ("cds.example", False)])
def test_loopback_detection(host, loopback):
    assert is_loopback(host) is loopback


def test_development_pseudonym_key_is_created_once_with_mode_0600(tmp_path):
    first = Settings(data_dir=tmp_path).resolve_pseudonym_key()
    assert Settings(data_dir=tmp_path).resolve_pseudonym_key() == first
    mode = stat.S_IMODE(os.stat(tmp_path / "pseudonym.key").st_mode)
    assert mode == 0o600 and len(first) >= 32


def test_production_without_pseudonym_key_is_an_error(tmp_path):
    settings = Settings(data_dir=tmp_path, public_base_url="https://cds.example.no",
                        auth={"issuers": {"https://epj": {"jwks": {"keys": []}}}})
    with pytest.raises(ConfigError, match="pseudonym_key"):
        settings.resolve_pseudonym_key()


def test_cors_origins_get_cors_headers(make_client, tmp_path):
    settings = Settings(data_dir=tmp_path, pseudonym_key="test-pseudonym-key-0123456789",
                        cors_origins=["https://epj.example.no"])
    response = make_client(settings=settings).options("/cds-services", headers={
        "Origin": "https://epj.example.no", "Access-Control-Request-Method": "GET"})
    assert response.headers["access-control-allow-origin"] == "https://epj.example.no"


def test_the_sqlite_store_and_the_data_directory_are_private_to_the_service_user(tmp_path):
    from datetime import UTC, datetime

    from cds.service.runtime import build_store
    from cds.store import CallRecord

    settings = Settings(data_dir=tmp_path / "data", pseudonym_key="test-pseudonym-key-0123456789")
    store = build_store(settings)
    try:
        store.record_call(CallRecord(service_id="discharge-pathway", hook="encounter-discharge", hook_instance="h",
                                     patient_id="p1", ruleset_digest=None, duration_ms=1.0, outcome="no-cards",
                                     http_status=200, cards=(), at=datetime(2026, 11, 2, tzinfo=UTC), site=None))
        files = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in (tmp_path / "data").iterdir()}
    finally:
        store.close()
    assert oct(stat.S_IMODE(os.stat(tmp_path / "data").st_mode)) == oct(0o700)
    assert {"cds.sqlite3", "cds.sqlite3-wal"} <= set(files)  # while open: the database and its write-ahead log
    assert files == dict.fromkeys(files, oct(0o600))
