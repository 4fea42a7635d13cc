"""Synthetic Norwegian national identity numbers (syntetiske fødselsnumre) for generated cohorts.

A synthetic fødselsnummer has the shape of a real one (DDMMYY + three-digit
individual number + two mod-11 check digits) but **80 is added to the month**,
the convention for synthetic test identities in the national test environments
(Skatteetaten / Test-Norge). A month of 81-92 can never be a real person's
number, so a generated cohort can never collide with a real identity, while
validators that check the mod-11 digits still accept it.

>>> number = synthetic_fnr(date(1938, 5, 17), individual=123)
>>> number[2:4]
'85'
>>> is_valid_fnr(number)
True
"""

from __future__ import annotations

from datetime import date

from cds.fhir.identity import check_digits, is_valid_person_number

__all__ = ["SYNTHETIC_MONTH_OFFSET", "check_digits", "is_synthetic", "is_valid_fnr", "synthetic_fnr"]

SYNTHETIC_MONTH_OFFSET = 80


def is_valid_fnr(number: str) -> bool:
    """True when ``number`` is 11 digits with correct mod-11 check digits (`cds.fhir.identity`)."""
    return is_valid_person_number(number)


def is_synthetic(number: str) -> bool:
    """True when the month field carries the +80 synthetic marker."""
    return is_valid_fnr(number) and 81 <= int(number[2:4]) <= 92


def _individual_range(year: int) -> range:
    """Individual numbers allowed for a birth year (the century is coded in them)."""
    if 1900 <= year <= 1999:
        return range(0, 500)
    if 2000 <= year <= 2039:
        return range(500, 1000)
    if 1854 <= year <= 1899:
        return range(500, 750)
    raise ValueError(f"no fødselsnummer century for birth year {year}")


def synthetic_fnr(birth: date, individual: int) -> str:
    """A valid synthetic fødselsnummer for ``birth``, starting the search at ``individual``.

    Individual numbers whose check digits do not exist are skipped (as in the
    real register); the search wraps around inside the century's range.
    """
    allowed = _individual_range(birth.year)
    start = allowed.start + (individual % len(allowed))
    head = f"{birth.day:02d}{birth.month + SYNTHETIC_MONTH_OFFSET:02d}{birth.year % 100:02d}"
    for step in range(len(allowed)):
        candidate = allowed.start + (start - allowed.start + step) % len(allowed)
        nine = f"{head}{candidate:03d}"
        digits = check_digits(nine)
        if digits is not None:
            return nine + digits
    raise ValueError(f"no valid synthetic fødselsnummer for {birth}")  # pragma: no cover - never for real dates
