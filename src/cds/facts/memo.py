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

    The key of an entry is ``key`` and the ``id`` of every item; the entry keeps
    the items (a tuple), so while it lives no other object can have one of those
    identities. At most ``max_entries`` entries, the least recently used go first.
    Reading costs a tuple of ids and one lookup; thread-safe.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[Any, tuple[int, ...]], tuple[tuple[Any, ...], Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, items: Sequence[Any], key: Any, compute: Callable[..., T], *args: Any) -> T:
        ident = (key, tuple(map(id, items)))
        with self._lock:
            entry = self._entries.get(ident)
            if entry is not None:
                self._entries.move_to_end(ident)
                return entry[1]  # type: ignore[no-any-return]
        value = compute(*args)
        with self._lock:
            self._entries[ident] = (tuple(items), value)
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
