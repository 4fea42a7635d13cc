"""Load a rule directory: parse, validate, check semantics, resolve overrides, compile.

Everything is checked before anything is used, and every problem found in any
file is reported together (`RuleSetError`), each naming ``file:line``, what is
wrong and what to do. A rule set loads whole or not at all. Warnings (a CFS
threshold the CFS table does not list) do not refuse it; they travel with it
(`LoadedRules.warnings`, ``RuleSet.warnings``), in the same shape.

Directory layout (see docs/rules-guide.md)::

    rules/
      <any folder>/<rule>.yaml     rule files (one rule per file)
      valuesets/*.yaml             value sets (cds.terminology format)
      codesystems/card-topic.yaml  card topics
      overrides/*.yaml             site / municipality layers (only when passed to `load`)
      schema/                      exported JSON Schema (not read)
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from cds.cards.templates import CONTEXT_NAMES, CompiledTemplate, check_template, strings_in
from cds.cards.labels import Labels, LabelsError, load_labels
from cds.cards.topics import Topic, TopicError, load_topics
from cds.facts.snapshot import PatientSnapshot
from cds.rules import schema as s
from cds.rules.catalogue import CODE_LISTS, CODED_LISTS, EVENT_LISTS, FactKind, UnknownFact, resolve
from cds.rules.conditions import All, AnyOf, Compare, Cond, Not, Presence
from cds.rules.enginevalues import engine_value, threshold_problem
from cds.rules.errors import RuleError, RuleSetError, RuleWarning, display_path
from cds.rules.expressions import (
    CodeCountExpr,
    CountExpr,
    DaysSinceExpr,
    DerivedExpr,
    FactExpr,
    NotDeceasedExpr,
    PathExpr,
    PresenceExpr,
    Value,
    code_count_text,
    count_text,
)
from cds.rules.model import CompiledCard, Rule
from cds.rules.yamlsource import YamlDocument, YamlSyntaxError, load_yaml
from cds.scores.cfs import cfs_cut_points, cfs_levels
from cds.terminology import Terminology, TerminologyError

RESERVED_DIRS = frozenset({"valuesets", "codesystems", "overrides", "schema"})
TOPIC_FILE = Path("codesystems") / "card-topic.yaml"
LABELS_FILE = Path("codesystems") / "labels.yaml"
DEFAULT_TEST_NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
GUIDE = "docs/rules-guide.md"
CFS_FACT = "cfs.score"
NOT_DECEASED = "not_deceased"  # the living guard: `deceased` is not True (unknown counts as alive)
CFS_TABLE = "src/cds/scores/data/cfs.yaml"

_PARAM_PY: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


@dataclass
class ParsedRule:
    doc: YamlDocument
    file: str
    model: s.RuleFile


@dataclass
class ParsedOverride:
    doc: YamlDocument
    file: str
    model: s.OverrideFile


@dataclass
class LoadedRules:
    """Everything `RuleSet` needs, all checked."""

    directory: Path
    rules: list[Rule]
    parsed: list[ParsedRule]
    overrides: list[ParsedOverride]
    expressions: dict[str, FactExpr]  # expression text -> expression
    derived: dict[str, s.Derivation]  # name -> declaration (first declaring rule)
    terminology: Terminology
    municipal_terminology: dict[str, Terminology]
    topic_system: str
    topics: dict[str, Topic]
    digest: str
    labels: Labels = field(default_factory=dict)
    warnings: list[RuleWarning] = field(default_factory=list)


@dataclass
class _Errors:
    """What loading found: errors (``add``) refuse the set, warnings (``warn``) load with it."""

    items: list[RuleError] = field(default_factory=list)
    warnings: list[RuleWarning] = field(default_factory=list)

    def add(self, file: str, line: int | None, message: str, hint: str = "") -> None:
        self.items.append(RuleError(file, line, message, hint))

    def warn(self, file: str, line: int | None, message: str, hint: str = "") -> None:
        warning = RuleWarning(file, line, message, hint)
        if warning not in self.warnings:  # a variant compiles its rule again: say it once
            self.warnings.append(warning)


# -- parsing ---------------------------------------------------------------------------


def _data_loc(data: Any, loc: Sequence[Any]) -> tuple[str | int, ...]:
    """Map a pydantic error location onto the YAML data, skipping union tags."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
    return tuple(out)


def _hint(err: dict[str, Any]) -> str:
    kind = err["type"]
    field_name = str(err["loc"][-1]) if err["loc"] else ""
    if kind == "missing":
        if field_name in s.LANGUAGES:
            return f"missing translation: add the '{field_name}' text"
        return f"add '{field_name}'"
    if kind == "extra_forbidden":
        return f"remove '{field_name}' or fix its spelling (allowed keys: see rules/schema/*.schema.json)"
    if kind == "literal_error":
        return "use one of the listed values"
    return f"see {GUIDE}"


def _pydantic_errors(error: ValidationError, doc: YamlDocument, file: str, errors: _Errors) -> None:
    seen: set[tuple[int, str]] = set()
    for err in error.errors(include_url=False):
        loc = _data_loc(doc.data, err["loc"])
        line = doc.line(loc)
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        message = f"{dotted}: {err['msg']}"
        if err["type"] == "missing":
            message = f"{dotted}: '{err['loc'][-1]}' is required"
        if (line, message) in seen:
            continue
        seen.add((line, message))
        errors.add(file, line, message, _hint(err))


