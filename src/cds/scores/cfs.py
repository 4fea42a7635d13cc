"""Interpreting a Clinical Frailty Scale (CFS v2.0) level.

`interpret_cfs(score, age)` gives the level name (nb and en), its band, whether
the level is *uncertain* (within ``uncertainty_levels`` of a decision cut point,
so one level of rating error would change the decision) and the validity
caveat for patients younger than the validated age. All names, bands, cut
points and limits come from ``data/cfs.yaml``. Only level names are used: the
CFS descriptions are copyrighted and cards link to them instead.

`cfs_cut_points()` is that table's list of decision cut points: the one source
of the "uncertain" flag wherever it is shown (this module, the card helper
``cfs_level``, ``cds score``), and the list the rule loader checks every CFS
threshold of a rule condition against.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cds.scores._data import DataTableError, load_yaml

__all__ = [
    "CfsCutPoint",
    "CfsInterpretation",
    "cfs_cut_points",
    "cfs_levels",
    "cfs_max_age_days",
    "cfs_uncertainty_levels",
    "interpret_cfs",
]


class CfsCutPoint(BaseModel):
    """A decision threshold on the scale: ``>= at`` versus ``< at``; ``en``/``nb`` name the decision."""

    model_config = ConfigDict(frozen=True)

    id: str
    at: int  # a level of the scale above its lowest (checked against ``levels`` by `cfs_cut_points`)
    en: str
    nb: str
    source: str


class CfsInterpretation(BaseModel):
    """What a CFS level means for the engine."""

    model_config = ConfigDict(frozen=True)

    level: int = Field(ge=1, le=9)
    name_en: str
    name_nb: str
    band: str = Field(description="'fit' (1-3), 'very-mild-frailty' (4), 'frail' (5-8) or 'terminally-ill' (9)")
    band_en: str
    band_nb: str
    frail: bool = Field(description="level is in the 'frail' band (5-8)")
    uncertain: bool = Field(description="within the uncertainty margin of at least one decision cut point")
    uncertain_cut_points: tuple[CfsCutPoint, ...] = ()
    uncertainty_levels: int = Field(description="the margin: levels of rating error that count as uncertain")
    validity_caveat: str | None = Field(
        default=None, description="'under-validated-age' (age below 65) or 'age-unknown'; None when valid"
    )
    caveat_en: str | None = None
    caveat_nb: str | None = None
    link: str


@cache
def _table() -> dict[str, Any]:
    return load_yaml("cfs.yaml")


@cache
def cfs_cut_points() -> tuple[CfsCutPoint, ...]:
    """The decision cut points of ``data/cfs.yaml``, ascending, labels with ``{at}`` filled in."""
    cuts = tuple(
        CfsCutPoint(
            id=c["id"],
            at=c["at"],
            en=c["en"].format(at=c["at"]),
            nb=c["nb"].format(at=c["at"]),
            source=" ".join(str(c["source"]).split()),
        )
        for c in _table()["cut_points"]
    )
    at = [c.at for c in cuts]
    scale = cfs_levels()
    if at != sorted(set(at)) or not all(c.source for c in cuts) or not set(at) <= set(scale[1:]):
        raise DataTableError(
            "cfs.yaml: cut points must be ascending, distinct, levels of the scale above its lowest, "
            "and each name its source"
        )
    return cuts


def cfs_levels() -> tuple[int, ...]:
    """The levels of the scale (``levels`` of ``data/cfs.yaml``), ascending."""
    return tuple(sorted(int(level) for level in _table()["levels"]))


def cfs_max_age_days(level: int) -> int:
    """How many days a CFS of ``level`` stays current (``max_age_days``, shortened by ``level_max_age_days``).

    A score older than this is history: it may be shown, dated, but decides nothing.
    """
    table = _table()
    window = int(table["max_age_days"])
    horizon = table.get("level_max_age_days", {}).get(level)
    return min(window, int(horizon)) if horizon is not None else window


def cfs_uncertainty_levels() -> int:
    """How many levels of rating error make a score uncertain near a cut point (``uncertainty_levels``)."""
    return int(_table()["uncertainty_levels"])


def interpret_cfs(score: int, age: int | None) -> CfsInterpretation:
    """Name, band, uncertainty and validity caveat of CFS level ``score`` for a patient of ``age``.

    Raises ``ValueError`` for a level outside 1-9.
    """
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 9:
        raise ValueError(f"CFS level must be an integer 1-9, got {score!r}")
    table = _table()
    names = table["levels"][score]
    band = next(b for b in table["bands"] if b["min"] <= score <= b["max"])
    margin = cfs_uncertainty_levels()
    # `margin` levels of error flip the side of cut point c for levels c - margin .. c + margin - 1.
    near = tuple(c for c in cfs_cut_points() if c.at - margin <= score <= c.at + margin - 1)
    min_age = int(table["validated_min_age"])
    caveat: str | None = None
    caveat_en = caveat_nb = None
    if age is None:
        caveat = "age-unknown"
        caveat_en = f"Age unknown: the CFS is validated for people aged {min_age} and older."
        caveat_nb = f"Alder ukjent: CFS er validert for personer som er {min_age} år eller eldre."
    elif age < min_age:
        caveat = "under-validated-age"
        caveat_en = f"The CFS is not validated for people younger than {min_age} (patient is {age})."
        caveat_nb = f"CFS er ikke validert for personer under {min_age} år (pasienten er {age})."
    return CfsInterpretation(
        level=score,
        name_en=names["en"],
        name_nb=names["nb"],
        band=band["band"],
        band_en=band["en"],
        band_nb=band["nb"],
        frail=band["band"] == "frail",
        uncertain=bool(near),
        uncertain_cut_points=near,
        uncertainty_levels=margin,
        validity_caveat=caveat,
        caveat_en=caveat_en,
        caveat_nb=caveat_nb,
        link=table["link"],
    )
