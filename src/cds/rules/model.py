"""Compiled rules and the findings they produce."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cds.rules.conditions import Cond
from cds.rules.expressions import FactExpr, Value
from cds.rules.schema import RuleFile


@dataclass(frozen=True)
class CompiledCard:
    """A rule's card with its templates compiled (language -> template), see `cds.cards`."""

    spec: Any  # cds.rules.schema.CardSpec
    summary: dict[str, Any]
    detail: dict[str, Any]
    suggestion_templates: dict[str, Any]  # template source -> CompiledTemplate


@dataclass(frozen=True)
class Rule:
    """One rule variant ready to run: parameters resolved, condition compiled.

    A rule with a municipality override compiles to two variants: the default
    one (``variant`` None, for every other municipality and for an unknown one)
    and one per overriding layer (``variant`` = the layer name, guarded by the
    municipality condition).
    """

    id: str
    version: str
    file: str
    line: int
    hooks: tuple[str, ...]
    parameters: dict[str, Value]
    condition: Cond
    derive: dict[str, Value]
    exclusive_group: str | None
    priority: int
    fallback: bool
    stratum: int
    variant: str | None
    municipalities: tuple[str, ...]  # non-empty only for a municipality variant
    excluded_municipalities: tuple[str, ...]  # default variant: those served by variants
    definition: RuleFile
    card: CompiledCard | None = None
    suggestion_conditions: dict[str, Cond] = field(default_factory=dict)  # suggestion id -> its `when`

    @cached_property
    def key(self) -> str:
        """Unique name of this variant inside a rule set (asked for several times per evaluation: kept)."""
        return self.id if self.variant is None else f"{self.id}@{self.variant}"

    def expressions(self) -> list[FactExpr]:
        from cds.rules.conditions import expressions

        return expressions(self.condition)


@dataclass(frozen=True)
class Finding:
    """A rule that fired for a patient at a hook, and why."""

    rule_id: str
    rule_version: str
    hook: str
    matched: dict[str, Value | None]
    parameters: dict[str, Value]
    derived: dict[str, Value]
    outputs: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ruleId": self.rule_id,
            "ruleVersion": self.rule_version,
            "hook": self.hook,
            "variant": self.variant,
            "matched": dict(self.matched),
            "parameters": dict(self.parameters),
            "derived": dict(self.derived),
            "outputs": dict(self.outputs),
        }