def _parse(path: Path, base: Path, model: type[BaseModel], errors: _Errors) -> tuple[YamlDocument, str, Any] | None:
    file = display_path(path, base.parent if base.is_dir() else None)
    try:
        doc = load_yaml(path)
    except YamlSyntaxError as error:
        errors.add(file, error.line, error.message, "fix the YAML (indentation, quotes, colons)")
        return None
    if not isinstance(doc.data, dict):
        errors.add(file, 1, "expected a mapping (key: value) at the top level", f"see {GUIDE}")
        return None
    try:
        return doc, file, model.model_validate(doc.data)
    except ValidationError as error:
        _pydantic_errors(error, doc, file, errors)
        return None


def rule_files(directory: Path) -> list[Path]:
    """Rule files of a directory: every ``*.yaml`` outside the reserved sub-folders."""
    found = []
    for path in sorted(directory.rglob("*.yaml")):
        relative = path.relative_to(directory)
        if relative.parts[0] in RESERVED_DIRS or any(p.startswith(".") for p in relative.parts):
            continue
        found.append(path)
    return found


# -- semantic checks and compilation ---------------------------------------------------


def _value_ok(kind: FactKind, value: Any) -> bool:
    if kind.kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind.kind == "bool":
        return isinstance(value, bool)
    if kind.kind == "str":
        return isinstance(value, str) and (not kind.choices or value in kind.choices)
    return False


def _kind_of_type(type_name: str) -> FactKind:
    return {
        "int": FactKind("number", integer=True),
        "float": FactKind("number"),
        "bool": FactKind("bool"),
        "str": FactKind("str"),
    }[type_name]


