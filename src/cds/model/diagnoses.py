"""Primary-diagnosis group: ICD-10 (Norwegian records) and ICD-9-CM (training data) to ICD-10 chapters.

The tables are ``data/diagnosis_groups.yaml``: the ICD-10 chapter ranges (WHO),
the ICD-9-CM chapter each corresponds to, and the chapters that keep their own
group in the model (the rest are group 0, "other"). A code that fits no chapter
gives chapter None, which is group 0 as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

__all__ = ["OTHER_GROUP", "diagnosis_group", "icd9_chapter", "icd10_chapter"]

OTHER_GROUP = 0
_ICD10_CATEGORY = re.compile(r"^([A-Z])(\d{2})")
_ICD9_NUMERIC = re.compile(r"^(\d{1,3})(?:\.\d*)?$")


@dataclass(frozen=True)
class _Tables:
    icd10: tuple[tuple[str, str, int], ...]
    icd9: tuple[tuple[int, int, int], ...]
    icd9_e: int
    icd9_v: int
    own_groups: frozenset[int]


@cache
def _tables() -> _Tables:
    raw: dict[str, Any] = yaml.safe_load(
        resources.files("cds.model").joinpath("data/diagnosis_groups.yaml").read_text(encoding="utf-8")
    )
    return _Tables(
        icd10=tuple((str(lo), str(hi), int(ch)) for ch, (lo, hi) in raw["icd10_chapters"].items()),
        icd9=tuple((int(r["from"]), int(r["to"]), int(r["icd10_chapter"])) for r in raw["icd9_chapters"]),
        icd9_e=int(raw["icd9_e_codes_chapter"]),
        icd9_v=int(raw["icd9_v_codes_chapter"]),
        own_groups=frozenset(int(c) for c in raw["own_group_chapters"]),
    )


def icd10_chapter(code: str) -> int | None:
    """ICD-10 chapter (1-22) of a code like ``I50.9`` or ``I509``; None when it is not an ICD-10 code."""
    match = _ICD10_CATEGORY.match(code.strip().upper())
    if match is None:
        return None
    category = match.group(1) + match.group(2)
    for low, high, chapter in _tables().icd10:
        if low <= category <= high:
            return chapter
    return None


def icd9_chapter(code: str) -> int | None:
    """The ICD-10 chapter an ICD-9-CM code (``428``, ``250.83``, ``V57``, ``E885``) corresponds to."""
    text = code.strip().upper()
    tables = _tables()
    if text.startswith("V"):
        return tables.icd9_v
    if text.startswith("E"):
        return tables.icd9_e
    match = _ICD9_NUMERIC.match(text)
    if match is None:
        return None
    number = int(match.group(1))
    for low, high, chapter in tables.icd9:
        if low <= number <= high:
            return chapter
    return None


def diagnosis_group(chapter: int | None) -> int:
    """The model's group for an ICD-10 chapter: the chapter itself when it has its own group, else 0."""
    return chapter if chapter is not None and chapter in _tables().own_groups else OTHER_GROUP
