"""`cds serve`: run the CDS Hooks service with uvicorn.

    cds serve [--host 127.0.0.1] [--port 8080] [--workers 1] [--config FILE]

Secure by default: binds to 127.0.0.1. Without client authentication
configured (``[auth.issuers]``) the service runs in development mode, which is
allowed only on a loopback address; any other address is refused with a
one-line error. ``kill -HUP <pid>`` with one worker validates the rule files and
publishes them through the store (`cds.service.publishing`), as
``POST /admin/rules/reload`` does with any number of workers: every worker of
every replica sharing the database switches to the new set at the same moment,
and a broken set is published nowhere. With several workers, SIGHUP makes
uvicorn restart them (they then serve the published set), and connections are
spread over them least-connections first (`cds.service.balance`). A connection that does not send its headers
within ``header_timeout_seconds`` is closed (`cds.service.headertimeout`).
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from cds.cli import UserError

WORKER_STARTUP_SECONDS = 120
#: The event loop of each worker when there are several (uvicorn's loop factory).
BALANCED_LOOP = "cds.service.balance:BalancedLoop"

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML or YAML configuration file")]


def serve(
    host: Annotated[str | None, typer.Option(help="address to bind (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8080)")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="worker processes (default 1)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the CDS Hooks endpoints (discovery, services, feedback, admin reload)."""
    import uvicorn

    from cds.service.app import SIGHUP_ENV, create_app
    from cds.service.balance import connection_table
    from cds.service.headertimeout import PROTOCOL, TIMEOUT_ENV
    from cds.service.settings import CONFIG_FILE_ENV, ConfigError, load_settings

    if config is not None and not config.is_file():
        raise UserError(f"configuration file not found: {config}")
    overrides = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
    try:
        settings = load_settings(config, **overrides)
        settings.check_bind()
        settings.resolve_pseudonym_key()
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if config is not None:
        os.environ[CONFIG_FILE_ENV] = str(config.resolve())
    for name, value in overrides.items():
        os.environ[f"CDS_{name.upper()}"] = str(value)
    _check_port_free(settings.host, settings.port)
    os.environ[TIMEOUT_ENV] = str(settings.header_timeout_seconds)  # read by each worker's protocol
    common = {"host": settings.host, "port": settings.port, "proxy_headers": False, "server_header": False,
              "access_log": settings.access_log, "http": PROTOCOL}
    if settings.workers == 1:
        try:
            app = create_app(settings, handle_sighup=True)
        except Exception as exc:  # a broken rule set, model or database: one line, no traceback
            raise UserError(f"cannot start: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        uvicorn.run(app, **common)
    else:
        os.environ.pop(SIGHUP_ENV, None)
        # A worker loads the rules, the model and the store before it is ready: give it
        # time, or uvicorn gives up on a graceful restart (SIGHUP) after 5 s. Rows for twice
        # the workers: a restart brings each new worker up before the old one stops.
        with connection_table(rows=2 * settings.workers + 1), _metrics_directory():
            uvicorn.run("cds.service.app:app_from_env", factory=True, workers=settings.workers,
                        timeout_worker_healthcheck=WORKER_STARTUP_SECONDS, loop=BALANCED_LOOP, **common)


def _check_port_free(host: str, port: int) -> None:
    """Refuse, in one line, an address another process listens on (uvicorn would log several lines and exit 3)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}; stop the other process or use --port") from None


@contextmanager
def _metrics_directory() -> Iterator[None]:
    """A fresh directory for the workers' Prometheus metric files (`cds.service.metrics`), removed at the end."""
    from cds.service.metrics import MULTIPROCESS_ENV

    with tempfile.TemporaryDirectory(prefix="cds-metrics-") as directory:
        os.environ[MULTIPROCESS_ENV] = directory
        try:
            yield
        finally:
            os.environ.pop(MULTIPROCESS_ENV, None)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
