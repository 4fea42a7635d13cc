"""Memoisation of pure derivations across snapshot builds, keyed by object identity.

Parsed FHIR models are shared between calls by the ResourceSet parse cache
(same content -> same model object), and the snapshot parts derived from them
are memoised in turn (same model -> same LabFact object), so what is derived
from objects alone can be kept as long as they live:

* `IdentityMemo`: per one object (its codings, the value sets they belong
  to), checked through a weak reference; an entry is dropped when its object
  is garbage-collected. R4B models are unhashable, hence not a WeakKeyDictionary.
* `ItemsMemo`: per sequence of objects (the resources of one type in a call,
  a snapshot's lab results), keyed by their identities in order. An entry
  holds its objects, so no identity in a live key can be taken by another
  object; the memo is a bounded LRU.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from operator import is_
from typing import Any, TypeVar

__all__ = ["IdentityMemo", "ItemsMemo"]

T = TypeVar("T")


class IdentityMemo:
    """``memo.get(obj, key, compute, *args)``: ``compute(*args)`` once per (live object, key).

    ``args`` (instead of a closure) spare the callers building a function object
    on every lookup, most of which are hits.
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Any], dict[Any, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, obj: Any, key: Any, compute: Callable[..., T], *args: Any) -> T:
        entry = self._entries.get(id(obj))
        if entry is not None and entry[0]() is obj:
            values = entry[1]
            if key in values:
                return values[key]  # type: ignore[no-any-return]
        else:
            values = {}
            try:
                ref = weakref.ref(obj, self._forget(id(obj)))
            except TypeError:
                return compute(*args)  # not weak-referenceable: no memo
            with self._lock:
                self._entries[id(obj)] = (ref, values)
        result = compute(*args)
        values[key] = result
        return result

    def _forget(self, ident: int) -> Callable[[weakref.ref[Any]], None]:
        def forget(dead: weakref.ref[Any]) -> None:
            with self._lock:
                entry = self._entries.get(ident)
                if entry is not None and entry[0] is dead:
                    del self._entries[ident]

        return forget

    def __len__(self) -> int:
        return len(self._entries)


class ItemsMemo:
    """``memo.get(items, key, compute, *args)``: ``compute(*args)`` once per (the same objects in the same order, key).

    Entries are found by ``key``, the number of items and the identities of the
    first and the last (a few ``id`` calls whatever the length, where a tuple of
    every ``id`` would dominate the lookup), then checked item by item for
    identity (``is``). Each entry keeps its items, so while it lives no other
    object can take one of their identities; it also keeps them alive, so the
    memo is bounded by the number of items its entries hold (``max_items``,
    the least recently used buckets go first), not by entries: parsed models it
    holds may outlive the parse cache's own bound by at most that many. A bucket
    holds at most `_BUCKET` entries (sequences that differ only inside).
    Thread-safe.
    """

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self._buckets: OrderedDict[tuple[Any, ...], list[tuple[tuple[Any, ...], Any]]] = OrderedDict()
        self._held = 0  # items held by all entries
        self._lock = threading.Lock()

    def get(self, items: Sequence[Any], key: Any, compute: Callable[..., T], *args: Any) -> T:
        size = len(items)
        coarse = (key, size, id(items[0]), id(items[-1])) if size else (key, 0)
        with self._lock:
            bucket = self._buckets.get(coarse)
            if bucket is not None:
                self._buckets.move_to_end(coarse)
                for kept, value in bucket:
                    if all(map(is_, kept, items)):
                        return value  # type: ignore[no-any-return]
        value = compute(*args)
        entry = (tuple(items), value)
        with self._lock:
            bucket = self._buckets.get(coarse)
            if bucket is None:
                bucket = self._buckets[coarse] = []
            bucket.insert(0, entry)
            self._held += size
            if len(bucket) > _BUCKET:
                bucket.pop()
                self._held -= size
            while self._held > self.max_items and self._buckets:
                _, evicted = self._buckets.popitem(last=False)
                self._held -= sum(len(kept) for kept, _ in evicted)
        return value

    @property
    def held(self) -> int:
        """The number of items the entries hold."""
        return self._held

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._held = 0

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._buckets.values())


#: Entries kept per (key, length, first and last item): sequences that differ only inside.
_BUCKET = 4
