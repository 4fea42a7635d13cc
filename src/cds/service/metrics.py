"""Operational metrics in the Prometheus text format (``GET /metrics``), with ``prometheus_client``.

What is measured:

* ``cds_hook_calls_total{service,status}``: hook calls answered, by service and HTTP status;
* ``cds_hook_call_seconds{service}``: how long answering took (histogram, from the
  first byte of the request read to the response built);
* ``cds_cards_total{rule}``: cards served, by rule id;
* ``cds_fhir_fetch_failures_total{service}``: calls whose absent prefetch could not be
  read from the client's FHIR server (an error, or past the fetch time budget);
* ``cds_audit_spool_depth``: audit items waiting in this host's spool for the database
  (`cds.store.spool.AuditSpool.depth`, read when scraped; 0 while nothing waits);
* ``cds_ruleset_info{digest,version}``: 1 for the rule set the answering process serves,
  with its published version (`cds.service.publishing`; empty without a store).

The metrics live in this module (one set per process), as Prometheus clients
expect. With several workers (``cds serve --workers N``) ``cds serve`` names a
fresh directory in ``PROMETHEUS_MULTIPROC_DIR`` before the workers start; each
worker then writes its values there and any worker's ``/metrics`` answers for
all of them (`prometheus_client.multiprocess`). ``cds_ruleset_info`` and
``cds_audit_spool_depth`` are read when scraped: the rule set of the worker that
answered, and the spool file all workers of the host share.

``/metrics`` is off unless ``auth.metrics_token`` is set; a scraper then sends it as a
bearer token (Prometheus: ``authorization: {credentials: ...}``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = [
    "CONTENT_TYPE",
    "MULTIPROCESS_ENV",
    "card_served",
    "fetch_failed",
    "hook_call",
    "render",
]

#: The environment variable naming the directory of the workers' metric files.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Seconds; CDS Hooks clients expect an answer in about 0.5 s, the fetch budget is 2 s.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)

_REGISTRY = CollectorRegistry(auto_describe=True)

_CALLS = Counter("cds_hook_calls", "Hook calls answered, by service and HTTP status.", ("service", "status"),
                 registry=_REGISTRY)
_LATENCY = Histogram("cds_hook_call_seconds", "Time to answer a hook call, by service.", ("service",),
                     buckets=_LATENCY_BUCKETS, registry=_REGISTRY)
_CARDS = Counter("cds_cards", "Cards served, by rule id.", ("rule",), registry=_REGISTRY)
_FETCH_FAILURES = Counter("cds_fhir_fetch_failures",
                          "Calls whose absent prefetch could not be read from the FHIR server.", ("service",),
                          registry=_REGISTRY)


def hook_call(service: str, status: int, seconds: float) -> None:
    """Count one answered hook call and its duration."""
    _CALLS.labels(service, str(status)).inc()
    _LATENCY.labels(service).observe(seconds)


def card_served(rule_ids: Iterable[str]) -> None:
    """Count the cards of one answer, by rule id."""
    for rule in rule_ids:
        _CARDS.labels(rule or "-").inc()


def fetch_failed(service: str) -> None:
    """Count one call whose prefetch could not be read from the client's FHIR server."""
    _FETCH_FAILURES.labels(service).inc()


class _State:
    """What is read when scraped: the serving rule set (digest, published version) and the spool depth."""

    def __init__(self, rules: Any, version: Callable[[], int | None] | None,
                 spool_depth: Callable[[], int] | None) -> None:
        self._rules = rules
        self._version = version
        self._spool_depth = spool_depth

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("cds_ruleset_info", "The rule set this process serves (1).",
                                   labels=("digest", "version"))
        if self._rules is not None:
            version = self._version() if self._version is not None else None
            family.add_metric((str(self._rules.current().digest), "" if version is None else str(version)), 1)
        yield family
        spool = GaugeMetricFamily("cds_audit_spool_depth", "Audit items waiting in the local spool for the database.")
        spool.add_metric((), self._spool_depth() if self._spool_depth is not None else 0)
        yield spool


def render(rules: Any, *, version: Callable[[], int | None] | None = None,
           spool_depth: Callable[[], int] | None = None) -> bytes:
    """The metrics in the Prometheus text format: all workers' when in multiprocess mode.

    ``version`` and ``spool_depth`` are asked when scraped (the published rule-set version, the spool's entries).
    """
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(_Registered())
    registry.register(_State(rules, version, spool_depth))
    return generate_latest(registry)


class _Registered:
    """This process's metrics (single-process mode)."""

    def collect(self) -> Iterator[Any]:
        return iter(_REGISTRY.collect())
