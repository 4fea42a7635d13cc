"""Fact paths used in rule files and card templates, checked against `PatientSnapshot`'s pydantic fields.

This module sits below both `cds.rules` and `cds.cards` (it imports neither),
so the packages import in one direction only: `cds.rules` uses `cds.cards`,
never the reverse (except for type hints).

A fact path is a dotted path into the snapshot (``age``, ``cfs.score``,
``scores.lace.points``, ``readmission_risk.probability``). `resolve` walks the
model fields (``X | None`` unwrapped) and returns the kind of value at the end,
so the loader can refuse unknown facts and type mismatches before anything runs.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel

from cds.facts.snapshot import PatientSnapshot, ScoreResult

# Names under which `cds.scores` stores results in `PatientSnapshot.scores` (see its field description).
SCORE_NAMES: tuple[str, ...] = ("lace", "hospital", "hospital_simplified", "hfrs", "charlson")

# List facts that rules count (value-set membership or time windows) and the item filters each allows.
CODED_LISTS: dict[str, tuple[str, ...]] = {
    "conditions": ("in_current_encounter", "active"),
    "procedures": ("in_current_encounter",),
    "labs": ("in_current_encounter", "abnormal", "followed_up"),
    "medications": ("active",),
}
# Lists of plain codes (tuple[str, ...]) and what their codes are. A municipal service code ``s``
# is the suffix of the value set ``municipal-service.s`` the facts layer matched, and also a code
# of the local code system (docs/fhir-conventions.md, rules/valuesets/services.yaml).
MUNICIPAL_SERVICE_SYSTEM = "https://fhir.cds-frailty.no/CodeSystem/municipal-service"


@dataclass(frozen=True)
class CodeList:
    """A list fact of plain codes: the value-set id prefix of a code and its code system."""

    valueset_prefix: str
    system: str


CODE_LISTS: dict[str, CodeList] = {
    "municipal_services_before": CodeList("municipal-service.", MUNICIPAL_SERVICE_SYSTEM),
    "municipal_services_after": CodeList("municipal-service.", MUNICIPAL_SERVICE_SYSTEM),
}
EVENT_LISTS: dict[str, tuple[str, ...]] = {
    "admissions": ("emergency",),
    "ed_visits": ("emergency",),
    "outpatient_visits": ("emergency",),
}


@dataclass(frozen=True)
class FactKind:
    """What a fact path holds: ``number``, ``bool``, ``str`` (``choices`` for enums), ``date`` or ``list``."""

    kind: str
    choices: tuple[str, ...] = ()
    integer: bool = False

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return {"number": "a number", "bool": "true/false", "str": "text", "date": "a date", "list": "a list", "group": "a group of facts", "other": "a value"}[self.kind]


class UnknownFact(Exception):
    """The path names no fact; the message says which part and what exists there."""


def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _kind_of(annotation: Any) -> FactKind | type[BaseModel] | str:
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        return FactKind("list")
    if origin is dict:
        return "dict"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return annotation
        if issubclass(annotation, Enum):
            return FactKind("str", choices=tuple(str(m.value) for m in annotation))
        if issubclass(annotation, bool):
            return FactKind("bool")
        if issubclass(annotation, int):
            return FactKind("number", integer=True)
        if issubclass(annotation, float):
            return FactKind("number")
        if issubclass(annotation, str):
            return FactKind("str")
        if issubclass(annotation, (date, datetime)):
            return FactKind("date")
    return FactKind("other")


def resolve(path: str, *, partial: bool = False) -> FactKind:
    """The kind of value at a dotted snapshot path; raises `UnknownFact` with a helpful message.

    With ``partial`` a path may stop at a group of facts (``cfs``, ``scores.lace``),
    as templates may do; the kind is then ``group``.
    """
    parts = path.split(".")
    model: type[BaseModel] = PatientSnapshot
    walked: list[str] = []
    index = 0
    while index < len(parts):
        part = parts[index]
        fields = model.model_fields
        if part not in fields:
            where = ".".join(walked) or "the snapshot"
            raise UnknownFact(f"{where} has no fact {part!r}")
        walked.append(part)
        kind = _kind_of(fields[part].annotation)
        index += 1
        if kind == "dict":  # scores: dict[str, ScoreResult]
            if index >= len(parts):
                if partial:
                    return FactKind("group")
                raise UnknownFact(f"{path!r} is a table of scores; name one: {', '.join(SCORE_NAMES)}")
            name = parts[index]
            if name not in SCORE_NAMES:
                raise UnknownFact(f"unknown score {name!r} in {path!r}; known scores: {', '.join(SCORE_NAMES)}")
            walked.append(name)
            index += 1
            model = ScoreResult
            if index >= len(parts):
                if partial:
                    return FactKind("group")
                raise UnknownFact(f"{path!r} is a score result; use e.g. {path}.points or {path}.band")
            continue
        if isinstance(kind, type):
            model = kind
            if index >= len(parts):
                if partial:
                    return FactKind("group")
                subfields = ", ".join(n for n in model.model_fields)
                raise UnknownFact(f"{path!r} is a group of facts; name one of: {subfields}")
            continue
        if index < len(parts):
            raise UnknownFact(f"{'.'.join(walked)!r} is a single value and has no part {parts[index]!r}")
        return kind
    raise UnknownFact(f"{path!r} is not a fact")  # pragma: no cover - loop always returns or raises


def value_at(snapshot: PatientSnapshot, path: str) -> Any:
    """The value at a dotted path (None when any step is unknown); enums become their text value."""
    value: Any = snapshot
    for part in path.split("."):
        if value is None:
            return None
        if isinstance(value, dict):
            value = value.get(part)
        else:
            value = getattr(value, part, None)
    if isinstance(value, Enum):
        return value.value
    return value


def top_level_facts() -> tuple[str, ...]:
    return tuple(PatientSnapshot.model_fields)
