"""GcFreezer: survivors of every full collection are frozen, garbage is not, and dropped objects are still freed.

The freezer changes process-wide ``gc`` state; every test stops it (which
unfreezes and restores the thresholds) before it ends.
"""

from __future__ import annotations

import gc
import logging
import re
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds.fhir.resources import ResourceSet, clear_parse_cache
from cds.service.app import create_app
from cds.service.gcfreeze import GcFreezer
from cds.service.settings import GcSettings, Settings


class Node:
    """A weak-referenceable container that can be part of a reference cycle."""

    def __init__(self) -> None:
        self.other: Any = None


def is_frozen(obj: Any) -> bool:
    """Tracked but in none of the collector's generations: in the permanent one."""
    return gc.is_tracked(obj) and not any(o is obj for o in gc.get_objects())


@pytest.fixture
def freezer() -> Iterator[GcFreezer]:
    f = GcFreezer(thresholds=(700, 2, 1), rescan_seconds=None)
    f.start()
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture
def no_automatic_collection() -> Iterator[None]:
    """Only explicit ``gc.collect()`` calls collect while the test runs."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def test_start_freezes_the_live_heap_sets_thresholds_and_stop_restores_both() -> None:
    before = gc.get_threshold()
    kept = Node()
    f = GcFreezer(thresholds=(500, 3, 2), rescan_seconds=None)
    f.start()
    try:
        assert f.running
        assert gc.get_threshold() == (500, 3, 2)
        assert is_frozen(kept)
    finally:
        f.stop()
    assert not f.running
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert not is_frozen(kept)


def test_starting_twice_is_refused(freezer: GcFreezer) -> None:
    with pytest.raises(RuntimeError):
        freezer.start()


def test_survivors_of_a_full_collection_are_frozen(freezer: GcFreezer) -> None:
    kept = [Node() for _ in range(10)]
    assert not any(is_frozen(node) for node in kept)
    freezes = freezer.freezes
    gc.collect()
    assert freezer.freezes == freezes + 1
    assert all(is_frozen(node) for node in kept)


def test_young_collections_do_not_freeze(freezer: GcFreezer) -> None:
    kept = Node()
    freezes = freezer.freezes
    gc.collect(1)
    assert freezer.freezes == freezes
    assert not is_frozen(kept)


def test_a_garbage_cycle_is_collected_by_the_full_collection_not_frozen(
    freezer: GcFreezer, no_automatic_collection: None
) -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a
    dead = weakref.ref(a)
    del a, b
    assert dead() is not None  # a cycle: reference counting alone does not free it
    gc.collect()
    assert dead() is None


def test_a_dropped_frozen_parse_cache_entry_is_freed_without_a_collection(
    freezer: GcFreezer, no_automatic_collection: None
) -> None:
    clear_parse_cache()
    rs = ResourceSet.from_json([{"resourceType": "Patient", "id": "gc-1", "gender": "female", "birthDate": "1940"}])
    model = weakref.ref(rs.get("Patient", "gc-1"))
    del rs
    gc.collect()
    assert is_frozen(model())
    clear_parse_cache()  # eviction: the cache's last reference goes
    assert model() is None


def test_a_due_rescan_unfreezes_once_then_freezing_resumes_and_logs_a_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cds.service")
    now = [5000.0]
    f = GcFreezer(thresholds=(700, 2, 1), rescan_seconds=60.0, clock=lambda: now[0])
    f.start()
    try:
        kept = Node()
        gc.collect()
        assert f.rescans == 0 and gc.get_freeze_count() > 0  # not due yet
        now[0] += 61.0
        gc.collect()  # due: everything unfrozen, for the next full collection to scan
        assert gc.get_freeze_count() == 0 and f.rescans == 0
        gc.collect()  # the full-heap collection, then frozen again
        assert f.rescans == 1
        logged = [r.getMessage() for r in caplog.records if "full-heap" in r.getMessage()]
        assert len(logged) == 1 and re.fullmatch(r"full-heap garbage collection: \d+ unreachable objects found", logged[0])
        assert is_frozen(kept)
        gc.collect()  # not due again for another 60 s
        assert f.rescans == 1 and gc.get_freeze_count() > 0
    finally:
        f.stop()


def test_settings_turn_the_freezer_off_and_reject_thresholds_that_stop_collection() -> None:
    assert GcFreezer.from_settings(GcSettings(freeze=False)) is None
    on = GcFreezer.from_settings(GcSettings(thresholds=(800, 4, 2), rescan_seconds=None))
    assert on is not None and on.thresholds == (800, 4, 2) and on.rescan_seconds is None
    with pytest.raises(ValueError):
        GcSettings(thresholds=(700, 0, 1))


def test_the_service_runs_the_freezer_from_startup_to_shutdown(tmp_path: Path) -> None:
    before = gc.get_threshold()
    app = create_app(Settings(data_dir=tmp_path))
    with TestClient(app):
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GcSettings().thresholds
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_the_service_without_freezing_leaves_the_collector_alone(tmp_path: Path) -> None:
    before = gc.get_threshold()
    app = create_app(Settings(data_dir=tmp_path, gc=GcSettings(freeze=False)))
    with TestClient(app):
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == before


# What makes freezing safe: a call leaves no reference cycle behind, so nothing a
# call allocates (frozen mid-call or not) needs the cyclic collector to be freed.
# Checked in a fresh interpreter (tests/service/gc_cycles_check.py): in this one,
# rule sets of earlier tests' apps are still held by memos and can become cyclic
# garbage whenever an entry is evicted (as an old rule set does after a reload;
# see the rescan).


@pytest.mark.parametrize("path", ["process_call", "http"])
def test_calls_leave_no_reference_cycles(path: str, tmp_path: Path) -> None:
    check = Path(__file__).with_name("gc_cycles_check.py")
    done = subprocess.run([sys.executable, str(check), path, str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "cyclic garbage: 0"
