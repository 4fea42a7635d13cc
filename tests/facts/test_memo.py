"""IdentityMemo: once per live object and key, forgets collected objects; ItemsMemo: once per same objects in order, bounded."""

from __future__ import annotations

import gc

from fhir.resources.R4B.observation import Observation

from cds.facts.memo import IdentityMemo, ItemsMemo


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


def test_items_memo_computes_once_per_same_objects_in_the_same_order() -> None:
    memo, calls = ItemsMemo(8), []
    a, b = make(), make()

    def compute(tag: str) -> str:
        calls.append(tag)
        return tag

    assert memo.get([a, b], "k", compute, "ab") == "ab"
    assert memo.get((a, b), "k", compute, "again") == "ab"  # same objects, any sequence type
    assert memo.get([b, a], "k", compute, "ba") == "ba"  # another order is another entry
    assert memo.get([a, b], "other", compute, "other") == "other"
    assert memo.get([a, make()], "k", compute, "equal copy") == "equal copy"  # equal content, other object
    assert calls == ["ab", "ba", "other", "equal copy"]


def test_items_memo_keeps_its_items_alive_so_identities_are_not_reused() -> None:
    memo = ItemsMemo(8)
    memo.get([make()], "k", lambda: "first")
    gc.collect()
    # the first model lives on in the entry: a new object cannot take its id and hit the entry
    assert all(memo.get([make()], "k", lambda: "new") == "new" for _ in range(50))


def test_items_memo_is_bounded_by_the_items_its_entries_hold() -> None:
    memo = ItemsMemo(10)
    for _ in range(20):
        memo.get([make() for _ in range(3)], "k", lambda: "computed")
        assert memo.held <= 10
    assert len(memo) == 3 and memo.held == 9  # the three most recent entries of three items
    assert memo.get([make() for _ in range(11)], "k", lambda: "too long") == "too long"
    assert memo.held <= 10  # an entry longer than the bound is not kept


def test_items_memo_is_a_bounded_lru() -> None:
    memo = ItemsMemo(3)
    objs = [make() for _ in range(5)]
    for obj in objs[:3]:
        memo.get([obj], "k", lambda: "computed")
    memo.get([objs[0]], "k", lambda: "recomputed")  # used again: now the most recent
    memo.get([objs[3]], "k", lambda: "computed")  # evicts objs[1], the least recently used
    assert len(memo) == 3
    assert memo.get([objs[0]], "k", lambda: "recomputed") == "computed"
    assert memo.get([objs[1]], "k", lambda: "recomputed") == "recomputed"


def test_items_memo_tells_apart_sequences_that_differ_only_inside() -> None:
    memo = ItemsMemo(100)
    first, last = make(), make()
    middles = [make() for _ in range(6)]
    for i, middle in enumerate(middles):  # same key, length, first and last item: one bucket
        assert memo.get([first, middle, last], "k", lambda i=i: i) == i
    for i, middle in enumerate(middles[-4:], start=2):  # the most recent ones are kept
        assert memo.get([first, middle, last], "k", lambda: "recomputed") == i
    assert memo.get([first, middles[0], last], "k", lambda: "recomputed") == "recomputed"
