"""The rule-file language: pydantic models of a rule file and an override file.

This module is the single definition of the format. `export_json_schema` turns
it into the JSON Schema in ``rules/schema/`` that editors use to validate while
one types; ``docs/rules-guide.md`` explains it with examples. Semantic checks
that need more than one file (fact names, parameter references, value sets,
templates, derived-fact cycles) live in `cds.rules.loader`.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

HOOKS: tuple[str, ...] = (
    "patient-view",
    "encounter-start",
    "encounter-discharge",
    "order-select",
    "order-sign",
    "appointment-book",
)
LANGUAGES: tuple[str, ...] = ("nb", "en")
OPERATORS: tuple[str, ...] = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "contains")

Hook = Literal["patient-view", "encounter-start", "encounter-discharge", "order-select", "order-sign", "appointment-book"]
Operator = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "contains"]
Scalar = Union[bool, int, float, str]
ParamType = Literal["int", "float", "bool", "str"]
RULE_ID = r"^[a-z0-9][a-z0-9-]*$"
PARAM_REF = r"^\$[a-z_][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Text(_Strict):
    """Clinician-facing text in Norwegian bokmål (``nb``) and English (``en``); both are required."""

    nb: str = Field(min_length=1, description="Norwegian bokmål")
    en: str = Field(min_length=1, description="English")


class Parameter(_Strict):
    """A named threshold a quality team tunes without touching the logic."""

    type: ParamType
    default: Scalar = Field(description="value used unless an override changes it")
    unit: str | None = Field(default=None, description="UCUM-style unit, e.g. 'a' (years), 'd' (days)")
    description: str = Field(min_length=1)
    source: str | None = Field(default=None, description="seed file:lines or paper the default comes from")


class CountSpec(_Strict):
    """Count items of a list fact: coded items in a value set, dated events in a time window,
    or the codes of a code list (``municipal_services_before`` / ``_after``)."""

    facts: Literal[
        "conditions",
        "procedures",
        "labs",
        "medications",
        "admissions",
        "ed_visits",
        "outpatient_visits",
        "municipal_services_before",
        "municipal_services_after",
    ]
    value_set: str | None = Field(default=None, description="value-set id (coded lists and code lists)")
    codes: list[str] | None = Field(
        default=None, min_length=1, description="code lists only: count only these codes (literal or $param)"
    )
    not_in: str | None = Field(
        default=None, description="code lists only: count only codes absent from this other code list (e.g. new services)"
    )
    within_days: int | str | None = Field(
        default=None, description="events starting within this many days before `now` (event lists), or $param"
    )
    where: dict[str, bool] = Field(default_factory=dict, description="item filters, e.g. in_current_encounter: true")


class Leaf(_Strict):
    """One test of one fact expression: a comparison (op + value) or a presence test (known/unknown)."""

    fact: str | None = Field(default=None, description="dotted snapshot path or derived fact name")
    count: CountSpec | None = None
    days_since: str | None = Field(default=None, description="date fact; its age in whole days at `now`")
    op: Operator | None = None
    value: Scalar | list[Scalar] | None = Field(default=None, description="literal or $parameter")
    known: Literal[True] | None = None
    unknown: Literal[True] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Leaf:
        subjects = [n for n in ("fact", "count", "days_since") if getattr(self, n) is not None]
        if len(subjects) != 1:
            raise ValueError("a condition names exactly one of 'fact', 'count' or 'days_since'")
        tests = [n for n in ("op", "known", "unknown") if getattr(self, n) is not None]
        if len(tests) != 1:
            raise ValueError("a condition has exactly one of 'op' (with 'value'), 'known: true' or 'unknown: true'")
        if self.op is not None and self.value is None:
            raise ValueError(f"operator {self.op!r} needs a 'value'")
        if self.op is None and self.value is not None:
            raise ValueError("'value' needs an 'op'")
        return self


class AllOf(_Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(_Strict):
    any: list[Condition] = Field(min_length=1)


class NotOf(_Strict):
    not_: Condition = Field(alias="not")


def _condition_kind(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("all", "any", "not"):
            if key in value:
                return key
        return "leaf"
    if isinstance(value, BaseModel):
        return {AllOf: "all", AnyOf: "any", NotOf: "not"}.get(type(value), "leaf")
    return "leaf"


Condition = Annotated[
    Union[
        Annotated[AllOf, Tag("all")],
        Annotated[AnyOf, Tag("any")],
        Annotated[NotOf, Tag("not")],
        Annotated[Leaf, Tag("leaf")],
    ],
    Discriminator(_condition_kind),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


class Derivation(_Strict):
    """A derived fact this rule sets when it fires (e.g. ``frail: true``, ``pathway: B``)."""

    type: ParamType
    value: Scalar = Field(description="literal or $parameter")
    default: Scalar | None = Field(default=None, description="value when no rule derives it (else unknown)")
    description: str = Field(min_length=1)


class Exclusive(_Strict):
    """Exactly one rule of a group wins per evaluation: the highest priority among those that matched."""

    group: str = Field(pattern=RULE_ID)
    priority: int
    fallback: bool = Field(default=False, description="the group's catch-all (lowest priority) outcome")


class LinkSpec(_Strict):
    label: Text
    url: str = Field(pattern=r"^https?://")
    type: Literal["absolute", "smart"] = "absolute"


class OverrideReasonSpec(_Strict):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    display: Text


class ActionSpec(_Strict):
    type: Literal["create", "update"] = "create"
    description: Text
    resource: dict[str, Any] = Field(description="FHIR resource template; strings are Jinja2 templates")


class SuggestionSpec(_Strict):
    id: str = Field(pattern=RULE_ID, description="stable id; the suggestion uuid derives from card uuid + id")
    label: Text
    recommended: bool = False
    when: Condition | None = Field(
        default=None, description="offer this suggestion only when this condition (the rule condition language) is true"
    )
    actions: list[ActionSpec] = Field(min_length=1)


class CardSpec(_Strict):
    topic: str = Field(description="code from rules/codesystems/card-topic.yaml")
    indicator: Literal["info", "warning", "critical"]
    summary: Text = Field(description="Jinja2 template; rendered < 140 characters")
    detail: Text | None = Field(default=None, description="Jinja2 template (Markdown)")
    source_label: Text | None = None
    links: list[LinkSpec] = Field(default_factory=list)
    override_reasons: list[OverrideReasonSpec] = Field(default_factory=list)
    selection_behavior: Literal["at-most-one", "any"] | None = None
    suggestions: list[SuggestionSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _selection(self) -> CardSpec:
        if self.suggestions and self.selection_behavior is None:
            raise ValueError("a card with suggestions needs 'selection_behavior' (at-most-one or any)")
        return self


class Source(_Strict):
    seed: list[str] = Field(default_factory=list, description="seed references 'file:lines'")
    paper: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Source:
        if not self.seed and not self.paper:
            raise ValueError("name a 'seed' reference (file:lines) or a 'paper'")
        return self


class Expectation(_Strict):
    cards: list[str] = Field(default_factory=list, description="card topics that must be present")
    no_cards: list[str] = Field(default_factory=list, description="card topics that must be absent")
    no_card: bool = Field(default=False, description="no card at all")
    derived: dict[str, Scalar | None] = Field(default_factory=dict, description="derived facts after evaluation")
    suggestions: list[str] = Field(default_factory=list, description="suggestion ids that must be offered (on any card)")
    no_suggestions: list[str] = Field(default_factory=list, description="suggestion ids that must not be offered")
    text: dict[Literal["nb", "en"], list[str]] = Field(
        default_factory=dict, description="per language: each text must appear in the summary or detail of a card"
    )
    no_text: dict[Literal["nb", "en"], list[str]] = Field(
        default_factory=dict, description="per language: no card's summary or detail may contain these texts"
    )


class TestCase(_Strict):
    name: str = Field(min_length=1)
    hook: Hook
    now: datetime | date | None = Field(default=None, description="default 2025-01-15T12:00:00Z")
    given: dict[str, Any] | None = Field(default=None, description="inline snapshot facts")
    persona: str | None = Field(default=None, description="FHIR Bundle path relative to the repository")
    patient: str | None = None
    encounter: str | None = None
    municipality: str | None = Field(default=None, description="shortcut for given.municipality")
    expect: Expectation

    @model_validator(mode="after")
    def _input(self) -> TestCase:
        if (self.given is None) == (self.persona is None):
            raise ValueError("a test case has exactly one of 'given' (inline facts) or 'persona' (bundle path)")
        return self


class RuleFile(_Strict):
    """One rule: when its conditions hold for a patient at a hook, it yields a finding (and a card)."""

    id: str = Field(pattern=RULE_ID)
    version: str = Field(pattern=r"^\d+\.\d+(\.\d+)?$")
    title: Text
    description: Text | None = None
    hooks: list[Hook] = Field(min_length=1)
    addresses: Literal["living", "any"] = Field(
        default="living",
        description=(
            "whom the rule's card addresses: 'living' (default) - never fires for a patient recorded as deceased "
            "(the rule set adds the guard, docs/clinical-safety.md); 'any' - also fires after death"
        ),
    )
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    when: Condition
    derive: dict[str, Derivation] = Field(default_factory=dict)
    exclusive: Exclusive | None = None
    card: CardSpec | None = None
    source: Source
    tests: list[TestCase] = Field(default_factory=list)

    @model_validator(mode="after")
    def _does_something(self) -> RuleFile:
        if self.card is None and not self.derive:
            raise ValueError("a rule needs a 'card', a 'derive' section, or both")
        return self


class AppliesTo(_Strict):
    site: str | None = None
    municipality: list[str] | None = Field(default=None, description="municipality numbers (kommunenummer)")

    @model_validator(mode="after")
    def _one(self) -> AppliesTo:
        if (self.site is None) == (self.municipality is None):
            raise ValueError("applies_to names exactly one of 'site' or 'municipality'")
        return self


class OverrideFile(_Strict):
    """A layered site or municipality variant: changed parameters and added value-set codes."""

    override: str = Field(pattern=RULE_ID, description="name of this override layer")
    description: str = Field(min_length=1)
    applies_to: AppliesTo
    parameters: dict[str, dict[str, Scalar]] = Field(default_factory=dict, description="rule id -> parameter -> value")
    valuesets: list[dict[str, Any]] = Field(
        default_factory=list, description="value sets in the rules/valuesets format; codes are added"
    )
    source: str | None = None


def export_json_schema(directory: Path) -> list[Path]:
    """Write ``rule.schema.json`` and ``override.schema.json`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in (("rule", RuleFile), ("override", OverrideFile)):
        schema = model.model_json_schema(by_alias=True)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://fhir.cds-frailty.no/schema/{name}.schema.json"
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
