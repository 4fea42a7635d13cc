"""What a running service holds: settings, evaluator, store and its writer, authenticator, HTTP client, clock.

One `Runtime` per app (``app.state.runtime``); routes read everything from it,
so tests inject fakes through `cds.service.app.create_app` and nothing is global.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from cds.service.auth import ClientAuthenticator
from cds.service.settings import Settings

if TYPE_CHECKING:
    from cds.evaluation import Evaluator
    from cds.service.publishing import RuleSetPublisher
    from cds.store import AuditStore
    from cds.store.writer import AuditWriter

__all__ = ["Runtime", "build_evaluator", "build_store", "utc_now"]


def utc_now() -> datetime:
    """The wall clock, timezone-aware (UTC)."""
    return datetime.now(UTC)


@dataclass
class Runtime:
    """The collaborators of one service instance."""

    settings: Settings
    evaluator: Evaluator
    store: AuditStore | None
    audit: AuditWriter | None  # records calls into ``store`` off the request path; None without a store
    authenticator: ClientAuthenticator
    http: httpx.AsyncClient
    rules: Any | None = None  # a cds.rules.RuleSetHolder (reload); None when the evaluator has none
    publisher: RuleSetPublisher | None = None  # publishes reloads through the store; None without a store
    clock: Callable[[], datetime] = utc_now


def build_evaluator(settings: Settings) -> Evaluator:
    """The real evaluator, from the rules and model directories in ``settings``."""
    from cds.evaluation import Evaluator
    from cds.rules.holder import log_warnings

    evaluator = Evaluator.from_paths(
        rules_dir=settings.rules_dir,
        model_dir=settings.model_dir,
        pseudonym_key=settings.resolve_pseudonym_key(),
        overrides=settings.rule_overrides,
        clinical_zone=settings.clinical_zone,
        trusted_identifier_systems=settings.fhir.trusted_identifier_systems,
    )
    log_warnings(evaluator.rules.current())  # reloads log theirs in RuleSetHolder.reload
    return evaluator


def build_store(settings: Settings) -> AuditStore:
    """The audit store at ``settings.effective_database_url`` (migrated to head)."""
    from cds.store import AuditStore

    if settings.database_url is None:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return AuditStore.open(settings.effective_database_url, pseudonym_key=settings.resolve_pseudonym_key())
