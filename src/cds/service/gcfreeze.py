"""Short full garbage collections with large caches: survivors of every full collection are frozen.

A worker keeps millions of long-lived container objects: the rule set and
model, and above all the parse cache's R4B models (up to 50,000 resources,
~47 GC-tracked objects each) and the facts/scores memos holding the same
models. CPython's generation-2 ("full") collection scans every tracked object
that is not frozen, so under patient churn, with the caches full, each one
takes seconds of CPU (``bench/bench_churn.py``; figures in docs/performance.md).

`GcFreezer` keeps the frozen part growing instead: after every full collection
(a ``gc.callbacks`` hook) it calls ``gc.freeze()``, which moves the survivors
to the permanent generation in constant time. The next full collection scans
only what was allocated and survived since, and lower thresholds for the older
generations (``thresholds``, default ``(700, 2, 1)``) make full collections
come after a few thousand surviving allocations, so each pause stays a few
milliseconds whatever the caches hold.

Why this does not leak:

* every object is scanned by one full collection before it is frozen, so
  garbage cycles that exist at that moment are collected, not frozen;
* a frozen object that is dropped later (a parse-cache or memo eviction, the
  end of a call) is still freed by reference counting. Only a reference cycle
  through a frozen object that becomes garbage afterwards stays: the service's
  call path creates none (no cyclic garbage over the persona calls, through
  ``process_call`` or the HTTP app: ``tests/service/gc_cycles_check.py``);
* the connections: on uvloop (what ``cds serve`` runs, uvicorn's default with
  uvloop installed) a closed connection leaves nothing; on the standard
  library's asyncio loop each one leaves a small cycle (its transport, socket
  and a bound method, ~7 objects), kept if the connection was open at a
  freeze (a few objects per new connection; none with keep-alive);
* a rule set replaced by a reload is such a cycle (~5,000 objects, a few
  MiB), and ``rescan_seconds`` (default one day) bounds what these hold: when
  it has passed, the next full collection runs over the whole heap again
  (unfrozen first; one long pause, seconds of CPU with full caches) and
  logs how many objects it found unreachable (a count only), then freezing
  resumes.

The freezer is process-wide state (``gc`` thresholds and callbacks): the
service starts one per worker in its lifespan and stops it at shutdown
(which unfreezes everything and restores the thresholds).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cds.service.settings import GcSettings

__all__ = ["GcFreezer"]

log = logging.getLogger("cds.service")


class GcFreezer:
    """Freezes the survivors of every full collection; ``start()`` and ``stop()`` it once per process."""

    def __init__(
        self,
        thresholds: tuple[int, int, int] = (700, 2, 1),
        rescan_seconds: float | None = 86_400.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.thresholds = thresholds
        self.rescan_seconds = rescan_seconds
        self._clock = clock
        self._saved_thresholds: tuple[int, int, int] | None = None
        self._last_rescan = 0.0
        self._rescanning = False
        #: full collections whose survivors were frozen, and full-heap rescans done
        self.freezes = 0
        self.rescans = 0

    @classmethod
    def from_settings(cls, settings: GcSettings) -> GcFreezer | None:
        """The freezer the settings ask for (None: ``freeze`` is off)."""
        if not settings.freeze:
            return None
        return cls(thresholds=settings.thresholds, rescan_seconds=settings.rescan_seconds)

    @property
    def running(self) -> bool:
        return self._after_collection in gc.callbacks

    def start(self) -> None:
        """Collect and freeze what is alive now (the loaded service), then after every full collection."""
        if self.running:
            raise RuntimeError("GcFreezer already started")
        self._saved_thresholds = gc.get_threshold()
        self._last_rescan = self._clock()  # the startup collection scans the whole heap
        gc.set_threshold(*self.thresholds)
        gc.callbacks.append(self._after_collection)
        gc.collect()  # the startup heap, frozen by the callback
        # A second pass over the (now empty) unfrozen heap: CPython defers a full collection until
        # a quarter of the last one's survivors have been added, and the last one was the whole heap.
        gc.collect()

    def stop(self) -> None:
        """Stop freezing, unfreeze everything and restore the thresholds."""
        if not self.running:
            return
        gc.callbacks.remove(self._after_collection)
        if self._saved_thresholds is not None:
            gc.set_threshold(*self._saved_thresholds)
        gc.unfreeze()
        self._rescanning = False

    def _after_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info["generation"] != 2:
            return
        now = self._clock()
        if self._rescanning:
            self._rescanning = False
            self._last_rescan = now
            self.rescans += 1
            log.info("full-heap garbage collection: %d unreachable objects found", info["collected"])
        elif self.rescan_seconds is not None and now - self._last_rescan >= self.rescan_seconds:
            gc.unfreeze()  # the next full collection scans everything once (a collection cannot start in a callback)
            self._rescanning = True
            return
        gc.freeze()
        self.freezes += 1
