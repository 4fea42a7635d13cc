"""Service configuration: embedded defaults, a TOML or YAML file, environment variables.

Precedence, highest first: keyword arguments, environment variables
(``CDS_`` prefix, ``__`` for nesting, e.g. ``CDS_AUTH__LEEWAY_SECONDS=30``), the
configuration file (``--config FILE`` or ``CDS_CONFIG_FILE``), the defaults
below. Secure by default: the service binds to 127.0.0.1, and without client
authentication configured it runs in *development mode*, which is allowed only
on a loopback address (`Settings.check_bind`).

Example ``cds.toml``::

    host = "0.0.0.0"
    database_url = "postgresql+psycopg://cds@db/cds"
    public_base_url = "https://cds.example.no"
    cors_origins = ["https://epj.example.no"]

    [auth.issuers."https://epj.example.no"]
    jwks_file = "/etc/cds/epj-jwks.json"
    jku = ["https://epj.example.no/.well-known/jwks.json"]
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
from datetime import tzinfo
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from cds import bundled
from cds.jsondepth import DEFAULT_MAX_DEPTH
from cds.store.engine import sqlite_url

__all__ = [
    "AuthSettings",
    "ConfigError",
    "DashboardSettings",
    "FhirClientSettings",
    "GcSettings",
    "IssuerSettings",
    "Settings",
    "is_loopback",
    "load_settings",
]

#: The rule files and model shipped with the project.
BUNDLED_RULES_DIR = bundled.RULES_DIR
BUNDLED_MODEL_DIR = bundled.MODEL_DIR
PSEUDONYM_KEY_FILE = "pseudonym.key"
#: The jti replay table the workers share (`cds.service.replay`), in the data directory.
JTI_REPLAY_FILE = "jti-replay.bin"
CONFIG_FILE_ENV = "CDS_CONFIG_FILE"

#: Asymmetric JWS algorithms a client may sign with (never ``none`` or HS*).
ASYMMETRIC_ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")


class ConfigError(Exception):
    """The configuration is unusable; the message says which setting and why."""


class IssuerSettings(BaseModel):
    """One client (EPJ) allowed to call: its keys, inline, from a file, or from allowlisted ``jku`` URLs."""

    jwks: dict[str, Any] | None = None
    jwks_file: Path | None = None
    jku: list[str] = Field(default_factory=list)


class AuthSettings(BaseModel):
    """Client authentication (CDS Hooks JWT) and the admin credential."""

    issuers: dict[str, IssuerSettings] = Field(default_factory=dict)
    algorithms: list[str] = Field(default_factory=lambda: list(ASYMMETRIC_ALGORITHMS))
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    max_token_lifetime_seconds: int = Field(default=300, ge=1, le=3600)
    #: live client tokens the shared jti replay table is sized for (48 bytes of file each; cds.service.replay)
    jti_cache_size: int = Field(default=100_000, ge=100)
    jwks_cache_seconds: int = Field(default=3600, ge=0)
    jwks_fetch_timeout_seconds: float = Field(default=5.0, gt=0)
    protect_discovery: bool = False
    admin_token: SecretStr | None = None
    #: the bearer secret a Prometheus scraper sends for ``GET /metrics``; None: the endpoint is off (404)
    metrics_token: SecretStr | None = None

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in ASYMMETRIC_ALGORITHMS]
        if bad:
            raise ValueError(f"only asymmetric algorithms are allowed, not {', '.join(bad)}")
        return value

    @property
    def enabled(self) -> bool:
        """Client authentication is on when at least one issuer is configured."""
        return bool(self.issuers)


class FhirClientSettings(BaseModel):
    """Bounds for reading from the client's FHIR server when prefetch is incomplete.

    The time budget follows the CDS Hooks answer time, not the FHIR server's
    comfort: a client gives up on a service after a few seconds (it expects an
    answer in about 500 ms), so fetching that takes longer than
    ``total_timeout_seconds`` is stopped and reported as a fetch failure (the
    keys not read are named in the answer), well before the client's own timeout.
    """

    #: one request to the FHIR server (each page of a search)
    timeout_seconds: float = Field(default=1.5, gt=0)
    max_pages: int = Field(default=20, ge=1)
    max_resources_per_query: int = Field(default=5000, ge=1)
    max_concurrency: int = Field(default=8, ge=1)
    #: all fetching for one call together
    total_timeout_seconds: float = Field(default=2.0, gt=0)
    #: identifier systems by which a resource may name its patient, besides the national person numbers
    #: (fødselsnummer, D-nummer, felles hjelpenummer: always trusted), e.g. a hospital's own patient number
    trusted_identifier_systems: list[str] = Field(default_factory=list)
    #: patient searches are also run by the Patient's identifiers: "identifier" (patient:identifier=),
    #: "chained" (patient.identifier=) or "off"; per server (base URL) in identifier_search_by_server
    identifier_search: Literal["identifier", "chained", "off"] = "identifier"
    identifier_search_by_server: dict[str, Literal["identifier", "chained", "off"]] = Field(default_factory=dict)
    #: a FHIR search on a GP register service, {identifier} = the patient's system|value (cds.fhir.gp_lookup)
    gp_lookup_url: str | None = Field(default=None, pattern=r"^https?://.*\{identifier\}")


class DashboardSettings(BaseModel):
    """The quality team's dashboard (``/dashboard``): mounted only when a password is set."""

    password: SecretStr | None = None
    username: str = "quality"
    kpi_dir: Path | None = None
    reports_dir: Path | None = None


