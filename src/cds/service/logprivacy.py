"""Third-party loggers that would write patient identifiers, kept quiet or redacted.

The service's own log lines carry pseudonyms, counts and rule ids only. Some
libraries it uses log more than that:

* ``httpx`` logs every request at INFO (``HTTP Request: GET .../Patient/<id>``,
  ``Encounter?patient=<id>``), and ``httpcore`` traces connections and response
  headers at DEBUG: the URLs of FHIR reads and searches name the patient;
* ``sqlalchemy.engine`` logs statements with their parameters at INFO/DEBUG:
  audit and feedback content;
* ``uvicorn.access`` (off by default, ``access_log``) logs each request's path
  with its query string, which a client may fill with anything.

`install` attaches filters to those loggers themselves, so they hold whatever
level or handlers the operator configures (even DEBUG for every logger): records
of ``httpx``, ``httpcore`` and ``sqlalchemy.engine`` below WARNING are dropped
(their warnings and errors are kept, with every URL reduced to scheme, host and
port), and access-log lines keep the path without the query string. Calling it
again changes nothing.
"""

from __future__ import annotations

import logging
import re

__all__ = ["QUIET_LOGGERS", "install"]

#: Loggers whose records below WARNING are dropped (a filter applies to the records of its own logger only,
#: so every logger that logs is named, not just the parent).
QUIET_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "sqlalchemy.engine",
    "sqlalchemy.engine.Engine",
    "sqlalchemy.pool",
)
ACCESS_LOGGER = "uvicorn.access"

_URL = re.compile(r"(https?://[^/\s'\"<>]+)[^\s'\"<>]*")


def _origin_only(text: str) -> str:
    return _URL.sub(r"\1/…", text)


class _QuietBelowWarning(logging.Filter):
    """Drops records below WARNING; reduces URLs in the rest to their origin."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        record.msg = _origin_only(record.getMessage())
        record.args = None
        return True


class _AccessWithoutQuery(logging.Filter):
    """uvicorn's access line (client, method, path, version, status) with the query string cut off."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


def install() -> None:
    """Attach the filters (idempotent)."""
    for name in QUIET_LOGGERS:
        _attach(logging.getLogger(name), _QuietBelowWarning)
    _attach(logging.getLogger(ACCESS_LOGGER), _AccessWithoutQuery)


def _attach(logger: logging.Logger, kind: type[logging.Filter]) -> None:
    if not any(isinstance(existing, kind) for existing in logger.filters):
        logger.addFilter(kind())
