"""The one interface every published score implements, and the shared arithmetic.

A score turns a `PatientSnapshot` into a `ScoreResult` made of `ScoreItem`s.
An item whose data is not in the record is *unknown* (``points=None``) and
carries the most it could add (``max_points``): a missing haemoglobin is not a
normal haemoglobin. `finish` totals the known items, finds the band of that
total and says whether the unknown items could move the score into another
band (the lowest reachable total is the known total, the highest adds every
unknown item's maximum).
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from cds.facts.snapshot import PatientSnapshot, ScoreItem, ScoreResult

__all__ = [
    "Band",
    "PointsRow",
    "Score",
    "band_of",
    "bands_from",
    "finish",
    "known",
    "months_before",
    "points_for",
    "points_rows",
    "unknown",
]


@runtime_checkable
class Score(Protocol):
    """A published score computed from the snapshot."""

    name: str

    def score(self, snapshot: PatientSnapshot) -> ScoreResult: ...


@dataclass(frozen=True)
class Band:
    """A risk band starting at ``min`` (inclusive unless ``exclusive``), up to the next band."""

    band: str
    min: float
    exclusive: bool = False
    en: str | None = None
    nb: str | None = None

    def admits(self, points: float) -> bool:
        return points > self.min if self.exclusive else points >= self.min


def bands_from(rows: Sequence[Mapping[str, Any]]) -> tuple[Band, ...]:
    """Bands from a data table, checked to be in ascending order."""
    bands = tuple(
        Band(
            band=str(r["band"]),
            min=float(r["min"]),
            exclusive=bool(r.get("exclusive", False)),
            en=r.get("en"),
            nb=r.get("nb"),
        )
        for r in rows
    )
    if any(a.min > b.min for a, b in zip(bands, bands[1:], strict=False)):
        raise ValueError("bands must be in ascending order")
    return bands


def band_of(points: float, bands: Sequence[Band]) -> str | None:
    """The band a total falls in (the last band whose start admits it)."""
    found: str | None = None
    for band in bands:
        if band.admits(points):
            found = band.band
    return found


@dataclass(frozen=True)
class PointsRow:
    """A row of a points table: ``min`` to ``max`` inclusive (``max`` None = open) gives ``points``."""

    min: int
    max: int | None
    points: float


def points_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[PointsRow, ...]:
    """A points table from a data table."""
    return tuple(
        PointsRow(int(r["min"]), None if r.get("max") is None else int(r["max"]), float(r["points"])) for r in rows
    )


def points_for(value: int, rows: Sequence[PointsRow]) -> float:
    """The points a count or number of days earns in a points table."""
    for row in rows:
        if value >= row.min and (row.max is None or value <= row.max):
            return row.points
    raise ValueError(f"{value} is outside the points table")


def known(name: str, points: float, value: Any, used: Iterable[str], *, max_points: float) -> ScoreItem:
    """An item computed from data."""
    return ScoreItem(name=name, points=points, value=value, used=tuple(used), unknown=False, max_points=max_points)


def unknown(name: str, why: str, *, max_points: float, used: Iterable[str] = ()) -> ScoreItem:
    """An item whose data is not in the record: no points, the most it could add, and why."""
    return ScoreItem(
        name=name, points=None, value=None, used=(*used, why), unknown=True, max_points=max_points
    )


def finish(
    name: str,
    items: Sequence[ScoreItem],
    bands: Sequence[Band],
    *,
    applicable: bool = True,
    note: str | None = None,
    ndigits: int | None = None,
) -> ScoreResult:
    """Total, band and unknown-item summary of a score's items."""
    total = 0.0
    unknown_max = 0.0
    unknown_names: list[str] = []
    for item in items:
        if item.points is not None:
            total += item.points
        if item.unknown:
            unknown_max += item.max_points or 0.0
            unknown_names.append(item.name)
    reachable_max = total + unknown_max
    if ndigits is not None:
        total = round(total, ndigits)
        reachable_max = round(reachable_max, ndigits)
    unknown_items = tuple(unknown_names)
    band = band_of(total, bands) if bands else None
    could_change = bool(bands) and bool(unknown_items) and band_of(reachable_max, bands) != band
    return ScoreResult(
        name=name,
        points=float(total),
        band=band,
        items=tuple(items),
        unknown_items=unknown_items,
        band_could_change=could_change,
        applicable=applicable,
        note=note,
    )


_Moment = TypeVar("_Moment", date, datetime)


def months_before(moment: _Moment, months: int) -> _Moment:
    """The same calendar moment ``months`` months earlier (end-of-month clamped).

    The calendar arithmetic of ``moment - dateutil.relativedelta(months=months)``
    (same year/month carry, day clamped to the month's length, time and
    timezone kept), written out because relativedelta's general machinery cost
    more than the rest of a score.
    """
    year, month0 = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    return moment.replace(year=year, month=month0 + 1, day=min(moment.day, monthrange(year, month0 + 1)[1]))
