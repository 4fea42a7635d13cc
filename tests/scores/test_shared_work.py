"""The work the scores share or remember is exact: calendar months, per-snapshot memos, per-coding matches, lab lookup."""

from __future__ import annotations

import gc
import random
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from dateutil.relativedelta import relativedelta

from cds.facts.snapshot import Coding
from cds.scores import score_all
from cds.scores.base import months_before
from cds.scores.comorbidity import charlson_code_list, find_categories, snapshot_categories
from cds.scores.hospital import hospital_tables, shared_items
from cds.scores.icd10 import CODING_CACHE_SIZE, PrefixCodeList
from cds.facts.memo import IdentityMemo

from .conftest import NO_ICD10, WHO_ICD10


def test_months_before_is_relativedelta_month_arithmetic_for_dates_and_aware_datetimes() -> None:
    rng = random.Random(2026)
    for _ in range(20_000):
        day = date(1900, 1, 1) + timedelta(days=rng.randrange(0, 80_000))
        months = rng.choice([0, 1, 6, 11, 12, 13, 24, rng.randrange(0, 400)])
        assert months_before(day, months) == day - relativedelta(months=months)
    oslo = timezone(timedelta(hours=1))
    for day in (date(2024, 3, 31), date(2024, 2, 29), date(2025, 12, 31), date(2026, 1, 31), date(2026, 5, 31)):
        moment = datetime(day.year, day.month, day.day, 23, 59, 30, tzinfo=oslo)
        for months in (1, 2, 3, 12, 13, 24):
            expected = moment - relativedelta(months=months)
            got = months_before(moment, months)
            assert (got, got.tzinfo) == (expected, expected.tzinfo)


def test_months_before_out_of_the_calendar_fails_like_relativedelta() -> None:
    with pytest.raises(ValueError):
        date(1, 1, 1) - relativedelta(months=1)
    with pytest.raises(ValueError):
        months_before(date(1, 1, 1), 1)


def test_the_memo_remembers_per_snapshot_object_not_per_equal_content(make) -> None:
    memo = IdentityMemo()
    snapshot = make.snapshot(age=80)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert memo.get(snapshot, "k", compute) == 1
    assert memo.get(snapshot, "k", compute) == 1  # remembered
    assert memo.get(snapshot, "other key", compute) == 2
    equal_copy = snapshot.model_copy()
    assert equal_copy == snapshot
    assert memo.get(equal_copy, "k", compute) == 3  # another object: computed for it


def test_the_memo_forgets_a_snapshot_when_it_is_collected(make) -> None:
    memo = IdentityMemo()
    snapshots = [make.snapshot(age=70 + i) for i in range(10)]
    for s in snapshots:
        memo.get(s, "k", lambda s=s: str(s.age))
    assert len(memo._entries) == 10
    del s, snapshots
    gc.collect()
    assert len(memo._entries) == 0  # bounded by the snapshots alive, not by a size


def test_the_memo_gives_each_thread_its_snapshots_value(make) -> None:
    memo = IdentityMemo()
    snapshots = [make.snapshot(age=60 + i) for i in range(8)]
    wrong: list[int] = []

    def work(i: int) -> None:
        for _ in range(300):
            s = snapshots[i]
            if memo.get(s, "age", lambda s=s: s.age) != s.age:
                wrong.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(snapshots))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_hospital_scores_share_items_only_within_one_snapshot(make) -> None:
    first = make.snapshot(labs=(make.lab("haemoglobin", 11.0, "g/dL"),), length_of_stay_days=6)
    second = first.model_copy(update={"labs": (make.lab("haemoglobin", 13.0, "g/dL"),), "length_of_stay_days": 2})
    tables = hospital_tables()
    assert shared_items(first, tables) is shared_items(first, tables)
    results = [score_all(first), score_all(second)]
    for scores, (hb_points, los_points) in zip(results, [(1.0, 2.0), (0.0, 0.0)], strict=True):
        for name in ("hospital", "hospital_simplified"):
            items = {i.name: i.points for i in scores[name].items}
            assert (items["haemoglobin"], items["length_of_stay"]) == (hb_points, los_points)
    assert results[0]["hospital"].items[0] is results[0]["hospital_simplified"].items[0]


