"""The development-mode clock override: the ``CDS-Dev-Now`` header sets a call's evaluation time.

The example requests in ``fhir_examples/`` describe patients at fixed moments
(Ingrid Haugen is discharged on 2026-11-20 at 11:00). Evaluated on the wall
clock they drift out of their stories as the days pass: a discharge weeks ago
is no longer "now", and cards that depend on it disappear. ``cds evaluate
--now`` fixes the clock on the command line; this header does the same over
HTTP, so the Quickstart's examples answer the promised cards on any date.

Only development mode (no client authentication, loopback only) accepts it. A
service with authentication refuses a call carrying the header, because a
production evaluation must run on the wall clock, whoever asks. The audit
record keeps the time the call was received, not the time asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from cds.service.errors import ServiceError

__all__ = ["HEADER", "evaluation_time"]

HEADER = "CDS-Dev-Now"
_EXAMPLE = "2026-11-20T11:00:00+01:00"


def evaluation_time(headers: Mapping[str, str], *, development: bool, received: datetime) -> datetime:
    """The time to evaluate a call at: the header's value in development mode, else ``received``."""
    value = headers.get(HEADER.lower())
    if value is None:
        return received
    if not development:
        raise ServiceError(
            400,
            f"{HEADER} is accepted only in development mode (no client authentication configured); "
            "send the call without it",
            code="not-supported",
            expressions=[HEADER],
        )
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ServiceError(
            400, f"{HEADER} must be an ISO 8601 date-time with a UTC offset, e.g. {_EXAMPLE}", expressions=[HEADER]
        )
    return when
