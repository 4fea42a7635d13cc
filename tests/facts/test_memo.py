"""IdentityMemo: computes once per live object and key, forgets objects that are collected."""

from __future__ import annotations

import gc

from fhir.resources.R4B.observation import Observation

from cds.facts.memo import IdentityMemo


def make() -> Observation:
    return Observation.model_validate({"resourceType": "Observation", "status": "final", "code": {"text": "Hb"}})


def test_value_is_computed_once_per_object_and_key() -> None:
    memo, calls = IdentityMemo(), []
    obs = make()
    for _ in range(3):
        memo.get(obs, "k", lambda: calls.append(1) or len(calls))
    memo.get(obs, "other", lambda: calls.append(1) or len(calls))
    assert len(calls) == 2


def test_equal_but_distinct_objects_do_not_share_entries() -> None:
    memo = IdentityMemo()
    first, second = make(), make()
    assert first == second
    assert memo.get(first, "k", lambda: "first") == "first"
    assert memo.get(second, "k", lambda: "second") == "second"


def test_entries_are_dropped_when_the_object_is_collected() -> None:
    memo = IdentityMemo()
    obs = make()
    memo.get(obs, "k", lambda: 1)
    del obs
    gc.collect()
    assert len(memo) == 0


def test_arguments_are_passed_to_compute_on_a_miss_only() -> None:
    memo, calls = IdentityMemo(), []
    obs = make()

    def compute(a: int, b: int) -> int:
        calls.append((a, b))
        return a + b

    assert memo.get(obs, "sum", compute, 1, 2) == 3
    assert memo.get(obs, "sum", compute, 5, 5) == 3  # the key, not the arguments, identifies the value
    assert calls == [(1, 2)]
