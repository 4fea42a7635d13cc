"""The durable-rules adapter: the traps of the package stay inside it."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path

import durable_rules_engine
import pytest

from cds.rules import engine
from cds.rules.engine import CompiledRuleset, EngineRule

SRC = Path(__file__).resolve().parents[2] / "src"

AGE_70 = {"$and": [{"$ex": {"age": 1}}, {"$gte": {"age": 70}}]}
ALONE = {"$and": [{"$ex": {"alone": 1}}, {"alone": True}]}


def test_no_module_outside_the_adapter_imports_durable() -> None:
    importers = [
        p.relative_to(SRC).as_posix()
        for p in SRC.rglob("*.py")
        if re.search(r"^\s*(from|import)\s+durable(_rules_engine)?\b", p.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert importers == ["cds/rules/engine.py"]


@pytest.fixture
def deleted_states(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, str]]]:
    """(ruleset handle, state id) of every state the adapter deletes, in order."""
    deleted: list[tuple[int, str]] = []
    real = durable_rules_engine.delete_state

    def delete_state(handle: int, sid: str) -> None:
        deleted.append((handle, sid))
        real(handle, sid)

    monkeypatch.setattr(durable_rules_engine, "delete_state", delete_state)
    yield deleted


def _state_exists(handle: int, sid: str) -> bool:
    try:
        durable_rules_engine.get_state(handle, sid)
    except durable_rules_engine.error as error:
        assert "309" in str(error)  # ERR_SID_NOT_FOUND
        return False
    return True


def test_no_matching_rule_is_an_empty_result() -> None:
    ruleset = CompiledRuleset("t", [EngineRule("old", 0, AGE_70)], lambda level, fired: {})
    assert ruleset.run({"age": 50}) == []


def test_every_matching_rule_fires_on_the_same_message() -> None:
    ruleset = CompiledRuleset("t", [EngineRule("old", 0, AGE_70), EngineRule("alone", 0, ALONE)], lambda level, fired: {})
    assert sorted(ruleset.run({"age": 80, "alone": True})) == ["alone", "old"]


def test_a_rule_true_through_several_or_branches_is_reported_once() -> None:
    either = EngineRule("either", 0, {"$or": [AGE_70, ALONE]})
    ruleset = CompiledRuleset("t", [either], lambda level, fired: {})
    assert ruleset.run({"age": 80, "alone": True}) == ["either"]


def test_each_evaluation_leaves_no_state_behind(deleted_states: list[tuple[int, str]]) -> None:
    ruleset = CompiledRuleset("t", [EngineRule("old", 0, AGE_70)], lambda level, fired: {})
    for age in (50, 80, 90):
        ruleset.run({"age": age})
    assert len({sid for _, sid in deleted_states}) == 3  # one state id per call
    assert not any(_state_exists(handle, sid) for handle, sid in deleted_states)
    assert ruleset.run({"age": 80}) == ["old"]  # a fresh state id per call: the fact is seen again


def test_the_same_rules_register_again_under_a_new_versioned_name() -> None:
    first = CompiledRuleset("same", [EngineRule("old", 0, AGE_70)], lambda level, fired: {})
    second = CompiledRuleset("same", [EngineRule("old", 0, AGE_70)], lambda level, fired: {})
    assert first.name != second.name
    assert first.run({"age": 80}) == second.run({"age": 80}) == ["old"]


def test_registration_does_not_mutate_the_conditions_it_is_given() -> None:
    condition = copy.deepcopy(AGE_70)
    CompiledRuleset("t", [EngineRule("old", 0, condition)], lambda level, fired: {})
    assert condition == AGE_70


def test_derived_facts_chain_through_the_engine_level_by_level() -> None:
    frail_rule = EngineRule("frail", 0, {"$and": [{"$ex": {"cfs": 1}}, {"$gte": {"cfs": 5}}]})
    uses_frail = EngineRule("cga", 1, {"$and": [{"$ex": {"frail": 1}}, {"frail": True}]})
    closes: list[tuple[int, list[str]]] = []

    def close(level: int, fired: list[str]) -> dict[str, object]:
        closes.append((level, fired))
        return {"frail": True} if "frail" in fired else {}

    ruleset = CompiledRuleset("t", [frail_rule, uses_frail], close)
    assert ruleset.run({"cfs": 6}) == ["frail", "cga"]
    assert closes == [(0, ["frail"])]
    assert ruleset.run({"cfs": 3}) == []


def test_an_error_inside_the_engine_is_raised_not_swallowed(deleted_states: list[tuple[int, str]]) -> None:
    failures = ["derived value could not be computed"]

    def close_failing_once(level: int, fired: list[str]) -> dict[str, object]:
        if failures:
            raise ValueError(failures.pop())
        return {"frail": True} if "frail" in fired else {}

    frail_rule = EngineRule("frail", 0, {"$and": [{"$ex": {"cfs": 1}}, {"$gte": {"cfs": 5}}]})
    uses_frail = EngineRule("cga", 1, {"$and": [{"$ex": {"frail": 1}}, {"frail": True}]})
    ruleset = CompiledRuleset("t", [frail_rule, uses_frail], close_failing_once)
    with pytest.raises(engine.EngineError, match="derived value could not be computed"):
        ruleset.run({"cfs": 6})
    assert len(deleted_states) == 1 and not _state_exists(*deleted_states[0])  # the failed call's state is gone
    assert ruleset.run({"cfs": 6}) == ["frail", "cga"]  # and the ruleset still works


def test_a_released_ruleset_is_deleted_from_the_engine_so_reloads_do_not_leak() -> None:
    import gc

    ruleset = CompiledRuleset("released", [EngineRule("old", 0, AGE_70)], lambda level, fired: {})
    name = ruleset.name
    assert name in engine.registered_names()
    del ruleset
    gc.collect()
    survivor = CompiledRuleset("survivor", [EngineRule("old", 0, AGE_70)], lambda level, fired: {})
    assert name not in engine.registered_names()
    assert survivor.run({"age": 80}) == ["old"]


def test_reloaded_rule_sets_are_released_once_unused(make_rules, screening, patient) -> None:  # type: ignore[no-untyped-def]
    import gc

    from cds.rules import RuleSetHolder

    directory = make_rules({"s.yaml": screening(70)})
    holder = RuleSetHolder(directory)
    old_names = {p.engine.name for p in holder.current()._programs.values()}
    make_rules({"s.yaml": screening(80)})
    assert holder.reload().changed
    gc.collect()
    holder.current().evaluate("encounter-start", patient(age=90))
    assert old_names.isdisjoint(engine.registered_names())


def test_a_later_level_sees_the_base_facts_its_rules_read() -> None:
    # each level's fact holds only the fields its rules read: here ``age``, read only at level 1
    frail_rule = EngineRule("frail", 0, {"$and": [{"$ex": {"cfs": 1}}, {"$gte": {"cfs": 5}}]})
    old_and_frail = EngineRule("old-frail", 1, {"$and": [{"$ex": {"frail": 1}}, {"frail": True}, AGE_70]})
    unknown_age = EngineRule("age-unknown", 1, {"$nex": {"age": 1}})
    ruleset = CompiledRuleset(
        "t", [frail_rule, old_and_frail, unknown_age], lambda level, fired: {"frail": "frail" in fired}
    )
    assert ruleset.run({"cfs": 6, "age": 80}) == ["frail", "old-frail"]
    assert ruleset.run({"cfs": 6, "age": 60}) == ["frail"]
    assert ruleset.run({"cfs": 6}) == ["frail", "age-unknown"]


def test_a_condition_the_adapter_cannot_read_is_refused_at_registration() -> None:
    with pytest.raises(ValueError, match=r"\$mt"):
        CompiledRuleset("t", [EngineRule("regex", 0, {"$mt": {"name": "a.*"}})], lambda level, fired: {})


def test_the_action_name_is_read_from_durables_result_text() -> None:
    assert engine._action_name('{"close0":{"m":{"sid": "e1", "note": "a \\"quoted\\" text"}}}') == "close0"
    with pytest.raises(engine.EngineError):
        engine._action_name("[]")


def test_evaluations_from_several_threads_do_not_mix(deleted_states: list[tuple[int, str]]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    frail_rule = EngineRule("frail", 0, {"$and": [{"$ex": {"cfs": 1}}, {"$gte": {"cfs": 5}}]})
    uses_frail = EngineRule("cga", 1, {"$and": [{"$ex": {"frail": 1}}, {"frail": True}]})
    ruleset = CompiledRuleset("t", [frail_rule, uses_frail], lambda level, fired: {"frail": "frail" in fired})
    cfs_values = [3, 6] * 100
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda cfs: ruleset.run({"cfs": cfs}), cfs_values))
    assert results == [["frail", "cga"] if cfs >= 5 else [] for cfs in cfs_values]
    assert len({sid for _, sid in deleted_states}) == len(cfs_values)
