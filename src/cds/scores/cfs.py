"""Interpreting a Clinical Frailty Scale (CFS v2.0) level.

`interpret_cfs(score, age)` gives the level name (nb and en), its band, whether
the level is *uncertain* (within ``uncertainty_levels`` of a decision cut point,
so one level of rating error would change the decision) and the validity
caveat for patients younger than the validated age. All names, bands, cut
points and limits come from ``data/cfs.yaml``. Only level names are used: the
CFS descriptions are copyrighted and cards link to them instead.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cds.scores._data import load_yaml

__all__ = ["CfsCutPoint", "CfsInterpretation", "interpret_cfs"]


class CfsCutPoint(BaseModel):
    """A decision threshold on the scale: ``>= at`` versus ``< at``."""

    model_config = ConfigDict(frozen=True)

    at: int
    en: str
    nb: str


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
    validity_caveat: str | None = Field(
        default=None, description="'under-validated-age' (age below 65) or 'age-unknown'; None when valid"
    )
    caveat_en: str | None = None
    caveat_nb: str | None = None
    link: str


@cache
def _table() -> dict[str, Any]:
    return load_yaml("cfs.yaml")


def interpret_cfs(score: int, age: int | None) -> CfsInterpretation:
    """Name, band, uncertainty and validity caveat of CFS level ``score`` for a patient of ``age``.

    Raises ``ValueError`` for a level outside 1-9.
    """
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 9:
        raise ValueError(f"CFS level must be an integer 1-9, got {score!r}")
    table = _table()
    names = table["levels"][score]
    band = next(b for b in table["bands"] if b["min"] <= score <= b["max"])
    margin = int(table["uncertainty_levels"])
    cut_points = tuple(CfsCutPoint(**c) for c in table["cut_points"])
    # One level of error flips the side of cut point c for levels c - margin .. c + margin - 1.
    near = tuple(c for c in cut_points if c.at - margin <= score <= c.at + margin - 1)
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
        validity_caveat=caveat,
        caveat_en=caveat_en,
        caveat_nb=caveat_nb,
        link=table["link"],
    )
