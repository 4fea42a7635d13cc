"""The FastAPI application factory.

`create_app(settings)` builds the evaluator and audit store from settings
(calls are recorded through a write-behind `cds.store.writer.AuditWriter`,
flushed and stopped when the app's lifespan ends);
tests inject their own (``evaluator=``, ``store=``, ``http=`` for the FHIR/JWKS
client, ``clock=``). `app_from_env` is the uvicorn factory ``cds serve`` uses
in each worker (settings from ``$CDS_CONFIG_FILE`` and the environment).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from anyio import to_thread
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from cds.service import logprivacy
from cds.service.auth import ClientAuthenticator
from cds.service.errors import (
    ServiceError,
    http_error_handler,
    service_error_handler,
    unexpected_error_handler,
)
from cds.service.gcfreeze import GcFreezer
from cds.service.publishing import RuleSetPublisher
from cds.service.routes import HookCallShortcut, reload_body, router
from cds.service.runtime import Runtime, build_evaluator, build_store, utc_now
from cds.service.settings import Settings, load_settings
from cds.store.spool import AuditSpool
from cds.store.writer import AuditWriter

if TYPE_CHECKING:
    from cds.evaluation import Evaluator
    from cds.store import AuditStore

__all__ = ["app_from_env", "create_app"]

log = logging.getLogger("cds.service")

#: ``cds serve`` sets this in the environment of its workers to enable SIGHUP reloads.
SIGHUP_ENV = "CDS_HANDLE_SIGHUP"


def _lifespan(runtime: Runtime, handle_sighup: bool) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime.settings.development:
            log.warning(
                "development mode: no client authentication configured; serving on loopback only, "
                "do not use with real patients"
            )
        if handle_sighup and runtime.rules is not None:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(None, _reload_on_signal, runtime))
        if runtime.publisher is not None:
            await to_thread.run_sync(runtime.publisher.start)  # the published rule set, everywhere the same
        # The rule set, the model and the caches' parsed resources live long: full collections
        # scan only what is new since the last one (cds.service.gcfreeze).
        freezer = GcFreezer.from_settings(runtime.settings.gc)
        if freezer is not None:
            freezer.start()
        try:
            yield
        finally:
            if freezer is not None:
                freezer.stop()
            if handle_sighup and runtime.rules is not None:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            if runtime.publisher is not None:
                await to_thread.run_sync(runtime.publisher.stop)
            await runtime.http.aclose()
            if runtime.audit is not None:
                await to_thread.run_sync(runtime.audit.close)  # writes every call still queued
            if runtime.store is not None:
                runtime.store.close()

    return lifespan


def _reload_on_signal(runtime: Runtime) -> None:
    assert runtime.rules is not None
    try:
        body = reload_body(*runtime.publisher.publish()) if runtime.publisher is not None else reload_body(
            runtime.rules.reload())
    except Exception as exc:  # noqa: BLE001 - the store is unreachable: nothing was published
        log.error("SIGHUP: rules NOT reloaded, the store could not be written: %s", type(exc).__name__)
        return
    if body["ok"]:
        log.info("SIGHUP: rules reloaded, digest %s", body.get("digest"))
    else:
        log.error("SIGHUP: rules NOT reloaded, the previous set keeps serving: %s", "; ".join(body["errors"]))


def create_app(
    settings: Settings | None = None,
    *,
    evaluator: Evaluator | None = None,
    store: AuditStore | None = None,
    rules: Any | None = None,
    http: httpx.AsyncClient | None = None,
    clock: Callable[[], datetime] = utc_now,
    handle_sighup: bool = False,
    audit: bool = True,
) -> FastAPI:
    """The CDS Hooks service.

    ``rules`` is the `RuleSetHolder` the admin reload endpoint and SIGHUP reload;
    by default the evaluator's own (its ``rules`` attribute). ``audit=False``
    runs without an audit store (documentation builds; feedback then answers 503).
    """
    logprivacy.install()  # before anything logs: no patient ids from httpx, SQLAlchemy or the access log
    settings = settings or load_settings()
    evaluator = evaluator if evaluator is not None else build_evaluator(settings)
    store = store if store is not None or not audit else build_store(settings)
    http = http or httpx.AsyncClient(follow_redirects=False)
    audit_writer = (AuditWriter(store, spool=AuditSpool(settings.data_dir, max_bytes=settings.audit_spool_max_bytes))
                    if store is not None else None)
    holder = rules if rules is not None else getattr(evaluator, "rules", None)
    runtime = Runtime(
        settings=settings,
        evaluator=evaluator,
        store=store,
        audit=audit_writer,
        authenticator=ClientAuthenticator(settings.auth, replay_file=settings.jti_replay_file, http=http,
                                          store=store),
        http=http,
        rules=holder,
        publisher=_publisher(settings, holder, store),
        clock=clock,
    )
    app = FastAPI(
        title="Frailty and discharge CDS (CDS Hooks 2.0.1)",
        version=_version(),
        description=(
            "CDS Hooks services for frailty screening and discharge pathways. Errors are FHIR "
            "OperationOutcome resources. Clients authenticate with a signed JWT (ES384/RS384)."
        ),
        lifespan=_lifespan(runtime, handle_sighup),
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.include_router(router)
    app.add_exception_handler(ServiceError, service_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    if settings.dashboard.password is not None:
        from cds.service.dashboard import dashboard_router  # plotly is loaded only when the dashboard is on

        app.include_router(
            dashboard_router(
                password=settings.dashboard.password.get_secret_value(),
                username=settings.dashboard.username,
                store=store,
                flush=audit_writer.flush if audit_writer is not None else None,
                kpi_dir=settings.dashboard.kpi_dir,
                reports_dir=settings.dashboard.reports_dir,
                clock=clock,
            )
        )
    app.add_middleware(HookCallShortcut, runtime=runtime)  # added first: CORS, when on, wraps it too
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept-Language"],
            max_age=600,
        )
    def openapi() -> dict[str, Any]:
        from cds.service.openapi import build_openapi

        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _publisher(settings: Settings, holder: Any, store: AuditStore | None) -> RuleSetPublisher | None:
    """The rule-set publisher when there is a store to publish through and a reloadable rule set.

    It runs on the wall clock (`utc_now`), not the app's ``clock``: switch times are agreed between hosts.
    """
    from cds.rules import RuleSetHolder

    if store is None or not isinstance(holder, RuleSetHolder):
        return None
    return RuleSetPublisher(holder, store, data_dir=settings.data_dir, switch_seconds=settings.rules_switch_seconds,
                            poll_seconds=settings.rules_poll_seconds, clock=utc_now)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cds-frailty")
    except PackageNotFoundError:
        return "0"


def app_from_env() -> FastAPI:
    """uvicorn factory: settings from ``$CDS_CONFIG_FILE`` and the environment."""
    import os

    return create_app(load_settings(), handle_sighup=os.environ.get(SIGHUP_ENV) == "1")
