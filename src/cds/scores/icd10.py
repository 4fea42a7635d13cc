"""ICD-10 codes in the snapshot: which codings are ICD-10, and prefix code lists.

Codes are compared in normalised form: dots and spaces removed, upper case
(``i50.1`` -> ``I501``). The Norwegian edition (OID 2.16.578.1.12.4.1.1.7110),
WHO ICD-10 and ICD-10-CM are all accepted: the score code lists use the shared
three- and four-character ICD-10 stems, which the three systems have in common.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

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


@dataclass(frozen=True)
class CodeMatch:
    """One list entry (``category`` via ``prefix``) matched by one ICD-10 code of a condition."""

    category: str
    prefix: str
    code: str
    coding: Coding
    condition: ConditionFact


class PrefixCodeList:
    """Categories defined by ICD-10 code prefixes (a code matches every prefix it starts with)."""

    def __init__(self, rows: Iterable[tuple[str, str]]) -> None:
        self._by_prefix: dict[str, list[str]] = {}
        for category, prefix in rows:
            key = normalise_icd10(prefix)
            if not key:
                raise ValueError(f"empty ICD-10 prefix for category {category!r}")
            self._by_prefix.setdefault(key, []).append(category)
        self._lengths = sorted({len(p) for p in self._by_prefix}, reverse=True)

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

    def match_conditions(self, conditions: Iterable[ConditionFact]) -> list[CodeMatch]:
        """Every (category, code) match in ``conditions``, in input order."""
        matches: list[CodeMatch] = []
        for condition in conditions:
            for code, coding in icd10_codes(condition.codings):
                for category, prefix in self.match_code(code):
                    matches.append(CodeMatch(category, prefix, code, coding, condition))
        return matches
