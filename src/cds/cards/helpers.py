"""Template helpers for card text, per card language: number filters, `cfs_level`, `label`.

Mechanisms only; the data stay in data files:

* ``num(digits)`` / ``pct(digits)`` format with Babel (CLDR) for the card
  language: nb "12,1 %" (decimal comma, no-break space before %, narrow
  no-break space between digit groups: "12 345"), en "12.1%" / "12,345".
* ``cfs_level(score, age)`` -> `CfsLevel`: the CFS level name, band, whether the
  level is uncertain and the validity caveat for the age, from
  `cds.scores.cfs.interpret_cfs` (which reads ``src/cds/scores/data/cfs.yaml``).
  ``age`` defaults to the patient's ``age``. Prints as the level name.
* ``label(group, key)``: the card-language text of an internal key (a score
  band such as ``high``, a model feature such as ``los_days``) from
  ``rules/codesystems/labels.yaml``; an unknown key prints as the key itself
  when serving and fails in embedded tests.

Unknown values (None) print as "ukjent"/"unknown" like any other fact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.numbers import NumberPattern, parse_pattern
from jinja2 import Undefined, pass_context
from jinja2.runtime import Context

from cds.scores.cfs import cfs_max_age_days, interpret_cfs

LABELS_KEY = "__labels__"  # context entry holding the rule set's labels (group -> key -> {nb, en})
HELPER_NAMES: tuple[str, ...] = ("cfs_level", "label")
_NBSP = "\u00a0"
_PATIENT_AGE = object()  # cfs_level's default: the patient's age from the template context
_NARROW_NBSP = "\u202f"


def _missing(value: Any) -> bool:
    if value is None or isinstance(value, (Undefined, bool)):
        return True
    return isinstance(value, float) and not math.isfinite(value)


def _pattern(digits: int) -> str:
    return "#,##0" + ("." + "0" * digits if digits > 0 else "")


@lru_cache(maxsize=64)
def _parsed(pattern: str) -> NumberPattern:
    """A Babel number pattern parsed once (what `format_decimal`/`format_percent` parse on every call)."""
    return parse_pattern(pattern)


def number_filters(language: str | None, unknown: str) -> dict[str, Callable[..., str]]:
    """``num`` (fixed decimals, grouped digits) and ``pct`` (a probability as per cent) for a language.

    Same output as Babel's ``format_decimal`` / ``format_percent`` with the
    pattern and locale, without parsing either again on every call; the text
    of a number already formatted (an age, a score's points) is remembered.
    """
    locale = "nb" if language == "nb" else "en"
    cldr = Locale.parse(locale)

    def local(text: str) -> str:
        if locale == "nb":  # CLDR groups with a no-break space; Norwegian typography: a thin one
            text = text.replace(_NBSP, _NARROW_NBSP).replace("\u2212", "-")
        return text

    @lru_cache(maxsize=4096)
    def formatted(value: float, pattern: str, sign: bool) -> str:
        """Babel's text of a finite float (``sign``: negative or -0.0, so 0.0 and -0.0 never share an entry)."""
        return local(_parsed(pattern).apply(value, cldr))

    def num(value: Any, digits: int = 0) -> str:
        if _missing(value):
            return unknown
        number = float(value)
        return formatted(number, _pattern(int(digits)), math.copysign(1.0, number) < 0)

    def pct(value: Any, digits: int = 0) -> str:
        if _missing(value):
            return unknown
        number = float(value)
        text = formatted(number, _pattern(int(digits)) + "%", math.copysign(1.0, number) < 0)
        return text.replace("%", _NBSP + "%") if locale == "nb" else text

    return {"num": num, "pct": pct}


@dataclass(frozen=True)
class CfsLevel:
    """A CFS level in one card language; prints as its name."""

    level: int
    name: str
    band: str  # band text in the card language
    band_key: str  # 'fit', 'very-mild-frailty', 'frail', 'terminally-ill'
    frail: bool
    uncertain: bool
    uncertain_cut_points: tuple[str, ...]  # the cut points within the margin, in the card language
    uncertainty_levels: int  # the margin (levels) of data/cfs.yaml
    caveat: str | None  # validity caveat for the age (None when valid)
    link: str
    max_age_days: int  # how long a score of this level stays current (data/cfs.yaml validity window)

    def __str__(self) -> str:
        return self.name


def _cfs_level(language: str | None, unknown: str) -> Callable[..., Any]:
    english = language != "nb"

    @pass_context
    def cfs_level(context: Context, score: Any, age: Any = _PATIENT_AGE) -> CfsLevel | None:
        if age is _PATIENT_AGE:
            age = context.get("age")
        if _missing(score) or not isinstance(score, int):
            return None
        if isinstance(age, Undefined) or not isinstance(age, int) or isinstance(age, bool):
            age = None
        try:
            found = interpret_cfs(score, age)
        except ValueError:
            return None
        return CfsLevel(
            level=found.level,
            name=found.name_en if english else found.name_nb,
            band=found.band_en if english else found.band_nb,
            band_key=found.band,
            frail=found.frail,
            uncertain=found.uncertain,
            uncertain_cut_points=tuple(c.en if english else c.nb for c in found.uncertain_cut_points),
            uncertainty_levels=found.uncertainty_levels,
            caveat=found.caveat_en if english else found.caveat_nb,
            link=found.link,
            max_age_days=cfs_max_age_days(found.level),
        )

    return cfs_level


class LabelMissing(LookupError):
    """A label key has no text (raised only when rendering strictly)."""


def _label(language: str | None, strict: bool) -> Callable[..., Any]:
    lang = "nb" if language == "nb" else "en"

    @pass_context
    def label(context: Context, group: str, key: Any) -> Any:
        if _missing(key):
            return None
        labels: Mapping[str, Mapping[str, Mapping[str, str]]] = context.get(LABELS_KEY) or {}
        text = labels.get(group, {}).get(str(key), {}).get(lang)
        if text is None:
            if strict:
                raise LabelMissing(f"no {lang} label for {key!r} in group {group!r} (rules/codesystems/labels.yaml)")
            return str(key)
        return text

    return label


def helper_globals(language: str | None, unknown: str, strict: bool) -> dict[str, Any]:
    return {"cfs_level": _cfs_level(language, unknown), "label": _label(language, strict)}
