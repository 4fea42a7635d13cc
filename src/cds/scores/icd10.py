"""ICD-10 codes in the snapshot: which codings are ICD-10, and prefix code lists.

Codes are compared in normalised form: dots and spaces removed, upper case
(``i50.1`` -> ``I501``). The Norwegian edition (OID 2.16.578.1.12.4.1.1.7110),
WHO ICD-10 and ICD-10-CM are all accepted: the score code lists use the shared
three- and four-character ICD-10 stems, which the three systems have in common.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import NamedTuple

from cds.facts.snapshot import Coding, ConditionFact

__all__ = ["ICD10_SYSTEMS", "CodeMatch", "PrefixCodeList", "describe", "icd10_codes", "normalise_icd10"]

#: Code systems read as ICD-10.
ICD10_SYSTEMS: frozenset[str] = frozenset(
    {
        "urn:oid:2.16.578.1.12.4.1.1.7110",  # ICD-10, Norwegian edition (Direktoratet for e-helse)
        "http://hl7.org/fhir/sid/icd-10",  # WHO ICD-10
        "http://hl7.org/fhir/sid/icd-10-cm",  # ICD-10-CM (US)
    }
)


_SYSTEM_LABELS = {
    "urn:oid:2.16.578.1.12.4.1.1.7110": "ICD-10 (NO)",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
}


def describe(coding: Coding) -> str:
    """``"I50.0 (ICD-10 (NO))"``: a coding in words, for an item's ``used`` list."""
    return f"{coding.code} ({_SYSTEM_LABELS.get(coding.system or '', coding.system or 'no system')})"


def normalise_icd10(code: str) -> str:
    """``"i50.1 "`` -> ``"I501"``: strip dots and whitespace, upper-case."""
    return "".join(ch for ch in code if ch not in ". \t\r\n").upper()


def icd10_codes(codings: Iterable[Coding]) -> Iterator[tuple[str, Coding]]:
    """The normalised ICD-10 codes among ``codings`` with the coding each came from."""
    for coding in codings:
        if coding.system in ICD10_SYSTEMS and coding.code:
            code = normalise_icd10(coding.code)
            if code:
                yield code, coding


class CodeMatch(NamedTuple):
    """One list entry (``category`` via ``prefix``) matched by one ICD-10 code of a condition.

    A named tuple: several are made per scored snapshot, and a tuple is the cheapest immutable record.
    """

    category: str
    prefix: str
    code: str
    coding: Coding
    condition: ConditionFact


#: Distinct codings remembered per code list (their matches); beyond this the least recently used go.
CODING_CACHE_SIZE = 8192


class PrefixCodeList:
    """Categories defined by ICD-10 code prefixes (a code matches every prefix it starts with).

    The prefixes are a dict keyed by the prefix itself, built once; the matches
    of a coding (system and code as written) are remembered in a bounded LRU
    cache, so a code seen before costs one lookup instead of normalising it
    and trying every prefix length again.
    """

    def __init__(self, rows: Iterable[tuple[str, str]]) -> None:
        self._by_prefix: dict[str, list[str]] = {}
        for category, prefix in rows:
            key = normalise_icd10(prefix)
            if not key:
                raise ValueError(f"empty ICD-10 prefix for category {category!r}")
            self._by_prefix.setdefault(key, []).append(category)
        self._lengths = sorted({len(p) for p in self._by_prefix}, reverse=True)
        self.coding_matches = lru_cache(maxsize=CODING_CACHE_SIZE)(self._coding_matches)

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(c for cats in self._by_prefix.values() for c in cats)

    def match_code(self, code: str) -> list[tuple[str, str]]:
        """(category, prefix) pairs matched by a normalised code."""
        found: list[tuple[str, str]] = []
        for n in self._lengths:
            prefix = code[:n]
            if len(prefix) == n:
                found.extend((c, prefix) for c in self._by_prefix.get(prefix, ()))
        return found

    def _coding_matches(self, system: str | None, code: str | None) -> tuple[tuple[str, str, str], ...]:
        """(category, prefix, normalised code) for a coding; empty when it is not an ICD-10 code or matches nothing."""
        if system not in ICD10_SYSTEMS or not code:
            return ()
        normalised = normalise_icd10(code)
        if not normalised:
            return ()
        return tuple((category, prefix, normalised) for category, prefix in self.match_code(normalised))

    def match_conditions(self, conditions: Iterable[ConditionFact]) -> list[CodeMatch]:
        """Every (category, code) match in ``conditions``, in input order."""
        matches: list[CodeMatch] = []
        for condition in conditions:
            for coding in condition.codings:
                for category, prefix, code in self.coding_matches(coding.system, coding.code):
                    matches.append(CodeMatch(category, prefix, code, coding, condition))
        return matches
