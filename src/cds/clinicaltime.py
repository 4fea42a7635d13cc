"""Clinical time: the calendar (an IANA zone, Europe/Oslo by default) in which dates mean something.

A birthday, "dag 3 av oppholdet", a stay's length in days and a date printed
on a card are calendar facts, and a Norwegian clinician reads them on the
Norwegian calendar: at 00:30 in Oslo (23:30 UTC the day before) a patient born
on this day has had the birthday. The service clock is UTC and ``--now`` may
carry any offset, so the snapshot builder converts ``now`` into the clinical
zone before it reckons any date (`cds.facts.build_snapshot`). Elapsed-time
windows (24-hour deadlines, "within 72 hours") are instants and durations,
the same in every zone. The zone is passed in like ``now``; nothing reads it
from a global.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DEFAULT_ZONE", "DEFAULT_ZONE_NAME", "clinical_now", "in_zone", "local_date", "parse_moment", "zone"]

DEFAULT_ZONE_NAME = "Europe/Oslo"


@cache
def zone(name: str) -> tzinfo:
    """The IANA zone ``name``; ValueError saying what to give when it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; give an IANA name such as Europe/Oslo") from None


#: The default clinical zone (the `clinical_timezone` setting's default).
DEFAULT_ZONE = zone(DEFAULT_ZONE_NAME)


def clinical_now(moment: datetime, clinical_zone: tzinfo) -> datetime:
    """The instant ``moment`` at the clinical zone's offset of that instant, as a fixed offset.

    Its ``date()`` is the clinical date, and arithmetic on it is elapsed time
    (``now - timedelta(hours=24)`` is 24 hours earlier even on a 25-hour day;
    within one ZoneInfo Python subtracts wall-clock time).
    """
    local = in_zone(moment, clinical_zone)
    offset = local.utcoffset()
    return local.replace(tzinfo=timezone(offset) if offset is not None else clinical_zone)


def in_zone(moment: datetime, clinical_zone: tzinfo) -> datetime:
    """The same instant on the clinical calendar (``moment`` must be aware)."""
    if moment.tzinfo is None:
        raise ValueError("a clinical moment must be timezone-aware")
    return moment.astimezone(clinical_zone)


def local_date(moment: datetime, clinical_zone: tzinfo) -> date:
    """The calendar date of an aware instant in the clinical zone."""
    return in_zone(moment, clinical_zone).date()


def parse_moment(text: str, clinical_zone: tzinfo, *, bare_date_at: time = time(0, 0)) -> datetime:
    """An ISO 8601 date or date-time as an aware instant; without an offset it is clinical time.

    A bare date (``2026-11-20``) is that day at ``bare_date_at`` in the clinical
    zone. Raises ValueError for anything else. On the DST change days a naive
    time that does not exist (02:30 on the last Sunday of March) or exists twice
    (02:30 on the last Sunday of October) is read with ``fold=0`` (the offset
    before the change), as `zoneinfo` does.
    """
    text = text.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime.combine(day, bare_date_at, tzinfo=clinical_zone)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=clinical_zone)