class GcSettings(BaseModel):
    """The worker's garbage collector (`cds.service.gcfreeze.GcFreezer`); operational, no effect on output."""

    #: freeze the survivors of every full collection, so that full collections scan only what is new
    #: since the last one (short pauses with large caches); off: Python's own collector settings
    freeze: bool = True
    #: ``gc.set_threshold`` while freezing: allocations per young collection, young collections
    #: per middle one, middle ones per full one (low values: frequent, short full collections)
    thresholds: tuple[int, int, int] = (700, 2, 1)
    #: a full collection over the whole heap (unfrozen first) this often, for any reference cycle
    #: that became garbage after it was frozen; one pause of ~2-3 s with full caches. None: never
    rescan_seconds: float | None = Field(default=86_400.0, gt=0)

    @field_validator("thresholds")
    @classmethod
    def _positive(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if min(value) < 1:
            raise ValueError("gc thresholds are positive (0 would turn collection off)")
        return value


class Settings(BaseSettings):
    """Everything the service and the command line need to start."""

    model_config = SettingsConfigDict(env_prefix="CDS_", env_nested_delimiter="__", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    data_dir: Path = Path("data")
    database_url: str | None = None
    rules_dir: Path = BUNDLED_RULES_DIR
    rule_overrides: list[Path] = Field(default_factory=list)
    model_dir: Path | None = BUNDLED_MODEL_DIR  # None: no learned readmission risk
    pseudonym_key: SecretStr | None = None
    site: str | None = None
    language: str = "nb"
    #: The IANA time zone of clinical time (default ``Europe/Oslo``): the calendar in which ages
    #: (birthdays), calendar-day counts ("dag N av oppholdet", length of stay, "in this stay" and
    #: other calendar windows) and card dates (dd.mm.åååå) are reckoned, whatever zone the clock or
    #: ``--now`` gives; the command line reads times without an offset in it. Elapsed-time windows
    #: (24-hour deadlines) stay elapsed hours. ``CDS_CLINICAL_TIMEZONE``.
    clinical_timezone: str = "Europe/Oslo"
    #: the URL clients call (scheme, host, optional path prefix): the JWT ``aud`` of a call to
    #: ``/cds-services/x`` must be ``public_base_url + "/cds-services/x"``; required with authentication
    public_base_url: str | None = None
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    #: levels of arrays/objects a request body may nest (hook calls, feedback); deeper is a 400,
    #: refused before decoding (`cds.jsondepth`; decoders fail near 1,000 levels)
    max_json_depth: int = Field(default=DEFAULT_MAX_DEPTH, ge=8, le=500)
    #: uvicorn's per-request access log (one line per request on stderr); off by default, since a
    #: reverse proxy usually keeps one and the line costs the worker CPU on every call
    access_log: bool = False
    #: a connection must send each request's complete headers within this many seconds of opening
    #: (or of the first byte of its next request), or it is closed (`cds.service.headertimeout`)
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    fhir: FhirClientSettings = Field(default_factory=FhirClientSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    gc: GcSettings = Field(default_factory=GcSettings)
    #: bytes the local audit spool may hold while the database is unreachable (`cds.store.spool`)
    audit_spool_max_bytes: int = Field(default=64 * 1024 * 1024, ge=4096)
    #: seconds between a rule-set publication and the moment every worker and replica serves it
    rules_switch_seconds: float = Field(default=5.0, gt=0, le=3600)
    #: seconds between two looks at the published rule-set version (at most half of rules_switch_seconds)
    rules_poll_seconds: float = Field(default=1.0, gt=0, le=600)

    @field_validator("model_dir", mode="before")
    @classmethod
    def _no_model(cls, value: Any) -> Any:
        """``none`` or an empty value turns the learned readmission model off."""
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off"):
            return None
        return value

    @field_validator("clinical_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from cds.clinicaltime import zone

        try:
            zone(value)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def clinical_zone(self) -> tzinfo:
        """`clinical_timezone` as a tzinfo (passed to the evaluator and the command line's time parser)."""
        from cds.clinicaltime import zone

        return zone(self.clinical_timezone)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in ("nb", "en"):
            raise ValueError("language is 'nb' or 'en'")
        return value

    @model_validator(mode="after")
    def _public_base_url_has_no_trailing_slash(self) -> Settings:
        if self.public_base_url:
            self.public_base_url = self.public_base_url.rstrip("/")
        return self

    @model_validator(mode="after")
    def _audience_is_configured(self) -> Settings:
        """With authentication on, the JWT ``aud`` is checked against ``public_base_url``, never the Host header."""
        if self.auth.enabled and not self.public_base_url:
            raise ValueError(
                "public_base_url is required when authentication is on: it is the audience client tokens "
                "must name (e.g. https://cds.example.no; set CDS_PUBLIC_BASE_URL)"
            )
        return self

    @property
    def development(self) -> bool:
        """Development mode: no client authentication configured (loopback only)."""
        return not self.auth.enabled

    @property
    def effective_database_url(self) -> str:
        """The audit store URL: ``database_url`` or an SQLite file in the data directory."""
        return self.database_url or sqlite_url(self.data_dir)

    @property
    def jti_replay_file(self) -> Path:
        """The file of the client JWT replay table, shared by the workers (`cds.service.replay`)."""
        return self.data_dir / JTI_REPLAY_FILE

    def check_bind(self, host: str | None = None) -> None:
        """Refuse to listen on a non-loopback address without authentication."""
        host = host or self.host
        if self.development and not is_loopback(host):
            raise ConfigError(
                f"refusing to listen on {host} without client authentication; "
                "configure [auth.issuers] or bind to 127.0.0.1"
            )

    def resolve_pseudonym_key(self) -> bytes:
        """The key for patient pseudonyms.

        From configuration when set. In development mode a random key is created
        once in the data directory (mode 0600) and reused; in production a missing
        key is a configuration error, since pseudonyms must stay stable.
        """
        if self.pseudonym_key is not None:
            key = self.pseudonym_key.get_secret_value().encode()
            if len(key) < 16:
                raise ConfigError("pseudonym_key must be at least 16 characters")
            return key
        if not self.development:
            raise ConfigError("pseudonym_key is not set (CDS_PSEUDONYM_KEY); it is required when authentication is on")
        path = self.data_dir / PSEUDONYM_KEY_FILE
        if path.exists():
            return path.read_bytes().strip()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_hex(32).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"configuration file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"configuration file must be .toml, .yaml or .yml: {path}")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a table/mapping")
    return data


class _FileSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings from defaults, the file (or ``$CDS_CONFIG_FILE``), the environment and ``overrides``.

    Raises `ConfigError` with a one-line message when the file or a value is invalid.
    """
    path = config_file or os.environ.get(CONFIG_FILE_ENV)
    file_data = _read_config_file(Path(path)) if path else {}

    class _Loaded(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, _FileSource(settings_cls, file_data)

    try:
        return _Loaded(**overrides)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        errors = getattr(exc, "errors", None)
        if callable(errors):
            first = errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            message = str(first.get("msg")).removeprefix("Value error, ")
            raise ConfigError(f"setting {where}: {message}" if where else message) from exc
        raise ConfigError(str(exc)) from exc
