"""Memoisation of pure per-resource derivations across snapshot builds.

Parsed FHIR models are shared between calls by the ResourceSet parse cache
(same content -> same model object), so what is derived from one model alone
(its codings, the value sets they belong to) can be kept as long as the model
lives. The cache is keyed by object identity, checked through a weak
reference, and an entry is dropped when its model is garbage-collected. R4B
models are unhashable, hence not a WeakKeyDictionary.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["IdentityMemo"]

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
