"""Client authentication (CDS Hooks 2.0 "Trusting CDS Clients") and the admin credential.

A CDS client sends ``Authorization: Bearer <JWT>``, signed with its private key.
`ClientAuthenticator` accepts a token only when all of these hold:

* ``alg`` is an allowed asymmetric algorithm (never ``none``, never HS*);
* ``iss`` is a configured issuer, and a ``jku`` header (if any) is on that
  issuer's allowlist; keys come from the issuer's configured JWKS (inline or
  file) or from the allowlisted ``jku`` (fetched, cached);
* ``kid`` names one of those keys and the signature verifies;
* ``aud`` is the URL that was called; ``exp``, ``iat`` and ``jti`` are present,
  ``exp`` is in the future and at most ``max_token_lifetime_seconds`` after ``iat``;
* ``jti`` has not been seen before from that issuer: the audit store remembers
  it until the token expires, shared by every worker and every host of one
  database (`cds.service.replay.StoreReplayGuard`), with the per-host
  `ReplayTable` in the data directory as its fallback while the database is
  unreachable, and as the record when the service runs without a store.

Every refusal is a 401 with an OperationOutcome saying which check failed. The
token itself is never logged.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from anyio import to_thread

from cds.service.errors import ServiceError
from cds.service.replay import ReplayTable, StoreReplayGuard
from cds.service.settings import AuthSettings, ConfigError, IssuerSettings

if TYPE_CHECKING:
    from cds.store import AuditStore

__all__ = ["ClientAuthenticator", "ClientIdentity", "check_admin_token", "check_metrics_token"]

log = logging.getLogger(__name__)

_CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
_JKU_MIN_REFRESH_SECONDS = 60.0


def _unauthorized(message: str) -> ServiceError:
    return ServiceError(401, message, code="login", outcome="unauthorized", headers=_CHALLENGE)


@dataclass(frozen=True)
class ClientIdentity:
    """Who called: the verified issuer (and subject, when given)."""

    issuer: str
    subject: str | None
    jti: str


def _keys_from_jwks(jwks: Mapping[str, Any], origin: str) -> dict[str, dict[str, Any]]:
    """Usable public JWKs by kid (symmetric and broken keys are left out, with a warning)."""
    keys: dict[str, dict[str, Any]] = {}
    for raw in jwks.get("keys") or []:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("kid"), str):
            continue
        if raw.get("kty") == "oct":
            log.warning("ignoring symmetric key %s from %s", raw.get("kid"), origin)
            continue
        try:
            jwt.PyJWK(dict(raw))  # parses: refuses keys PyJWT cannot use
            keys[raw["kid"]] = dict(raw)
        except jwt.PyJWTError as exc:
            log.warning("ignoring unusable key %s from %s: %s", raw.get("kid"), origin, exc)
    return keys


def _configured_keys(name: str, issuer: IssuerSettings) -> dict[str, dict[str, Any]]:
    keys: dict[str, dict[str, Any]] = {}
    if issuer.jwks is not None:
        keys.update(_keys_from_jwks(issuer.jwks, f"issuer {name}"))
    if issuer.jwks_file is not None:
        try:
            data = json.loads(issuer.jwks_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read JWKS file {issuer.jwks_file} for issuer {name}: {exc}") from exc
        keys.update(_keys_from_jwks(data, str(issuer.jwks_file)))
    return keys


class ClientAuthenticator:
    """Verifies CDS client JWTs against the configured issuers.

    ``replay_file`` is the `ReplayTable` file the service's workers share
    (`Settings.jti_replay_file`); with a ``store`` the replay record is the
    store's, and the file its fallback. With authentication on it is opened (created)
    here, so a data directory it cannot live in is a `ConfigError` at start,
    not a failure of every call.
    """

    def __init__(
        self,
        settings: AuthSettings,
        *,
        replay_file: Path,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        store: AuditStore | None = None,
    ) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        table = ReplayTable(replay_file, settings.jti_cache_size, clock=clock)
        self._replay: ReplayTable | StoreReplayGuard = (
            table if store is None else StoreReplayGuard(store, table, clock=clock))
        if settings.enabled:
            try:
                self._replay.open()
            except OSError as exc:
                raise ConfigError(f"cannot open the jti replay table {replay_file}: {exc.strerror or exc}; "
                                  "data_dir must be a writable directory on a local file system") from exc
        self._static = {name: _configured_keys(name, issuer) for name, issuer in settings.issuers.items()}
        self._jku_cache: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}

    @property
    def enabled(self) -> bool:
        """False in development mode (no issuers configured)."""
        return self._settings.enabled

    async def _jku_keys(self, url: str, *, refresh: bool = False) -> dict[str, dict[str, Any]]:
        now = self._clock()
        cached = self._jku_cache.get(url)
        if cached is not None:
            fetched_at, keys = cached
            fresh = now - fetched_at < self._settings.jwks_cache_seconds
            if fresh and not (refresh and now - fetched_at >= _JKU_MIN_REFRESH_SECONDS):
                return keys
        if self._http is None:
            raise _unauthorized("keys from jku cannot be fetched here")
        try:
            response = await self._http.get(url, timeout=self._settings.jwks_fetch_timeout_seconds)
            response.raise_for_status()
            keys = _keys_from_jwks(response.json(), url)
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            log.warning("cannot fetch JWKS from %s: %s", url, type(exc).__name__)
            if cached is not None:
                return cached[1]
            raise _unauthorized("the JWKS at jku could not be fetched") from exc
        self._jku_cache[url] = (now, keys)
        return keys

    async def authenticate(self, authorization: str | None, audience: str) -> ClientIdentity:
        """Verify the ``Authorization`` header for a call to ``audience``; 401 `ServiceError` if not."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("a bearer JWT is required (Authorization: Bearer <JWT>)")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise _unauthorized("the bearer token is not a well-formed JWT") from exc
        alg = header.get("alg")
        if alg not in self._settings.algorithms:
            raise _unauthorized(f"JWT algorithm {alg!r} is not allowed; use an asymmetric one such as ES384 or RS384")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _unauthorized("the JWT header has no kid")
        issuer = unverified.get("iss")
        issuer_settings = self._settings.issuers.get(issuer) if isinstance(issuer, str) else None
        if issuer_settings is None:
            raise _unauthorized("the JWT issuer (iss) is not allowed")
        jku = header.get("jku")
        if jku is not None:
            if jku not in issuer_settings.jku:
                raise _unauthorized("the JWT jku is not on the allowlist for this issuer")
            keys = await self._jku_keys(jku)
            if kid not in keys:
                keys = await self._jku_keys(jku, refresh=True)
        else:
            keys = self._static[issuer]
        found = keys.get(kid)
        if found is None:
            raise _unauthorized("the JWT kid is not a known key of this issuer")
        declared = found.get("alg")
        if declared is not None and declared != alg:
            raise _unauthorized(f"key {kid} is for {declared}, the JWT says {alg}")
        try:
            key = jwt.PyJWK(found, algorithm=alg)
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"key {kid} cannot verify {alg}") from exc
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=audience,
                issuer=issuer,
                leeway=self._settings.leeway_seconds,
                options={"require": ["exp", "iat", "jti", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _unauthorized("the JWT has expired (exp)") from exc
        except jwt.InvalidAudienceError as exc:
            raise _unauthorized(f"the JWT aud must be the URL called: {audience}") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise _unauthorized(f"the JWT lacks the {exc.claim} claim") from exc
        except jwt.ImmatureSignatureError as exc:
            raise _unauthorized("the JWT is not valid yet (iat/nbf in the future)") from exc
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"the JWT was refused: {type(exc).__name__}") from exc
        exp, iat = float(claims["exp"]), float(claims["iat"])
        limit = self._settings.max_token_lifetime_seconds + self._settings.leeway_seconds
        if exp - iat > limit:
            raise _unauthorized(f"the JWT lives too long (exp - iat > {self._settings.max_token_lifetime_seconds} s)")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise _unauthorized("the JWT jti must be a non-empty string")
        expires_at = exp + self._settings.leeway_seconds
        if isinstance(self._replay, StoreReplayGuard):
            replayed = await to_thread.run_sync(self._replay.seen, issuer, jti, expires_at)
        else:
            replayed = self._replay.seen(issuer, jti, expires_at)
        if replayed:
            raise _unauthorized("the JWT jti was already used (replay)")
        sub = claims.get("sub")
        return ClientIdentity(issuer=issuer, subject=sub if isinstance(sub, str) else None, jti=jti)


def check_admin_token(authorization: str | None, settings: AuthSettings) -> None:
    """Constant-time check of the admin bearer secret; 401/403 `ServiceError` otherwise."""
    if settings.admin_token is None:
        raise ServiceError(403, "the admin endpoints are disabled: set auth.admin_token", code="forbidden",
                           outcome="forbidden")
    scheme, _, token = (authorization or "").partition(" ")
    expected = settings.admin_token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise ServiceError(401, "the admin credential is missing or wrong", code="login", outcome="unauthorized",
                           headers={"WWW-Authenticate": "Bearer"})


def check_metrics_token(authorization: str | None, settings: AuthSettings) -> None:
    """Constant-time check of the metrics scraper's bearer secret; 404 when metrics are off, 401 when wrong."""
    if settings.metrics_token is None:
        raise ServiceError(404, "metrics are off: set auth.metrics_token", code="not-found", outcome="forbidden")
    scheme, _, token = (authorization or "").partition(" ")
    expected = settings.metrics_token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise ServiceError(401, "the metrics credential is missing or wrong", code="login", outcome="unauthorized",
                           headers={"WWW-Authenticate": "Bearer"})