class _RuleCompiler:
    """Checks and compiles one rule file's condition and derivations with given parameter values."""

    def __init__(
        self,
        parsed: ParsedRule,
        params: dict[str, Value],
        derived: dict[str, s.Derivation],
        terminology: Terminology,
        expressions: dict[str, FactExpr],
        errors: _Errors,
        origins: Mapping[str, str] | None = None,
    ) -> None:
        self.parsed = parsed
        self.params = params
        self.origins = origins or {}  # parameter -> 'file:line' of the override that set its value
        self.derived = derived
        self.terminology = terminology
        self.expressions = expressions
        self.errors = errors
        self.uses_derived: set[str] = set()

    def error(self, loc: tuple[str | int, ...], message: str, hint: str) -> None:
        self.errors.add(self.parsed.file, self.parsed.doc.line(loc), message, hint)

    def warn(self, loc: tuple[str | int, ...], message: str, hint: str) -> None:
        self.errors.warn(self.parsed.file, self.parsed.doc.line(loc), message, hint)

    def _param(self, value: Any, loc: tuple[str | int, ...]) -> tuple[Any, str | None]:
        if isinstance(value, str) and value.startswith("$"):
            name = value[1:]
            if name not in self.params:
                known = ", ".join(f"${p}" for p in self.params) or "none declared"
                self.error(loc, f"unknown parameter {value!r}", f"declare it under 'parameters:' (known: {known})")
                return None, name
            return self.params[name], name
        return value, None

    def _intern(self, expr: FactExpr) -> FactExpr:
        return self.expressions.setdefault(expr.text, expr)

    def _subject(self, leaf: s.Leaf, loc: tuple[str | int, ...]) -> FactExpr | None:
        if leaf.fact is not None:
            if leaf.fact in self.derived:
                self.uses_derived.add(leaf.fact)
                kind = _kind_of_type(self.derived[leaf.fact].type)
                return self._intern(DerivedExpr(leaf.fact, kind, name=leaf.fact))
            presence = leaf.op is None
            try:
                kind = resolve(leaf.fact, partial=presence)
            except UnknownFact as error:
                self.error((*loc, "fact"), f"unknown fact: {error}", "check the name in docs/facts.md, or declare a derived fact")
                return None
            if presence and kind.kind not in ("number", "bool", "str"):  # known/unknown works on every fact
                return self._intern(PresenceExpr(f"{leaf.fact}", kind, path=leaf.fact))
            if kind.kind == "list":
                self.error((*loc, "fact"), f"{leaf.fact!r} is a list", "test it with 'count:' (value set, window, filters), or with known/unknown")
                return None
            if kind.kind == "date":
                self.error((*loc, "fact"), f"{leaf.fact!r} is a date", "use 'days_since:' or known/unknown")
                return None
            if kind.kind not in ("number", "bool", "str"):
                self.error((*loc, "fact"), f"{leaf.fact!r} cannot be tested", "test one of its parts")
                return None
            return self._intern(PathExpr(leaf.fact, kind, path=leaf.fact))
        if leaf.days_since is not None:
            try:
                kind = resolve(leaf.days_since)
            except UnknownFact as error:
                self.error((*loc, "days_since"), f"unknown fact: {error}", "name a date fact from docs/facts.md")
                return None
            if kind.kind != "date":
                self.error((*loc, "days_since"), f"{leaf.days_since!r} is {kind.describe()}, not a date", "use 'fact:' instead")
                return None
            text = f"days_since({leaf.days_since})"
            return self._intern(DaysSinceExpr(text, FactKind("number", integer=True), path=leaf.days_since))
        spec = leaf.count
        assert spec is not None
        cloc = (*loc, "count")
        if spec.facts in CODE_LISTS:
            return self._code_count(spec, cloc)
        if spec.codes is not None or spec.not_in is not None:
            bad = "codes" if spec.codes is not None else "not_in"
            self.error((*cloc, bad), f"'{bad}' counts plain codes; {spec.facts!r} is not a code list", f"use it with {', '.join(CODE_LISTS)}")
            return None
        ok = True
        allowed = CODED_LISTS.get(spec.facts) or EVENT_LISTS.get(spec.facts, ())
        if spec.value_set is not None:
            if spec.facts not in CODED_LISTS:
                self.error((*cloc, "value_set"), f"{spec.facts!r} holds events, not codes", "drop 'value_set' or count a coded list")
                ok = False
            elif not self.terminology.has(spec.value_set):
                self.error(
                    (*cloc, "value_set"),
                    f"unknown value set {spec.value_set!r}",
                    "fix the id or add the value set under rules/valuesets/",
                )
                ok = False
        within: int | None = None
        if spec.within_days is not None:
            if spec.facts not in EVENT_LISTS:
                self.error((*cloc, "within_days"), f"{spec.facts!r} has no dates to window", "drop 'within_days'")
                ok = False
            value, _ = self._param(spec.within_days, (*cloc, "within_days"))
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                self.error((*cloc, "within_days"), f"within_days must be a whole number of days, got {value!r}", "use an int parameter")
                ok = False
            within = value if isinstance(value, int) else None
        for name in spec.where:
            if name not in allowed:
                self.error((*cloc, "where", name), f"{spec.facts!r} items have no filter {name!r}", f"use one of: {', '.join(allowed)}")
                ok = False
        if not ok:
            return None
        where = tuple(sorted(spec.where.items()))
        text = count_text(spec.facts, spec.value_set, within, where)
        return self._intern(
            CountExpr(text, FactKind("number", integer=True), facts=spec.facts, value_set=spec.value_set, within_days=within, where=where)
        )

    def _service_code(self, facts: str, code: Any, loc: tuple[str | int, ...]) -> str | None:
        value, _ = self._param(code, loc)
        if value is None:
            return None
        prefix = CODE_LISTS[facts].valueset_prefix
        if not isinstance(value, str) or not self.terminology.has(prefix + value):
            known = ", ".join(v.removeprefix(prefix) for v in self.terminology.valueset_ids(prefix))
            self.error(loc, f"unknown code {value!r} for {facts!r}", f"use one of: {known}")
            return None
        return value

    def _code_count(self, spec: s.CountSpec, cloc: tuple[str | int, ...]) -> FactExpr | None:
        ok = True
        if spec.within_days is not None or spec.where:
            bad = "within_days" if spec.within_days is not None else "where"
            self.error((*cloc, bad), f"{spec.facts!r} is a list of codes: no dates or item filters", f"drop '{bad}'")
            ok = False
        if spec.value_set is not None and not self.terminology.has(spec.value_set):
            self.error((*cloc, "value_set"), f"unknown value set {spec.value_set!r}", "fix the id or add the value set under rules/valuesets/")
            ok = False
        if spec.not_in is not None and spec.not_in not in CODE_LISTS:
            self.error((*cloc, "not_in"), f"{spec.not_in!r} is not a code list", f"use one of: {', '.join(CODE_LISTS)}")
            ok = False
        codes: tuple[str, ...] | None = None
        if spec.codes is not None:
            found = [self._service_code(spec.facts, c, (*cloc, "codes", i)) for i, c in enumerate(spec.codes)]
            if any(c is None for c in found):
                ok = False
            codes = tuple(sorted({c for c in found if c is not None}))
        if not ok:
            return None
        text = code_count_text(spec.facts, spec.value_set, codes, spec.not_in)
        return self._intern(
            CodeCountExpr(text, FactKind("number", integer=True), facts=spec.facts, value_set=spec.value_set, codes=codes, minus=spec.not_in)
        )

    def _contains(self, leaf: s.Leaf, loc: tuple[str | int, ...]) -> Cond | None:
        """``{fact: <code list>, op: contains, value: CODE}`` = at least one such code in the list."""
        if leaf.fact not in CODE_LISTS:
            self.error((*loc, "op"), f"'contains' tests a list of codes; {leaf.fact!r} is not one", f"use it with {', '.join(CODE_LISTS)}")
            return None
        if isinstance(leaf.value, list):
            self.error((*loc, "value"), "'contains' takes one code", "use 'any:' of several 'contains' tests, or count with 'codes:'")
            return None
        code = self._service_code(leaf.fact, leaf.value, (*loc, "value"))
        if code is None:
            return None
        text = code_count_text(leaf.fact, None, (code,), None)
        expr = self._intern(CodeCountExpr(text, FactKind("number", integer=True), facts=leaf.fact, codes=(code,)))
        parameter = leaf.value[1:] if isinstance(leaf.value, str) and leaf.value.startswith("$") else None
        return Compare(expr, ">=", 1, parameter, self.parsed.doc.line(loc))

    def condition(self, cond: Any, loc: tuple[str | int, ...]) -> Cond | None:
        if isinstance(cond, s.AllOf):
            parts = [self.condition(c, (*loc, "all", i)) for i, c in enumerate(cond.all)]
            return None if any(p is None for p in parts) else All(tuple(p for p in parts if p is not None))
        if isinstance(cond, s.AnyOf):
            parts = [self.condition(c, (*loc, "any", i)) for i, c in enumerate(cond.any)]
            return None if any(p is None for p in parts) else AnyOf(tuple(p for p in parts if p is not None))
        if isinstance(cond, s.NotOf):
            part = self.condition(cond.not_, (*loc, "not"))
            return None if part is None else Not(part)
        leaf: s.Leaf = cond
        line = self.parsed.doc.line(loc)
        if leaf.op == "contains":
            if leaf.fact is None:
                self.error((*loc, "op"), "'contains' tests a list fact named with 'fact:'", f"write fact: {next(iter(CODE_LISTS))}")
                return None
            return self._contains(leaf, loc)
        expr = self._subject(leaf, loc)
        if expr is None:
            return None
        if leaf.op is None:
            return Presence(expr, known=bool(leaf.known), line=line)
        raw = leaf.value
        if leaf.op in ("in", "not_in"):
            if not isinstance(raw, list) or not raw:
                self.error((*loc, "value"), f"operator {leaf.op!r} needs a list of values", "write value: [a, b]")
                return None
            values = [self._param(v, (*loc, "value", i)) for i, v in enumerate(raw)]
            if any(v is None for v, _ in values):
                return None
            resolved: Any = tuple(v for v, _ in values)
            parameter = None
            checked = list(resolved)
        else:
            if isinstance(raw, list):
                self.error((*loc, "value"), f"operator {leaf.op!r} compares with one value, not a list", "use 'in' for lists")
                return None
            resolved, parameter = self._param(raw, (*loc, "value"))
            if resolved is None:
                return None
            checked = [resolved]
        for value in checked:
            if not _value_ok(expr.kind, value):
                self.error(
                    (*loc, "value"),
                    f"type mismatch: {expr.text!r} is {expr.kind.describe()}, compared with {value!r}",
                    "compare with a value of the fact's type",
                )
                return None
            problem = threshold_problem(value)
            if problem:
                self.error((*loc, "value"), f"threshold {problem}", "use a finite number of realistic size")
                return None
        if isinstance(resolved, tuple):
            resolved = tuple(engine_value(v) for v in resolved)
        else:
            resolved = engine_value(resolved)
        if leaf.op in ("<", "<=", ">", ">=") and expr.kind.kind != "number":
            self.error((*loc, "op"), f"operator {leaf.op!r} needs a number, {expr.text!r} is {expr.kind.describe()}", "use == / != / in")
            return None
        compare = Compare(expr, leaf.op, resolved, parameter, line)
        if expr.text == CFS_FACT:
            self._check_cfs_threshold(compare, (*loc, "value"))
        return compare

    def _check_cfs_threshold(self, compare: Compare, loc: tuple[str | int, ...]) -> None:
        """Warn when a CFS comparison decides at a level the CFS table (the 'uncertain' flag's list) does not list.

        A warning, not an error: a quality team tries other thresholds in its own rule
        files (``cds backtest``) without editing the table inside the package.
        """
        listed = {c.at for c in cfs_cut_points()}
        missing = [at for at in cfs_splits(compare) if at not in listed]
        if missing:
            given = f"${compare.parameter} = {compare.value!r}" if compare.parameter else repr(compare.value)
            origin = self.origins.get(compare.parameter or "")
            if origin:
                given += f" (set in {origin})"
            levels = ", ".join(map(str, missing))
            one = len(missing) == 1
            self.warn(
                loc,
                f"{CFS_FACT} {compare.op} {given} decides at CFS {levels}, "
                f"{'which is not a decision cut point' if one else 'which are not decision cut points'} "
                f"in {CFS_TABLE} (listed: {', '.join(str(at) for at in sorted(listed))}); "
                f"the 'uncertain' flag on CFS cards will not cover or name {'it' if one else 'them'}",
                f"if the rule set keeps this threshold, add {'cut point' if one else 'cut points'} {levels} "
                f"to {CFS_TABLE} with {'its source' if one else 'their sources'}: {GUIDE}, 'CFS thresholds'",
            )


