"""The fact catalogue for rules: re-exported from `cds.factpaths` (its home, shared with `cds.cards`)."""

from cds.factpaths import (
    CODE_LISTS,
    CODED_LISTS,
    EVENT_LISTS,
    MUNICIPAL_SERVICE_SYSTEM,
    SCORE_NAMES,
    CodeList,
    FactKind,
    UnknownFact,
    resolve,
    top_level_facts,
    value_at,
)

__all__ = [
    "CODED_LISTS",
    "CODE_LISTS",
    "EVENT_LISTS",
    "MUNICIPAL_SERVICE_SYSTEM",
    "SCORE_NAMES",
    "CodeList",
    "FactKind",
    "UnknownFact",
    "resolve",
    "top_level_facts",
    "value_at",
]
