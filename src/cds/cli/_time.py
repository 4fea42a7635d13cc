"""The one time rule of the command line: every ``--now``, ``--at``, ``--from`` and ``--to`` is read here.

An ISO 8601 date-time with an offset is that instant; without an offset it is
clinical time (the ``clinical_timezone`` setting, Europe/Oslo by default); a
bare date is a fixed time of that day in clinical time (midnight, or noon for
``--at``). Each option's ``--help`` says so (`NAIVE_IS_CLINICAL`).
"""

from __future__ import annotations

import os
from datetime import datetime, time, tzinfo

from cds.cli import UserError

__all__ = ["NAIVE_IS_CLINICAL", "cli_zone", "parse_time"]

#: What every time option's help says about times without an offset.
NAIVE_IS_CLINICAL = "ISO 8601; without an offset it is clinical time (Europe/Oslo, setting clinical_timezone)"


def cli_zone(zone_name: str | None = None) -> tzinfo:
    """The clinical zone: ``zone_name`` (from loaded settings), else ``$CDS_CLINICAL_TIMEZONE``, else Europe/Oslo."""
    from cds.clinicaltime import DEFAULT_ZONE_NAME, zone

    name = zone_name or os.environ.get("CDS_CLINICAL_TIMEZONE") or DEFAULT_ZONE_NAME
    try:
        return zone(name)
    except ValueError as exc:
        raise UserError(f"clinical_timezone: {exc}") from None


def parse_time(value: str, option: str, clinical_zone: tzinfo, *, bare_date_at: time = time(0, 0)) -> datetime:
    """``value`` of ``option`` as an aware instant (see the module docstring); UserError when it is not a time."""
    from cds.clinicaltime import parse_moment

    try:
        return parse_moment(value, clinical_zone, bare_date_at=bare_date_at)
    except ValueError:
        raise UserError(
            f"{option} {value!r} is not a date or date-time in ISO 8601 (e.g. 2026-11-20 or 2026-11-20T11:00)"
        ) from None
