"""Explain: for one patient and hook, why every rule fired or did not.

Each rule gets a status and, for every condition, the fact value, the operator,
the threshold (and the parameter it came from) and the three-valued result, so
a clinician or quality team can see which fact was missing or which threshold
was not reached.

Statuses: ``fired`` (produced a finding), ``lost`` (matched, but another rule of
its exclusive group had a higher priority), ``not-fired`` (a condition was
false), ``unknown`` (no condition was false but one was unknown: a missing fact
kept the rule from firing), ``suppressed`` (matched, but the evaluation removed its
finding), ``not-for-hook`` (the rule does not run at this hook).

`explain_outcome` traces an evaluation that already ran (the service's and
``cds evaluate``'s `cds.evaluation.Evaluation.explain`); `explain` runs the
rule set on a snapshot first (for rule authors' tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cds.facts.snapshot import PatientSnapshot
from cds.rules import conditions as c

if TYPE_CHECKING:
    from cds.rules.model import Finding, Rule
    from cds.rules.ruleset import RuleOutcome, RuleSet


def _fmt(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True)
class ConditionTrace:
    """One test of one fact: value, operator, threshold and the three-valued result."""

    fact: str
    value: Any
    op: str
    threshold: Any
    parameter: str | None
    result: bool | None
    line: int
    negated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "fact": self.fact,
            "value": self.value,
            "op": self.op,
            "threshold": list(self.threshold) if isinstance(self.threshold, tuple) else self.threshold,
            "parameter": self.parameter,
            "result": self.result,
            "line": self.line,
            "negated": self.negated,
        }

    def __str__(self) -> str:
        result = {True: "true", False: "false", None: "UNKNOWN"}[self.result]
        threshold = "" if self.op in ("known", "unknown") else f" {_fmt(self.threshold)}"
        param = f" (${self.parameter})" if self.parameter else ""
        neg = " [inside not]" if self.negated else ""
        return f"{self.fact} = {_fmt(self.value)}  {self.op}{threshold}{param}  -> {result}{neg}"


@dataclass(frozen=True)
class SuggestionTrace:
    """A conditional suggestion of a fired rule: offered or not, and why."""

    suggestion_id: str
    result: bool | None
    conditions: list[ConditionTrace] = field(default_factory=list)

    @property
    def offered(self) -> bool:
        return self.result is True

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.suggestion_id, "offered": self.offered, "result": self.result, "conditions": [t.to_dict() for t in self.conditions]}


@dataclass(frozen=True)
class RuleTrace:
    rule_id: str
    version: str
    variant: str | None
    file: str
    status: str
    conditions: list[ConditionTrace] = field(default_factory=list)
    lost_to: str | None = None
    derived: dict[str, Any] = field(default_factory=dict)
    topic: str | None = None
    suggestions: list[SuggestionTrace] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ruleId": self.rule_id,
            "version": self.version,
            "variant": self.variant,
            "file": self.file,
            "status": self.status,
            "lostTo": self.lost_to,
            "topic": self.topic,
            "derived": self.derived,
            "conditions": [t.to_dict() for t in self.conditions],
            "suggestions": [s.to_dict() for s in self.suggestions],
        }


@dataclass(frozen=True)
class Explanation:
    hook: str
    digest: str
    rules: list[RuleTrace]
    derived: dict[str, Any]

    def rule(self, rule_id: str) -> RuleTrace:
        return next(r for r in self.rules if r.rule_id == rule_id)

    def to_dict(self) -> dict[str, Any]:
        return {"hook": self.hook, "rulesetDigest": self.digest, "derived": self.derived, "rules": [r.to_dict() for r in self.rules]}

    def to_text(self) -> str:
        lines = [f"hook {self.hook}  rule set {self.digest[:12]}"]
        if self.derived:
            lines.append("derived: " + ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(self.derived.items())))
        for rule in self.rules:
            name = rule.rule_id + (f"@{rule.variant}" if rule.variant else "")
            extra = f" (lost to {rule.lost_to})" if rule.lost_to else ""
            lines.append(f"{rule.status.upper():<13} {name} v{rule.version}{extra}  [{rule.file}]")
            for trace in rule.conditions:
                lines.append(f"    line {trace.line}: {trace}")
            for suggestion in rule.suggestions:
                state = {True: "offered", False: "not offered", None: "not offered (UNKNOWN)"}[suggestion.result]
                lines.append(f"    suggestion {suggestion.suggestion_id}: {state}")
                for trace in suggestion.conditions:
                    lines.append(f"        line {trace.line}: {trace}")
        return "\n".join(lines)


def _traces(cond: c.Cond, values: dict[str, Any], negated: bool = False) -> list[ConditionTrace]:
    if isinstance(cond, c.Compare):
        value = values.get(cond.expr.text)
        return [ConditionTrace(cond.expr.text, value, cond.op, cond.value, cond.parameter, c.evaluate(cond, values), cond.line, negated)]
    if isinstance(cond, c.Presence):
        op = "known" if cond.known else "unknown"
        return [ConditionTrace(cond.expr.text, values.get(cond.expr.text), op, None, None, c.evaluate(cond, values), cond.line, negated)]
    if isinstance(cond, c.Not):
        return _traces(cond.part, values, not negated)
    return [t for part in cond.parts for t in _traces(part, values, negated)]


def _suggestion_traces(ruleset: RuleSet, rule: Rule, snapshot: PatientSnapshot, derived: dict[str, Any]) -> list[SuggestionTrace]:
    if not rule.suggestion_conditions:
        return []
    values = ruleset.suggestion_values(rule, snapshot, derived)
    return [
        SuggestionTrace(sid, c.evaluate(cond, values), [t for t in _traces(cond, values) if t.line])
        for sid, cond in rule.suggestion_conditions.items()
    ]


def explain(ruleset: RuleSet, hook: str, snapshot: PatientSnapshot) -> Explanation:
    """Run the rule set on the snapshot and trace every rule (the engine decides what fired)."""
    outcome = ruleset.run(hook, snapshot)
    return explain_outcome(ruleset, hook, snapshot, outcome, outcome.findings)


def explain_outcome(
    ruleset: RuleSet, hook: str, snapshot: PatientSnapshot, outcome: RuleOutcome, findings: Sequence[Finding]
) -> Explanation:
    """Trace every rule of an evaluation that ran: ``fired`` is exactly the rules behind ``findings``."""
    values = dict(outcome.values)
    traces: list[RuleTrace] = []
    finding_keys = {f.rule_id + (f"@{f.variant}" if f.variant else "") for f in findings}
    matched = set(outcome.fired)
    for rule in ruleset.rules:
        topic = rule.card.spec.topic if rule.card else None
        if hook not in rule.hooks:
            traces.append(RuleTrace(rule.id, rule.version, rule.variant, rule.file, "not-for-hook", topic=topic))
            continue
        result = c.evaluate(rule.condition, values)
        if rule.key in finding_keys:
            status = "fired"
        elif rule.key in outcome.lost:
            status = "lost"
        elif rule.key in matched:
            status = "suppressed"
        elif result is None:
            status = "unknown"
        else:
            status = "not-fired"
        traces.append(
            RuleTrace(
                rule.id,
                rule.version,
                rule.variant,
                rule.file,
                status,
                conditions=[t for t in _traces(rule.condition, values) if t.line],
                lost_to=outcome.lost.get(rule.key),
                derived=dict(rule.derive) if status == "fired" else {},
                topic=topic,
                suggestions=_suggestion_traces(ruleset, rule, snapshot, outcome.derived) if status == "fired" else [],
            )
        )
    return Explanation(hook=hook, digest=ruleset.digest, rules=traces, derived=dict(outcome.derived))