def cfs_splits(compare: Compare) -> list[int]:
    """The CFS levels ``at`` where a comparison on the score turns: its truth at ``at`` differs from the level below."""
    levels = cfs_levels()
    truth = [compare.test(level) for level in levels]
    return [levels[i] for i in range(1, len(levels)) if truth[i] != truth[i - 1]]


def _suggestion_conditions(compiler: _RuleCompiler, parsed: ParsedRule) -> dict[str, Cond]:
    """Compile each suggestion's ``when`` (checked like the rule condition; errors go to the compiler)."""
    out: dict[str, Cond] = {}
    card = parsed.model.card
    for i, suggestion in enumerate(card.suggestions if card else []):
        if suggestion.when is not None:
            cond = compiler.condition(suggestion.when, ("card", "suggestions", i, "when"))
            if cond is not None:
                out[suggestion.id] = cond
    return out


def _check_parameter_types(parsed: ParsedRule, errors: _Errors) -> None:
    for name, param in parsed.model.parameters.items():
        if not isinstance(param.default, _PARAM_PY[param.type]) or (param.type != "bool" and isinstance(param.default, bool)):
            errors.add(
                parsed.file,
                parsed.doc.line(("parameters", name, "default")),
                f"parameter {name!r} is declared {param.type} but its default is {param.default!r}",
                "make the default match the type",
            )


def _check_override_value(rule: s.RuleFile, param: str, value: Any) -> str | None:
    declared = rule.parameters.get(param)
    if declared is None:
        known = ", ".join(rule.parameters) or "none"
        return f"rule {rule.id!r} has no parameter {param!r} (known: {known})"
    if not isinstance(value, _PARAM_PY[declared.type]) or (declared.type != "bool" and isinstance(value, bool)):
        return f"parameter {param!r} of {rule.id!r} is {declared.type}, got {value!r}"
    return None


