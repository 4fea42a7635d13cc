"""Operational metrics in the Prometheus text format (``GET /metrics``), with ``prometheus_client``.

What is measured:

* ``cds_hook_calls_total{service,status}``: hook calls answered, by service and HTTP status;
* ``cds_hook_call_seconds{service}``: how long answering took (histogram, from the
  first byte of the request read to the response built);
* ``cds_cards_total{rule}``: cards served, by rule id;
* ``cds_fhir_fetch_failures_total{service}``: calls whose absent prefetch could not be
  read from the client's FHIR server (an error, or past the fetch time budget);
* ``cds_audit_spool_depth``: audit items waiting in the local spool for the database
  (set by the spool through `set_audit_spool_depth`; 0 while nothing waits);
* ``cds_ruleset_info{digest}``: 1 for the rule set the answering process serves.

The metrics live in this module (one set per process), as Prometheus clients
expect. With several workers (``cds serve --workers N``) ``cds serve`` names a
fresh directory in ``PROMETHEUS_MULTIPROC_DIR`` before the workers start; each
worker then writes its values there and any worker's ``/metrics`` answers for
all of them (`prometheus_client.multiprocess`). ``cds_ruleset_info`` is the
exception: it is the rule set of the worker that answered.

``/metrics`` is off unless ``auth.metrics_token`` is set; a scraper then sends it as a
bearer token (Prometheus: ``authorization: {credentials: ...}``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = [
    "CONTENT_TYPE",
    "MULTIPROCESS_ENV",
    "card_served",
    "fetch_failed",
    "hook_call",
    "render",
    "set_audit_spool_depth",
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
_SPOOL = Gauge("cds_audit_spool_depth", "Audit items waiting in the local spool for the database.",
               multiprocess_mode="livesum", registry=_REGISTRY)


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


def set_audit_spool_depth(items: int) -> None:
    """Set how many audit items this process holds in its spool (the spool calls it whenever that changes).

    With several workers the exported value is the sum over the live workers.
    """
    _SPOOL.set(items)


class _RuleSetInfo:
    """``cds_ruleset_info{digest}`` at scrape time, from the serving rule set of this process."""

    def __init__(self, rules: Any) -> None:
        self._rules = rules

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("cds_ruleset_info", "The rule set this process serves (1).", labels=("digest",))
        if self._rules is not None:
            family.add_metric((str(self._rules.current().digest),), 1)
        yield family


def render(rules: Any) -> bytes:
    """The metrics in the Prometheus text format: all workers' when in multiprocess mode."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(_Registered())
    registry.register(_RuleSetInfo(rules))
    return generate_latest(registry)


class _Registered:
    """This process's metrics (single-process mode)."""

    def collect(self) -> Iterator[Any]:
        return iter(_REGISTRY.collect())
