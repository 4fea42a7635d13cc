"""Compiled conditions with three-valued (Kleene) logic, in Python and as durable-rules JSON.

A fact that is unknown makes every comparison on it *unknown*, never false.
Unknown propagates: ``all`` is false if any part is false, else unknown if any
part is unknown; ``any`` is true if any part is true, else unknown if any part
is unknown; ``not`` turns true into false and false into true and leaves
unknown unknown. A rule fires only when its condition is *true*, so ``not``
over a comparison with an unknown fact never fires silently. ``known`` and
``unknown`` tests are never unknown themselves.

`to_durable` compiles the truth (or falsity) of a condition to durable-rules
JSON by pushing negations down to the comparisons and guarding each comparison
with an existence test (``$ex``), which gives the same result as `evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from cds.rules.expressions import FactExpr, Value

_NEGATE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<", "in": "not_in", "not_in": "in"}
_DURABLE_OP = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}


@dataclass(frozen=True)
class Compare:
    expr: FactExpr
    op: str
    value: Value | tuple[Value, ...]
    parameter: str | None
    line: int

    def test(self, actual: Value) -> bool:
        return _compare(actual, self.op, self.value)


@dataclass(frozen=True)
class Presence:
    expr: FactExpr
    known: bool
    line: int


@dataclass(frozen=True)
class All:
    parts: tuple[Cond, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Cond, ...]


@dataclass(frozen=True)
class Not:
    part: Cond


Cond = Union[Compare, Presence, All, AnyOf, Not]


def _compare(actual: Value, op: str, value: Any) -> bool:
    if op == "==":
        return bool(actual == value)
    if op == "!=":
        return bool(actual != value)
    if op == "<":
        return bool(actual < value)
    if op == "<=":
        return bool(actual <= value)
    if op == ">":
        return bool(actual > value)
    if op == ">=":
        return bool(actual >= value)
    if op == "in":
        return actual in value
    if op == "not_in":
        return actual not in value
    raise ValueError(f"unknown operator {op!r}")


def evaluate(cond: Cond, values: Mapping[str, Value]) -> bool | None:
    """Three-valued truth of a condition given expression text -> value (missing = unknown)."""
    if isinstance(cond, Compare):
        actual = values.get(cond.expr.text)
        return None if actual is None else cond.test(actual)
    if isinstance(cond, Presence):
        return (values.get(cond.expr.text) is not None) == cond.known
    if isinstance(cond, All):
        results = [evaluate(p, values) for p in cond.parts]
        if any(r is False for r in results):
            return False
        return None if any(r is None for r in results) else True
    if isinstance(cond, AnyOf):
        results = [evaluate(p, values) for p in cond.parts]
        if any(r is True for r in results):
            return True
        return None if any(r is None for r in results) else False
    if isinstance(cond, Not):
        result = evaluate(cond.part, values)
        return None if result is None else not result
    raise TypeError(cond)  # pragma: no cover


def leaves(cond: Cond) -> list[Compare | Presence]:
    if isinstance(cond, (Compare, Presence)):
        return [cond]
    if isinstance(cond, Not):
        return leaves(cond.part)
    return [leaf for part in cond.parts for leaf in leaves(part)]


def expressions(cond: Cond) -> list[FactExpr]:
    return [leaf.expr for leaf in leaves(cond)]


# -- durable-rules JSON ---------------------------------------------------------------


def _combine(kind: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {kind: parts}


def _comparison(key: str, op: str, value: Any) -> dict[str, Any]:
    if op == "in":
        return _combine("$or", [{key: v} for v in value])
    if op == "not_in":
        return _combine("$and", [{"$neq": {key: v}} for v in value])
    if op == "==":
        return {key: value}
    return {_DURABLE_OP[op]: {key: value}}


def to_durable(cond: Cond, keys: Mapping[str, str], truth: bool = True) -> dict[str, Any]:
    """durable-rules expression that holds exactly when `evaluate(cond)` is ``truth``."""
    if isinstance(cond, Compare):
        key = keys[cond.expr.text]
        op = cond.op if truth else _NEGATE[cond.op]
        return {"$and": [{"$ex": {key: 1}}, _comparison(key, op, cond.value)]}
    if isinstance(cond, Presence):
        key = keys[cond.expr.text]
        return {"$ex": {key: 1}} if cond.known == truth else {"$nex": {key: 1}}
    if isinstance(cond, Not):
        return to_durable(cond.part, keys, not truth)
    parts = [to_durable(p, keys, truth) for p in cond.parts]
    conjunctive = isinstance(cond, All) == truth
    return _combine("$and" if conjunctive else "$or", parts)