def _strata(parsed: list[ParsedRule], uses: dict[str, set[str]], errors: _Errors) -> dict[str, int]:
    """Dependency level of each rule; a cycle of derived facts is an error."""
    derivers: dict[str, list[str]] = {}
    for p in parsed:
        for name in p.model.derive:
            derivers.setdefault(name, []).append(p.model.id)
    level: dict[str, int] = {}
    visiting: list[str] = []
    by_id = {p.model.id: p for p in parsed}
    reported: set[frozenset[str]] = set()

    def visit(rule_id: str) -> int:
        if rule_id in level:
            return level[rule_id]
        if rule_id in visiting:
            cycle = visiting[visiting.index(rule_id) :] + [rule_id]
            key = frozenset(cycle)
            if key not in reported:
                reported.add(key)
                p = by_id[rule_id]
                errors.add(
                    p.file,
                    p.doc.line(("derive",)),
                    "cycle in derived facts: " + " -> ".join(cycle),
                    "a rule cannot depend, directly or through other rules, on a fact it derives",
                )
            return 0
        visiting.append(rule_id)
        deps = [visit(d) + 1 for fact in uses.get(rule_id, ()) for d in derivers.get(fact, ())]
        visiting.pop()
        level[rule_id] = max(deps, default=0)
        return level[rule_id]

    for p in parsed:
        visit(p.model.id)
    return level


def _lift_groups(
    parsed: list[ParsedRule], groups: dict[str, list[ParsedRule]], uses: dict[str, set[str]], strata: dict[str, int]
) -> None:
    """Run all rules of an exclusive group at the level of its highest member, so the
    winner is chosen among all of them at once; rules using their facts move up too."""
    derivers: dict[str, list[str]] = {}
    for p in parsed:
        for name in p.model.derive:
            derivers.setdefault(name, []).append(p.model.id)
    for _ in range(len(parsed) + 1):
        changed = False
        for members in groups.values():
            top = max(strata.get(m.model.id, 0) for m in members)
            for m in members:
                if strata.get(m.model.id, 0) < top:
                    strata[m.model.id] = top
                    changed = True
        for p in parsed:
            need = max((strata.get(d, 0) + 1 for f in uses.get(p.model.id, ()) for d in derivers.get(f, ())), default=0)
            if strata.get(p.model.id, 0) < need:
                strata[p.model.id] = need
                changed = True
        if not changed:
            return


def _compile_card(
    parsed: ParsedRule, allowed: set[str], topics: dict[str, Topic], errors: _Errors, label_groups: set[str]
) -> CompiledCard | None:
    card = parsed.model.card
    if card is None:
        return None
    ok = True
    if card.topic not in topics:
        errors.add(
            parsed.file,
            parsed.doc.line(("card", "topic")),
            f"unknown card topic {card.topic!r}",
            "use a code from rules/codesystems/card-topic.yaml (or add one there)",
        )
        ok = False

    def compile_one(source: str, loc: tuple[str | int, ...], language: str | None = None) -> CompiledTemplate | None:
        template, problems = check_template(source, allowed, language, label_groups=label_groups)
        for problem in problems:
            errors.add(parsed.file, parsed.doc.line(loc), problem, "use a fact from docs/facts.md, a parameter or a derived fact")
        return template

    summary: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    for lang in s.LANGUAGES:
        summary[lang] = compile_one(getattr(card.summary, lang), ("card", "summary", lang), lang)
        if card.detail is not None:
            detail[lang] = compile_one(getattr(card.detail, lang), ("card", "detail", lang), lang)
    suggestion_templates: dict[str, Any] = {}
    for i, suggestion in enumerate(card.suggestions):
        texts = [suggestion.label.nb, suggestion.label.en]
        for j, action in enumerate(suggestion.actions):
            texts += [action.description.nb, action.description.en]
            loc = ("card", "suggestions", i, "actions", j, "resource")
            for member in _members_without_value(action.resource):
                errors.add(
                    parsed.file,
                    parsed.doc.line((*loc, *member)),
                    f"suggestion resource member {'.'.join(map(str, member))!r} has no value",
                    "give it a value or remove it; a text with a comma inside { } must be quoted (YAML splits it there)",
                )
                ok = False
            for text in strings_in(action.resource):
                if text not in suggestion_templates:
                    suggestion_templates[text] = compile_one(text, loc)
        for text in texts:
            if text not in suggestion_templates:
                suggestion_templates[text] = compile_one(text, ("card", "suggestions", i))
    ids = [sg.id for sg in card.suggestions]
    if len(ids) != len(set(ids)):
        errors.add(parsed.file, parsed.doc.line(("card", "suggestions")), "suggestion ids repeat", "give each suggestion its own id")
        ok = False
    if card.selection_behavior == "at-most-one" and sum(sg.recommended for sg in card.suggestions) > 1:
        errors.add(parsed.file, parsed.doc.line(("card", "suggestions")), "more than one recommended suggestion with at-most-one", "recommend at most one")
        ok = False
    templates = [*summary.values(), *detail.values(), *suggestion_templates.values()]
    if not ok or any(t is None for t in templates):
        return None
    return CompiledCard(spec=card, summary=summary, detail=detail, suggestion_templates=suggestion_templates)