def test_charlson_categories_are_shared_only_within_one_snapshot(make) -> None:
    heart = make.snapshot(conditions=(make.dx("I50.0", current=True),))
    lungs = heart.model_copy(update={"conditions": (make.dx("J44.1", current=True),)})
    shared = snapshot_categories(heart, lookback_months=None, hierarchy=True)
    assert shared is snapshot_categories(heart, lookback_months=None, hierarchy=True)
    assert list(shared.evidence) == ["chf"]
    assert list(snapshot_categories(lungs, lookback_months=None, hierarchy=True).evidence) == ["copd"]
    assert score_all(heart)["charlson"].points == 2.0
    assert score_all(lungs)["charlson"].points == 1.0
    assert shared.used("chf") == find_categories(
        heart.conditions or (), now=heart.now, lookback_months=None, hierarchy=True
    ).used("chf")


def test_coding_matches_depend_on_system_and_code_and_the_cache_is_bounded() -> None:
    codes = PrefixCodeList([("chf", "I50"), ("chf_acute", "I500"), ("copd", "J44")])
    assert codes.coding_matches(NO_ICD10, "i50.0 ") == (("chf_acute", "I500", "I500"), ("chf", "I50", "I500"))
    assert codes.coding_matches(WHO_ICD10, "J44.1") == (("copd", "J44", "J441"),)
    assert codes.coding_matches("http://snomed.info/sct", "J44.1") == ()  # not an ICD-10 system
    assert codes.coding_matches(NO_ICD10, "") == ()
    assert codes.coding_matches(NO_ICD10, " . ") == ()
    for i in range(CODING_CACHE_SIZE + 50):
        codes.coding_matches(NO_ICD10, f"Z{i}")
    assert codes.coding_matches.cache_info().currsize <= CODING_CACHE_SIZE
    assert codes.coding_matches(WHO_ICD10, "J44.1") == (("copd", "J44", "J441"),)


def test_charlson_code_list_matches_like_a_prefix_scan(make) -> None:
    code_list = charlson_code_list()
    prefixes = [(c, p) for p, cats in code_list._by_prefix.items() for c in cats]  # noqa: SLF001
    for code in ("I500", "I50", "E112", "C787", "C80", "K703", "B20", "Z000", "I21", "I2"):
        coding = Coding(system=NO_ICD10, code=code)
        expected = sorted((c, p) for c, p in prefixes if code.startswith(p))
        assert sorted((c, p) for c, p, _ in code_list.coding_matches(coding.system, coding.code)) == expected


def test_one_lab_list_scored_in_different_stays_and_clocks_gives_each_its_own_reading(make) -> None:
    """The lab index is kept per lab list (the same LabFact objects); the stay and the clock stay per snapshot."""
    at = [make.now - timedelta(days=d) for d in (9, 6, 3, 1)]
    labs = (
        make.lab("haemoglobin", 10.0, "g/dL", at=at[0], current=False),
        make.lab("haemoglobin", 11.0, "g/dL", at=at[1], current=False),
        make.lab("haemoglobin", 13.0, "mg/mL", at=at[2], current=False),  # a unit it cannot use: a note
        make.lab("haemoglobin", 12.5, "g/dL", at=at[3], current=False),
        make.lab("haemoglobin", 9.0, "g/dL", at=None, current=True),
    )
    labs = labs[:4] + (labs[4].model_copy(update={"effective": None}),)
    tables = hospital_tables()

    def reading(**facts: object) -> tuple[object, ...]:
        snapshot = make.snapshot(labs=labs, **facts)
        item = shared_items(snapshot, tables).haemoglobin
        return item.value, item.unknown, item.used

    stays = [
        ({"encounter_start": at[0] - timedelta(hours=1), "encounter_end": at[1] + timedelta(hours=1)}, 11.0),
        ({"encounter_start": at[0] - timedelta(hours=1)}, 12.5),
        ({"encounter_start": at[2] - timedelta(hours=1), "now": at[2] + timedelta(hours=1)}, 9.0),
        ({"encounter_start": at[3] + timedelta(hours=1)}, 9.0),  # only the undated result of this encounter
        ({}, 9.0),
    ]
    for _ in range(2):
        for facts, value in stays:
            got = reading(**facts)
            assert got[:2] == (value, False), (facts, got)
    notes = reading(encounter_start=at[2] - timedelta(hours=1), now=at[2] + timedelta(hours=1))[2]
    assert any("mg/mL" in note for note in notes)  # the later unusable value is reported, the undated one is used
