"""Three-valued logic: unknown facts never make a rule fire, in Python and in the engine alike."""

from __future__ import annotations

import itertools

import pytest

from cds.rules import conditions as c
from cds.rules.catalogue import FactKind
from cds.rules.engine import CompiledRuleset, EngineRule
from cds.rules.expressions import PathExpr

AGE = PathExpr("age", FactKind("number", integer=True), path="age")
ALONE = PathExpr("lives_alone", FactKind("bool"), path="lives_alone")
KEYS = {"age": "f0", "lives_alone": "f1"}

OLD = c.Compare(AGE, ">=", 70, "min_age", 1)
ALONE_TRUE = c.Compare(ALONE, "==", True, None, 2)


def test_comparison_on_an_unknown_fact_is_unknown_not_false() -> None:
    assert c.evaluate(OLD, {}) is None


def test_not_over_an_unknown_comparison_stays_unknown() -> None:
    assert c.evaluate(c.Not(OLD), {}) is None


def test_all_is_false_when_any_part_is_false_even_with_unknowns() -> None:
    assert c.evaluate(c.All((OLD, ALONE_TRUE)), {"age": 60}) is False


def test_any_is_true_when_any_part_is_true_even_with_unknowns() -> None:
    assert c.evaluate(c.AnyOf((OLD, ALONE_TRUE)), {"age": 80}) is True


def test_unknown_test_is_true_for_a_missing_fact() -> None:
    assert c.evaluate(c.Presence(AGE, known=False, line=1), {}) is True
    assert c.evaluate(c.Presence(AGE, known=True, line=1), {}) is False


CONDITIONS = {
    "old": OLD,
    "not old": c.Not(OLD),
    "old and alone": c.All((OLD, ALONE_TRUE)),
    "old or alone": c.AnyOf((OLD, ALONE_TRUE)),
    "not (old and alone)": c.Not(c.All((OLD, ALONE_TRUE))),
    "not (old or not alone)": c.Not(c.AnyOf((OLD, c.Not(ALONE_TRUE)))),
    "age in list": c.Compare(AGE, "in", (70, 80), None, 3),
    "age not in list": c.Compare(AGE, "not_in", (70, 80), None, 3),
    "age unknown or young": c.AnyOf((c.Presence(AGE, False, 4), c.Compare(AGE, "<", 70, None, 4))),
}
MESSAGES = [
    dict(zip(("f0", "f1"), combo, strict=True))
    for combo in itertools.product([None, 60, 70, 80], [None, True, False])
]


@pytest.mark.parametrize("name", sorted(CONDITIONS))
def test_engine_fires_exactly_when_python_says_true(name: str) -> None:
    cond = CONDITIONS[name]
    engine = CompiledRuleset("cond_test", [EngineRule("r", 0, c.to_durable(cond, KEYS))], lambda level, fired: {})
    for message in MESSAGES:
        known = {k: v for k, v in message.items() if v is not None}
        values = {text: known[key] for text, key in KEYS.items() if key in known}
        expected = c.evaluate(cond, values) is True
        assert (engine.run(known) == ["r"]) == expected, (name, values)