def _members_without_value(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Paths of the members of a resource template whose value is null (``key:`` with nothing after it)."""
    if isinstance(value, dict):
        return [found for k, v in value.items()
                for found in ([(*path, k)] if v is None else _members_without_value(v, (*path, k)))]
    if isinstance(value, list):
        return [found for i, v in enumerate(value)
                for found in ([(*path, i)] if v is None else _members_without_value(v, (*path, i)))]
    return []


def _check_tests(
    parsed: ParsedRule, topics: dict[str, Topic], derived: dict[str, s.Derivation], errors: _Errors, suggestion_ids: set[str]
) -> None:
    for i, case in enumerate(parsed.model.tests):
        loc = ("tests", i)
        for sid in [*case.expect.suggestions, *case.expect.no_suggestions]:
            if sid not in suggestion_ids:
                errors.add(parsed.file, parsed.doc.line((*loc, "expect")), f"test expects unknown suggestion {sid!r}", "use the id of a suggestion of some rule's card")
        for topic in [*case.expect.cards, *case.expect.no_cards]:
            if topic not in topics:
                errors.add(parsed.file, parsed.doc.line((*loc, "expect")), f"test expects unknown card topic {topic!r}", "use a code from card-topic.yaml")
        for name in case.expect.derived:
            if name not in derived:
                errors.add(parsed.file, parsed.doc.line((*loc, "expect", "derived")), f"test expects unknown derived fact {name!r}", "name a fact some rule derives")
        if case.given is not None:
            try:
                test_snapshot(case)
            except ValidationError as error:
                for err in error.errors(include_url=False):
                    dotted = ".".join(str(p) for p in err["loc"])
                    errors.add(
                        parsed.file,
                        parsed.doc.line((*loc, "given", *_data_loc(case.given, err["loc"]))),
                        f"test {case.name!r}: given.{dotted}: {err['msg']}",
                        "use fact names and types from docs/facts.md",
                    )
        # a persona bundle is test data: a missing one fails `cds rules test`, never the load


def test_now(case: s.TestCase) -> datetime:
    now = case.now or DEFAULT_TEST_NOW
    if not isinstance(now, datetime):
        now = datetime(now.year, now.month, now.day, 12, 0, tzinfo=UTC)
    return now


def test_snapshot(case: s.TestCase) -> PatientSnapshot:
    """The snapshot of an inline test case (raises pydantic ValidationError on bad facts)."""
    given = dict(case.given or {})
    if case.municipality is not None:
        given.setdefault("municipality", case.municipality)
    given.setdefault("patient_key", "embedded-test")
    given["now"] = test_now(case)
    return PatientSnapshot.model_validate(given)


def _digest(files: Iterable[Path], root: Path, extra: Iterable[str]) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(str(path.relative_to(root) if path.is_relative_to(root) else path.name).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    for item in extra:
        h.update(item.encode())
    return h.hexdigest()


def _terminologies(
    directory: Path, overrides: list[ParsedOverride], errors: _Errors
) -> tuple[Terminology, dict[str, Terminology]]:
    valuesets = directory / "valuesets"
    base_dirs: list[Path] = [valuesets] if valuesets.is_dir() else []
    site_layers = [o for o in overrides if o.model.applies_to.site is not None and o.model.valuesets]
    muni_layers = [o for o in overrides if o.model.applies_to.municipality is not None and o.model.valuesets]
    with tempfile.TemporaryDirectory(prefix="cds-overrides-") as tmp:
        def layer_dir(layers: list[ParsedOverride], name: str) -> Path:
            path = Path(tmp) / name
            path.mkdir()
            for n, o in enumerate(layers):
                (path / f"{n:03d}-{o.model.override}.yaml").write_text(
                    yaml.safe_dump({"valuesets": o.model.valuesets}, allow_unicode=True), encoding="utf-8"
                )
            return path

        def load(dirs: list[Path], origin: str) -> Terminology | None:
            try:
                return Terminology.load(*dirs) if dirs else Terminology()
            except TerminologyError as error:
                for message in error.errors:
                    errors.add(origin, None, message, "fix the value-set file (format: rules/valuesets/README.md)")
                return None

        site_dirs = base_dirs + ([layer_dir(site_layers, "site")] if site_layers else [])
        base = load(site_dirs, "value sets") or Terminology()
        municipal: dict[str, Terminology] = {}
        for o in muni_layers:
            term = load(site_dirs + [layer_dir([o], f"m-{o.model.override}")], o.file)
            for number in o.model.applies_to.municipality or []:
                if term is not None:
                    municipal[number] = term
    return base, municipal


def load_rules(directory: Path, overrides: Sequence[Path] = ()) -> LoadedRules:
    """Load, check and compile a rule directory and override layers; raises `RuleSetError`."""
    directory = Path(directory)
    errors = _Errors()
    if not directory.is_dir():
        raise RuleSetError([RuleError(str(directory), None, "rule directory not found", "pass the folder holding the rule files")])
    topic_path = directory / TOPIC_FILE
    topics: dict[str, Topic] = {}
    topic_system = ""
    try:
        topic_system, topics = load_topics(topic_path)
    except TopicError as error:
        errors.add(display_path(topic_path), None, str(error), "restore rules/codesystems/card-topic.yaml")

    labels_path = directory / LABELS_FILE
    labels: Labels = {}
    try:
        labels = load_labels(labels_path)
    except LabelsError as error:
        errors.add(display_path(labels_path), None, str(error), "fix rules/codesystems/labels.yaml")

    parsed: list[ParsedRule] = []
    files = rule_files(directory)
    if not files:
        errors.add(display_path(directory), None, "no rule files found", "add *.yaml rule files")
    for path in files:
        result = _parse(path, directory, s.RuleFile, errors)
        if result is not None:
            parsed.append(ParsedRule(*result))
    parsed_overrides: list[ParsedOverride] = []
    for path in overrides:
        result = _parse(Path(path), directory, s.OverrideFile, errors)
        if result is not None:
            parsed_overrides.append(ParsedOverride(*result))

    # duplicate ids
    by_id: dict[str, ParsedRule] = {}
    for p in parsed:
        first = by_id.get(p.model.id)
        if first is not None:
            errors.add(p.file, p.doc.line(("id",)), f"duplicate rule id {p.model.id!r} (also in {first.file}:{first.doc.line(('id',))})", "give each rule its own id")
        else:
            by_id[p.model.id] = p
    parsed = list(by_id.values())
    for p in parsed:
        _check_parameter_types(p, errors)

    # derived facts: one type and default per name, never a snapshot fact
    derived: dict[str, s.Derivation] = {}
    snapshot_facts = set(PatientSnapshot.model_fields)
    for p in parsed:
        for name, d in p.model.derive.items():
            line = p.doc.line(("derive", name))
            if name in snapshot_facts:
                errors.add(p.file, line, f"derived fact {name!r} has the name of a snapshot fact", "choose another name")
                continue
            first = derived.setdefault(name, d)
            if first.type != d.type or first.default != d.default:
                errors.add(p.file, line, f"derived fact {name!r} is declared with another type or default elsewhere", "declare it the same way in every rule that derives it")

    terminology, municipal_terms = _terminologies(directory, parsed_overrides, errors)

    # override layers: known rules, parameters and types
    site_params: dict[str, dict[str, Value]] = {}
    site_origins: dict[str, dict[str, str]] = {}  # rule id -> parameter -> 'file:line' of the override
    muni_params: list[tuple[ParsedOverride, str, dict[str, Value]]] = []
    for o in parsed_overrides:
        for rule_id, changes in o.model.parameters.items():
            if rule_id not in by_id:
                errors.add(o.file, o.doc.line(("parameters", rule_id)), f"override names unknown rule {rule_id!r}", "use a rule id from the rule files")
                continue
            for name, value in changes.items():
                problem = _check_override_value(by_id[rule_id].model, name, value)
                if problem:
                    errors.add(o.file, o.doc.line(("parameters", rule_id, name)), problem, "fix the parameter name or value type")
            if o.model.applies_to.site is not None:
                site_params.setdefault(rule_id, {}).update(changes)
                site_origins.setdefault(rule_id, {}).update({n: _origin(o, rule_id, n) for n in changes})
            else:
                muni_params.append((o, rule_id, dict(changes)))

    # compile conditions (first pass for uses, strata)
    expressions: dict[str, FactExpr] = {}
    uses: dict[str, set[str]] = {}
    base_params: dict[str, dict[str, Value]] = {}
    conditions: dict[str, Cond | None] = {}
    suggestion_conds: dict[str, dict[str, Cond]] = {}
    derive_values: dict[str, dict[str, Value]] = {}
    for p in parsed:
        params = {n: prm.default for n, prm in p.model.parameters.items()}
        params.update(site_params.get(p.model.id, {}))
        base_params[p.model.id] = params
        compiler = _RuleCompiler(p, params, derived, terminology, expressions, errors, site_origins.get(p.model.id))
        conditions[p.model.id] = compiler.condition(p.model.when, ("when",))
        uses[p.model.id] = set(compiler.uses_derived)  # suggestions are decided after evaluation: no strata
        suggestion_conds[p.model.id] = _suggestion_conditions(compiler, p)
        values: dict[str, Value] = {}
        for name, d in p.model.derive.items():
            value, _ = compiler._param(d.value, ("derive", name, "value"))
            if value is not None and not _value_ok(_kind_of_type(d.type), value):
                errors.add(p.file, p.doc.line(("derive", name, "value")), f"derived fact {name!r} is {d.type}, value {value!r}", "make the value match the type")
            problem = threshold_problem(value)
            if problem:
                errors.add(p.file, p.doc.line(("derive", name, "value")), f"derived fact {name!r}: {problem}", "use a finite number of realistic size")
            values[name] = engine_value(value)
        derive_values[p.model.id] = values
    strata = _strata(parsed, uses, errors)

    # exclusive groups
    groups: dict[str, list[ParsedRule]] = {}
    for p in parsed:
        if p.model.exclusive is not None:
            groups.setdefault(p.model.exclusive.group, []).append(p)
    _lift_groups(parsed, groups, uses, strata)
    for group, members in groups.items():
        priorities: dict[int, str] = {}
        for p in members:
            ex = p.model.exclusive
            assert ex is not None
            if ex.priority in priorities:
                errors.add(p.file, p.doc.line(("exclusive", "priority")), f"priority {ex.priority} in group {group!r} is also used by {priorities[ex.priority]!r}", "give each rule of a group its own priority")
            priorities[ex.priority] = p.model.id
        fallbacks = [p for p in members if p.model.exclusive and p.model.exclusive.fallback]
        if len(fallbacks) > 1:
            errors.add(fallbacks[1].file, fallbacks[1].doc.line(("exclusive",)), f"group {group!r} has more than one fallback", "mark one rule as fallback")
        for fb in fallbacks:
            lowest = min(p.model.exclusive.priority for p in members if p.model.exclusive)
            if fb.model.exclusive and fb.model.exclusive.priority != lowest:
                errors.add(fb.file, fb.doc.line(("exclusive", "priority")), f"the fallback of group {group!r} must have the lowest priority", "lower its priority")

    # cards and tests
    cards: dict[str, CompiledCard | None] = {}
    suggestion_ids = {sg.id for p in parsed if p.model.card for sg in p.model.card.suggestions}
    for p in parsed:
        allowed = set(p.model.parameters) | set(derived) | set(CONTEXT_NAMES)
        cards[p.model.id] = _compile_card(p, allowed, topics, errors, set(labels))
        _check_tests(p, topics, derived, errors, suggestion_ids)

    if errors.items:
        raise RuleSetError(errors.items, errors.warnings)

    # build variants
    muni_expr = expressions.setdefault("municipality", PathExpr("municipality", FactKind("str"), path="municipality")) if muni_params else None
    rules: list[Rule] = []
    for p in parsed:
        m = p.model
        variants = [(o, changes) for o, rid, changes in muni_params if rid == m.id]
        served = tuple(sorted({n for o, _ in variants for n in o.model.applies_to.municipality or []}))
        cond = conditions[m.id]
        assert cond is not None
        if m.addresses == "living":
            cond = All((cond, living_guard(expressions, _guard_line(p))))
        base_cond = cond
        if served and muni_expr is not None:
            base_cond = All((cond, AnyOf((Presence(muni_expr, known=False, line=0), Compare(muni_expr, "not_in", served, None, 0)))))
        common = dict(
            id=m.id,
            version=m.version,
            file=p.file,
            line=p.doc.line(("id",)),
            hooks=tuple(m.hooks),
            derive=derive_values[m.id],
            exclusive_group=m.exclusive.group if m.exclusive else None,
            priority=m.exclusive.priority if m.exclusive else 0,
            fallback=bool(m.exclusive and m.exclusive.fallback),
            stratum=strata.get(m.id, 0),
            definition=m,
            card=cards[m.id],
            suggestion_conditions=suggestion_conds[m.id],
        )
        rules.append(Rule(parameters=base_params[m.id], condition=base_cond, variant=None, municipalities=(), excluded_municipalities=served, **common))  # type: ignore[arg-type]
        for o, changes in variants:
            params = {**base_params[m.id], **changes}
            origins = {**site_origins.get(m.id, {}), **{n: _origin(o, m.id, n) for n in changes}}
            sub = _Errors(warnings=errors.warnings)  # the variant's warnings join the set's
            compiler = _RuleCompiler(p, params, derived, terminology, expressions, sub, origins)
            vcond = compiler.condition(m.when, ("when",))
            vsuggestions = _suggestion_conditions(compiler, p)
            if vcond is None or sub.items:
                raise RuleSetError(sub.items, errors.warnings)
            numbers = tuple(o.model.applies_to.municipality or [])
            assert muni_expr is not None
            vcond = All((vcond, Compare(muni_expr, "in", numbers, None, 0)))
            if m.addresses == "living":
                vcond = All((vcond, living_guard(expressions, _guard_line(p))))
            dvalues = {n: engine_value(params.get(str(d.value)[1:]) if isinstance(d.value, str) and d.value.startswith("$") else d.value) for n, d in m.derive.items()}
            rules.append(Rule(parameters=params, condition=vcond, variant=o.model.override, municipalities=numbers, excluded_municipalities=(), **{**common, "derive": dvalues, "suggestion_conditions": vsuggestions}))  # type: ignore[arg-type]

    digest_files = [*files, *(Path(o) for o in overrides)]
    if topic_path.is_file():
        digest_files.append(topic_path)
    if labels_path.is_file():
        digest_files.append(labels_path)
    digest = _digest(digest_files, directory, [terminology.digest, *(t.digest for _, t in sorted(municipal_terms.items()))])
    return LoadedRules(
        directory=directory,
        rules=rules,
        parsed=parsed,
        overrides=parsed_overrides,
        expressions=expressions,
        derived=derived,
        terminology=terminology,
        municipal_terminology=municipal_terms,
        topic_system=topic_system,
        topics=topics,
        digest=digest,
        labels=labels,
        warnings=errors.warnings,
    )


def living_guard(expressions: dict[str, FactExpr], line: int) -> Cond:
    """The guard every rule addressing the living gets: `not_deceased == true` (unknown `deceased` does not block).

    One mechanism for the whole rule set instead of a condition in each rule
    (docs/clinical-safety.md, HAZ-01); explain shows it at the rule's `addresses`
    (else `id`) line.
    """
    expr = expressions.setdefault(NOT_DECEASED, NotDeceasedExpr(NOT_DECEASED, FactKind("bool")))
    return Compare(expr, "==", True, None, line)


def _guard_line(parsed: ParsedRule) -> int:
    """Line explain shows for the living guard: the rule's `addresses` key, else its `id`."""
    key = ("addresses",) if ("addresses",) in parsed.doc.lines else ("id",)
    return parsed.doc.line(key)


def _origin(override: ParsedOverride, rule_id: str, name: str) -> str:
    """'file:line' where an override sets a rule's parameter."""
    return f"{override.file}:{override.doc.line(('parameters', rule_id, name))}"


