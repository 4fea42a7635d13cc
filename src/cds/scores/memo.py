"""Values derived from a snapshot, shared by the scores that need the same one.

`score_all` runs five scores on one snapshot, and some ask for the same
derived value: HOSPITAL and its simplified form the same haemoglobin and
sodium, Charlson and the C item of LACE the same Charlson conditions.
`SnapshotMemo` computes such a value once per snapshot.

Correctness: an entry is keyed by the snapshot's ``id`` and holds the snapshot
itself, so the id cannot be reused by another object while the entry lives,
and a hit is confirmed by identity (``is``). Snapshots are frozen and the
facts the scores read are tuples of frozen facts, so a value never goes stale. Bounded:
at most ``size`` entries, all dropped when full (a score run needs only the
latest snapshot's). Thread-safe: writes under a lock; a read sees either the
complete entry or none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cds.facts.snapshot import PatientSnapshot

__all__ = ["SnapshotMemo"]

V = TypeVar("V")


class SnapshotMemo(Generic[V]):
    """Remembers ``compute()`` per (snapshot, key) for the most recent snapshots."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._entries: dict[tuple[int, Hashable], tuple[PatientSnapshot, V]] = {}
        self._lock = threading.Lock()

    def get(self, snapshot: PatientSnapshot, key: Hashable, compute: Callable[[], V]) -> V:
        """The value for ``key`` of ``snapshot``: remembered, or computed now and remembered."""
        entry_key = (id(snapshot), key)
        hit = self._entries.get(entry_key)
        if hit is not None and hit[0] is snapshot:
            return hit[1]
        value = compute()
        with self._lock:
            if len(self._entries) >= self._size:
                self._entries.clear()
            self._entries[entry_key] = (snapshot, value)
        return value

    def __len__(self) -> int:
        return len(self._entries)
