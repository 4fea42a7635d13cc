"""`RuleSet`: a loaded, immutable rule set and its evaluation.

    >>> rules = RuleSet.load(Path("rules"))                 # doctest: +SKIP
    >>> rules.evaluate("encounter-start", snapshot)          # doctest: +SKIP
    [Finding(rule_id='cfs-screening-due', ...)]

Evaluation: the snapshot is projected onto one flat message (see
`cds.rules.expressions`), the durable-rules engine matches it (see
`cds.rules.engine`), derived facts chain level by level, and exclusive groups
keep one winner each: the matched rule with the highest ``priority``.
`evaluate_python` runs the same compiled conditions without the engine (used
by explain, the benchmark and the consistency tests).

Expression values are computed once per snapshot: the rule set keeps them
with the snapshot (a `cds.facts.memo.IdentityMemo`, so they go when the
snapshot goes), and the suggestion conditions the cards decide after
evaluation read the values the projection already computed. A snapshot is
immutable (frozen), so a value never goes stale; a changed snapshot is a new
object (``model_copy``) with values of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cds.cards.topics import Topic
from cds.facts.memo import IdentityMemo
from cds.facts.snapshot import PatientSnapshot
from cds.rules import conditions as c
from cds.rules.engine import CompiledRuleset, EngineError, EngineRule
from cds.rules.enginevalues import engine_value
from cds.rules.errors import RuleError, RuleSetError, RuleWarning
from cds.rules.expressions import DerivedExpr, FactExpr, Value
from cds.rules.loader import LoadedRules, load_rules
from cds.rules.model import Finding, Rule
from cds.terminology import Terminology

if TYPE_CHECKING:
    from cds.rules.explain import Explanation


@dataclass(frozen=True)
class RuleOutcome:
    """Result of one evaluation: findings plus what explain and tests need."""

    findings: list[Finding]
    fired: list[str]  # rule keys whose condition was true (before exclusive groups)
    lost: dict[str, str]  # rule key -> key of the group winner it lost to
    derived: dict[str, Value]
    values: dict[str, Value] = field(default_factory=dict)  # expression text -> value (known ones)


class _HookProgram:
    """The rules of one hook, their expressions and their compiled engine ruleset."""

    def __init__(self, ruleset: RuleSet, hook: str, rules: list[Rule]) -> None:
        self.hook = hook
        self.rules = rules
        self.by_key = {r.key: r for r in rules}
        texts: dict[str, FactExpr] = {}
        for rule in rules:
            for expr in rule.expressions():
                texts.setdefault(expr.text, expr)
        for name in ruleset.derived:  # derived facts are message fields too
            if name in ruleset.expressions:
                texts.setdefault(name, ruleset.expressions[name])
        self.keys = {text: f"f{i}" for i, text in enumerate(sorted(texts))}
        self.exprs = {self.keys[t]: e for t, e in texts.items() if not isinstance(e, DerivedExpr)}
        self.text_of = {k: t for t, k in self.keys.items()}
        self.top = max((r.stratum for r in rules), default=0)
        self.matched_texts = {r.key: tuple(e.text for e in r.expressions()) for r in rules}  # what a finding reports
        self._ruleset = ruleset
        engine_rules = [EngineRule(r.key, r.stratum, c.to_durable(r.condition, self.keys)) for r in rules]
        try:
            self.engine = CompiledRuleset(f"{ruleset.digest[:12]}_{hook.replace('-', '_')}", engine_rules, self._close)
        except EngineError as exc:
            raise RuleSetError(self._refused(engine_rules, exc)) from None

    def _refused(self, engine_rules: list[EngineRule], exc: EngineError) -> list[RuleError]:
        """The rules durable-rules cannot take on their own, each at its file and line (the whole set if none)."""
        errors = []
        for rule, engine_rule in zip(self.rules, engine_rules, strict=True):
            try:
                CompiledRuleset("probe", [engine_rule], lambda level, fired: {})
            except EngineError as alone:
                errors.append(RuleError(rule.file, rule.line, f"the rule engine cannot compile this rule's condition "
                                        f"({alone})", hint="simplify `when`: fewer nested any/all alternatives"))
        return errors or [RuleError(str(self._ruleset.directory), None, str(exc),
                                    hint="simplify the conditions of the rules of this hook")]

    def _close(self, level: int, fired: list[str]) -> dict[str, Value]:
        derived, _ = self._ruleset._derive([self.by_key[k] for k in fired], level)
        return {self.keys[name]: value for name, value in derived.items() if name in self.keys}


class RuleSet:
    """An immutable rule set, loaded whole or not at all (see `load`)."""

    def __init__(self, loaded: LoadedRules) -> None:
        self.directory: Path = loaded.directory
        self.rules: list[Rule] = loaded.rules
        self.digest: str = loaded.digest
        self.terminology: Terminology = loaded.terminology
        self.municipal_terminology = loaded.municipal_terminology
        self.topics: dict[str, Topic] = loaded.topics
        self.topic_system: str = loaded.topic_system
        self.derived = loaded.derived
        self.labels = loaded.labels
        self.expressions = loaded.expressions
        self.warnings: list[RuleWarning] = loaded.warnings  # loaded with, shown by `cds rules check` and the service
        self.loaded = loaded
        self.hooks = sorted({h for r in self.rules for h in r.hooks})
        self._level_defaults: dict[int, list[tuple[str, Value]]] = {}  # level -> its derived facts' defaults, in rule order
        self._values = IdentityMemo()  # snapshot -> {expression text: engine-safe value, None when unknown}
        # id(rule) -> the distinct expressions of its suggestion conditions (the rules live as long as the rule set)
        self._suggestion_exprs: dict[int, tuple[FactExpr, ...]] = {id(r): _suggestion_exprs(r) for r in self.rules}
        self._programs = {h: _HookProgram(self, h, [r for r in self.rules if h in r.hooks]) for h in self.hooks}

    @classmethod
    def load(cls, directory: Path, overrides: Sequence[Path] = ()) -> RuleSet:
        """Load and compile a rule directory with optional override layers; raises `RuleSetError`."""
        return cls(load_rules(Path(directory), list(overrides)))

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id and rule.variant is None:
                return rule
        raise KeyError(rule_id)

    def terminology_for(self, snapshot: PatientSnapshot) -> Terminology:
        if snapshot.municipality and snapshot.municipality in self.municipal_terminology:
            return self.municipal_terminology[snapshot.municipality]
        return self.terminology

    # -- derived facts and exclusive groups ------------------------------------------
    def _derive(self, fired: list[Rule], level: int) -> tuple[dict[str, Value], dict[str, str]]:
        """Derived values set at one level by the rules that fired there, and the exclusive losers."""
        winners, lost = _resolve_groups(fired)
        derived: dict[str, Value] = {}
        for rule in winners:
            derived.update({k: v for k, v in rule.derive.items() if v is not None})
        for name, default in self._defaults_at(level):  # defaults of the facts this level derives
            if name not in derived:
                derived[name] = default
        return derived, lost

    def _defaults_at(self, level: int) -> list[tuple[str, Value]]:
        """(name, default) of every derived fact the rules of ``level`` set, in rule order (known defaults only)."""
        found = self._level_defaults.get(level)
        if found is None:
            found = []
            for rule in self.rules:
                if rule.stratum == level:
                    for name in rule.derive:
                        default = self.derived[name].default
                        if default is not None:
                            found.append((name, default))
            self._level_defaults[level] = found
        return found

    def _outcome(self, hook: str, program: _HookProgram, message: dict[str, Value], fired_keys: list[str]) -> RuleOutcome:
        fired = [program.by_key[k] for k in fired_keys]
        derived: dict[str, Value] = {}
        lost: dict[str, str] = {}
        for level in range(program.top + 1):
            values, level_lost = self._derive([r for r in fired if r.stratum == level], level)
            derived.update(values)
            lost.update(level_lost)
        values = {program.text_of[k]: v for k, v in message.items() if k in program.text_of}
        values.update({name: v for name, v in derived.items()})
        findings = []
        for rule in fired:
            if rule.key in lost:
                continue
            matched = {text: values.get(text) for text in program.matched_texts[rule.key]}
            outputs: dict[str, Any] = {}
            if rule.card is not None:
                outputs["topic"] = rule.card.spec.topic
            if rule.exclusive_group:
                outputs["exclusive_group"] = rule.exclusive_group
            findings.append(
                Finding(
                    rule_id=rule.id,
                    rule_version=rule.version,
                    hook=hook,
                    matched=matched,
                    parameters=dict(rule.parameters),
                    derived=dict(rule.derive),
                    outputs=outputs,
                    variant=rule.variant,
                )
            )
        return RuleOutcome(findings=findings, fired=fired_keys, lost=lost, derived=derived, values=values)

    # -- evaluation --------------------------------------------------------------------
    def _known_values(self, snapshot: PatientSnapshot) -> dict[str, Value | None]:
        """The expression values computed so far for this snapshot (filled in by `_value`)."""
        return self._values.get(snapshot, None, dict)

    def _value(self, expr: FactExpr, snapshot: PatientSnapshot, known: dict[str, Value | None]) -> Value | None:
        """The engine-safe value of ``expr`` for the snapshot (`cds.rules.enginevalues`), None when unknown."""
        try:
            return known[expr.text]
        except KeyError:
            value = known[expr.text] = engine_value(expr.compute(snapshot, self.terminology_for(snapshot)))
            return value

    def _project(self, program: _HookProgram, snapshot: PatientSnapshot) -> dict[str, Value]:
        """One flat message: expression key -> engine-safe primitive value; unknown values left out."""
        known = self._known_values(snapshot)
        terminology = None
        message: dict[str, Value] = {}
        for key, expr in program.exprs.items():  # `_value`, inlined: this loop runs for every expression of every call
            text = expr.text
            if text in known:
                value = known[text]
            else:
                if terminology is None:
                    terminology = self.terminology_for(snapshot)
                value = known[text] = engine_value(expr.compute(snapshot, terminology))
            if value is not None:
                message[key] = value
        return message

    def project(self, hook: str, snapshot: PatientSnapshot) -> dict[str, Value]:
        """The message the engine matches for this hook (see `_project`)."""
        program = self._programs.get(hook)
        if program is None:
            return {}
        return self._project(program, snapshot)

    def run(self, hook: str, snapshot: PatientSnapshot) -> RuleOutcome:
        """Evaluate through the durable-rules engine, with everything explain and tests need."""
        program = self._programs.get(hook)
        if program is None:
            return RuleOutcome([], [], {}, {})
        message = self._project(program, snapshot)
        fired = program.engine.run(message, engine_safe=True)
        return self._outcome(hook, program, message, fired)

    def evaluate(self, hook: str, snapshot: PatientSnapshot) -> list[Finding]:
        """Findings of the rules that fire for this patient at this hook (empty when none)."""
        return self.run(hook, snapshot).findings

    def evaluate_python(self, hook: str, snapshot: PatientSnapshot, message: Mapping[str, Value] | None = None) -> RuleOutcome:
        """The same evaluation in plain Python (no engine): the reference for explain and the benchmark."""
        program = self._programs.get(hook)
        if program is None:
            return RuleOutcome([], [], {}, {})
        if message is None:
            message = self._project(program, snapshot)
        values = {program.text_of[k]: v for k, v in message.items()}
        fired: list[str] = []
        for level in range(program.top + 1):
            now_fired = [r for r in program.rules if r.stratum == level and c.evaluate(r.condition, values) is True]
            fired += [r.key for r in now_fired]
            derived, _ = self._derive(now_fired, level)
            values.update(derived)
        return self._outcome(hook, program, dict(message), fired)

    def suggestion_values(self, rule: Rule, snapshot: PatientSnapshot, derived: Mapping[str, Any]) -> dict[str, Value]:
        """Values of the expressions the rule's suggestion conditions use (known ones only).

        Suggestions are decided after evaluation, in Python, on the same
        engine-safe values as rules (the ones the projection computed, see the
        module docstring); a derived fact no finding set takes its default.
        """
        exprs = self._suggestion_exprs.get(id(rule))
        if exprs is None:  # a rule of another rule set
            exprs = _suggestion_exprs(rule)
        known = self._known_values(snapshot)
        values: dict[str, Value] = {}
        for expr in exprs:
            if isinstance(expr, DerivedExpr):
                value = derived.get(expr.name, self.derived[expr.name].default if expr.name in self.derived else None)
            else:
                value = self._value(expr, snapshot, known)
            if value is not None:
                values[expr.text] = value
        return values

    def suggestions_offered(self, rule: Rule, snapshot: PatientSnapshot, derived: Mapping[str, Any]) -> dict[str, bool | None]:
        """Suggestion id -> three-valued result of its ``when`` (only suggestions that have one).

        A card offers a conditional suggestion only when the result is true.
        """
        if not rule.suggestion_conditions:
            return {}
        values = self.suggestion_values(rule, snapshot, derived)
        return {sid: c.evaluate(cond, values) for sid, cond in rule.suggestion_conditions.items()}

    def explain(self, hook: str, snapshot: PatientSnapshot) -> Explanation:
        """Why each rule fired or not (see `cds.rules.explain.Explanation`)."""
        from cds.rules.explain import explain

        return explain(self, hook, snapshot)

    def __repr__(self) -> str:
        return f"RuleSet({len(self.rules)} rules, hooks={self.hooks}, digest={self.digest[:12]})"


def _suggestion_exprs(rule: Rule) -> tuple[FactExpr, ...]:
    """The expressions of a rule's suggestion conditions, each text once, in order of first use."""
    exprs: dict[str, FactExpr] = {}
    for cond in rule.suggestion_conditions.values():
        for expr in c.expressions(cond):
            exprs.setdefault(expr.text, expr)
    return tuple(exprs.values())


def _resolve_groups(fired: list[Rule]) -> tuple[list[Rule], dict[str, str]]:
    """Keep one rule per exclusive group: the highest priority among those that fired."""
    best: dict[str, Rule] = {}
    for rule in fired:
        if rule.exclusive_group is None:
            continue
        current = best.get(rule.exclusive_group)
        if current is None or rule.priority > current.priority:
            best[rule.exclusive_group] = rule
    winners, lost = [], {}
    for rule in fired:
        group = rule.exclusive_group
        if group is not None and best[group].key != rule.key:
            lost[rule.key] = best[group].key
        else:
            winners.append(rule)
    return winners, lost
