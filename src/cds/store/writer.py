"""`AuditWriter`: write-behind recording of hook calls, in batches, off the request path.

The service answers a hook call first and records it afterwards. Writing each
call in its own transaction costs a worker a begin, two inserts and a commit per
call (docs/performance.md); the writer instead takes the calls a worker
serves into a bounded in-memory queue, and one background thread per process
writes them in one transaction per batch (`AuditStore.record_calls`: one
multi-row insert for the calls, one for their cards). A batch is what has
accumulated, plus whatever arrives within ``linger`` (50 ms) of its first call:
at a few dozen calls per second that still makes batches of several calls.
While it lingers the thread sleeps and takes the calls from the queue at the
end, so queueing a call does not wake it (a wake-up per call cost the worker a
thread switch and a turn of the GIL per call); a flush, `close`, or a full batch
ends the wait early.

Guarantees:

* **Nothing is dropped silently.** When the queue is full, `submit` waits
  until the writer has made room (back-pressure: a worker whose database cannot
  keep up slows down instead of losing records or growing without bound).
  `submit_async` waits in a thread so the event loop keeps serving meanwhile.
* **Nothing is lost on a graceful shutdown.** `close` writes everything
  submitted before it and stops the thread; the app's lifespan end calls it.
  (A process killed outright loses what is still queued: at most the calls of
  the last moments, ``max_pending`` at worst.)
* **A failing write does not stop recording.** When a batch's transaction
  fails, each of its calls is retried alone, so one bad record cannot take
  its neighbours with it; what still fails is logged in one line (the
  error's class and first line; no record content) and dropped, and the thread
  goes on with the next batch.
* **Reads can see everything recorded so far.** `flush` returns once every call
  submitted before it is written (or has failed). The feedback endpoint flushes
  before it looks up the card a clinician answers about, and the dashboard
  before it reads. A flush reaches this process's writer only: with several
  workers, feedback that arrives on another worker within the ~50 ms a call
  can wait in its worker's queue finds the card not yet written (it is
  stored all the same, flagged ``known_card = false``).

* **An unreachable database leaves no hole** (with a spool, as the service
  runs it). A batch that fails because the database cannot be reached
  (`unavailable`: a connection or operational error) goes whole to the
  `cds.store.spool.AuditSpool`, fsynced, and the thread retries the spool
  every ``retry_seconds`` (and before every batch): it writes the spooled
  entries in order before anything new, each idempotently, so nothing is
  written twice. Feedback takes the same way (`record_feedback`): stored when
  the database answers, spooled when it does not, and `SpoolFull` when it can
  be neither (the endpoint answers 503 with ``Retry-After``). Only a call the
  spool cannot take either (full, unwritable) is logged as lost.

The thread starts with the first `submit`, in the process that serves, so an
app built before a server forks its workers has no thread to lose.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from anyio import to_thread
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from cds.store.records import CallRecord, FeedbackResult
from cds.store.spool import AuditSpool, SpoolFull

if TYPE_CHECKING:
    from cds.hooks.models import FeedbackItem
    from cds.store.repository import AuditStore

__all__ = ["AuditWriter", "SpoolFull", "unavailable"]

log = logging.getLogger(__name__)

#: Calls waiting to be written before `AuditWriter.submit` waits (back-pressure).
DEFAULT_MAX_PENDING: Final = 2000
#: Calls written in one transaction at most.
DEFAULT_MAX_BATCH: Final = 200
#: Seconds the writer waits for more calls after the first of a batch (unless flushed or closed).
DEFAULT_LINGER_SECONDS: Final = 0.05
#: Seconds between attempts to write the spool while the database is unreachable.
DEFAULT_RETRY_SECONDS: Final = 1.0


def unavailable(exc: BaseException) -> bool:
    """True if ``exc`` says the database could not be reached or used (not that a record was bad)."""
    if isinstance(exc, (OperationalError, InterfaceError, DisconnectionError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class _Flush:
    """A marker in the queue: set once everything queued before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP: Final = object()


class AuditWriter:
    """Records `CallRecord` s into an `AuditStore` from one background thread (see the module docstring)."""

    def __init__(self, store: AuditStore, *, max_pending: int = DEFAULT_MAX_PENDING,
                 max_batch: int = DEFAULT_MAX_BATCH, linger: float = DEFAULT_LINGER_SECONDS,
                 spool: AuditSpool | None = None, retry_seconds: float = DEFAULT_RETRY_SECONDS) -> None:
        if max_pending < 1 or max_batch < 1 or linger < 0 or retry_seconds <= 0:
            raise ValueError("max_pending and max_batch must be at least 1, linger at least 0, retry_seconds above 0")
        self._store = store
        self._spool = spool
        self._retry = retry_seconds
        self._spooling = False  # warned about this outage already
        self._max_batch = max_batch
        self._linger = linger
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._wake = threading.Event()  # ends the thread's linger early (flush, close, a full batch)
        # Calls in the queue that end the linger: with the one the thread holds, a full batch (or a full queue).
        self._enough = max(1, min(max_batch - 1, max_pending))

    @property
    def store(self) -> AuditStore:
        """The store written to."""
        return self._store

    @property
    def spool(self) -> AuditSpool | None:
        """Where calls and feedback wait while the database is unreachable (None: they are not kept)."""
        return self._spool

    def spool_pending(self) -> bool:
        """True while spooled calls or feedback wait for the database (their cards may not be in the store yet)."""
        return self._spool is not None and self._spool.pending()

    def record_feedback(self, service_id: str, items: list[FeedbackItem], *, received_at: datetime) -> FeedbackResult:
        """Store feedback, or spool it durably when the database is unreachable (``spooled`` counts it).

        Raises `SpoolFull` when it can be neither stored nor spooled. Blocking: call it off the event loop.
        """
        self.flush()  # the card answered about may have been served a moment ago and still be queued
        try:
            return self._store.record_feedback(service_id, items, received_at=received_at)
        except Exception as exc:
            if self._spool is None or not unavailable(exc):
                raise
            self._warn_spooling("feedback", exc)
        self._spool.append({
            "kind": "feedback",
            "service_id": service_id,
            "received_at": received_at.isoformat(),
            "items": [item.model_dump(mode="json", exclude_none=True) for item in items],
        })
        with self._lock:
            if not self._closed:
                self._start()  # the thread writes the spool when the database is back
        self._wake.set()
        return FeedbackResult(stored=0, duplicates=0, unknown_cards=0, spooled=len(items))

    # ------------------------------------------------------------------ producers

    def submit(self, record: CallRecord) -> None:
        """Queue ``record`` for writing; wait while the queue is full. Refused after `close`."""
        with self._lock:  # held while waiting for room: the thread never takes it, and close() must wait
            self._start()
            if self._queue.full():
                self._wake.set()  # make room now rather than at the end of the linger
            self._queue.put(record)
            self._wake_if_enough()

    async def submit_async(self, record: CallRecord) -> None:
        """`submit` for the event loop: queue at once when there is room, else wait in a worker thread."""
        if self._lock.acquire(blocking=False):
            try:
                self._start()
                self._queue.put_nowait(record)
                self._wake_if_enough()
                return
            except queue.Full:
                pass
            finally:
                self._lock.release()
        await to_thread.run_sync(self.submit, record)

    def flush(self) -> None:
        """Return once every call submitted before this call is written (or has failed and been logged)."""
        marker = _Flush()
        with self._lock:
            if self._thread is None or self._closed:
                return  # nothing was ever queued, or close() already wrote everything
            self._queue.put(marker)
        self._wake.set()
        marker.done.wait()

    def close(self) -> None:
        """Write everything queued, then stop the thread. Idempotent; the store itself stays open."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)  # the last item ever queued: submissions are refused from now on
                self._wake.set()
        if thread is not None:
            thread.join()

    def _wake_if_enough(self) -> None:
        if self._queue.qsize() >= self._enough:
            self._wake.set()

    def _start(self) -> None:
        """Refuse when closed; start the thread on first use. Called with the lock held."""
        if self._closed:
            raise RuntimeError("the audit writer is closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cds-audit-writer", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        stop = False
        while not stop:
            if self._spool is not None and self._spool.pending():
                try:
                    items = [self._queue.get(timeout=self._retry)]
                except queue.Empty:
                    self._drain()
                    continue
            else:
                items = [self._queue.get()]
            # Let more calls gather for up to `linger` seconds (a transaction costs about as much
            # as several rows), then take them; a flush, close or a full batch ends the wait at once.
            if isinstance(items[0], CallRecord) and self._queue.qsize() < self._enough:
                self._wake.wait(self._linger)
            self._wake.clear()  # before taking: a wake-up set after this finds its marker in the queue
            while len(items) < self._max_batch and isinstance(items[-1], CallRecord):
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            records: list[CallRecord] = []
            for item in items:
                if isinstance(item, CallRecord):
                    records.append(item)
                    continue
                self._write(records)  # what came before a marker is written before the marker is answered
                records = []
                if isinstance(item, _Flush):
                    self._drain()  # a reader flushing wants the spooled entries too, when they can be written
                    item.done.set()
                else:
                    stop = True  # _STOP: nothing follows it
            self._write(records)

    def _drain(self) -> bool:
        """Write the spool's entries in order; True when it is empty (or there is none)."""
        if self._spool is None or not self._spool.pending():
            self._spooling = False
            return True
        try:
            written = self._spool.drain(self._write_entry)
        except Exception as exc:  # noqa: BLE001 - still unreachable: the entries stay, retried later
            log.debug("audit spool not written yet: %s", _describe(exc))
            return False
        if written:
            log.info("audit store reachable again: %d spooled entries written", written)
        self._spooling = False
        return True

    def _write_entry(self, entry: dict[str, Any]) -> None:
        if entry.get("kind") == "calls":
            self._store.write_call_rows(entry["rows"])
        elif entry.get("kind") == "feedback":
            from cds.hooks.models import FeedbackItem

            items = [FeedbackItem.model_validate(item) for item in entry["items"]]
            self._store.record_feedback(entry["service_id"], items,
                                        received_at=datetime.fromisoformat(entry["received_at"]))
        else:
            log.warning("audit spool: skipping an entry of unknown kind")

    def _spool_rows(self, rows: list[dict[str, Any]], exc: BaseException | None) -> bool:
        """Keep ``rows`` in the spool; False (logged) if it cannot take them."""
        assert self._spool is not None
        try:
            self._spool.append({"kind": "calls", "rows": rows})
        except SpoolFull as full:
            log.error("could not record %d calls: the audit store is unreachable and %s", len(rows), full)
            return False
        if exc is not None:
            self._warn_spooling("calls", exc)
        return True

    def _warn_spooling(self, what: str, exc: BaseException) -> None:
        """One warning per outage (not per request): the first time something goes to the spool."""
        if not self._spooling:
            self._spooling = True
            log.warning("audit store unreachable; %s and everything after it go to the spool until it is back: %s",
                        what, _describe(exc))

    def _write(self, records: Sequence[CallRecord]) -> None:
        if not records:
            return
        if self._spool is not None:
            try:
                rows = [self._store.call_row(record) for record in records]
            except Exception as exc:  # noqa: BLE001 - a malformed record: the path below logs it
                log.error("could not record %d calls in the audit store: %s", len(records), _describe(exc))
                return
            if not self._drain():  # older entries first: still unreachable, so these wait behind them
                self._spool_rows(rows, None)
                return
            try:
                self._store.write_call_rows(rows)
                return
            except Exception as exc:  # noqa: BLE001 - spooled, or retried one by one below
                if unavailable(exc):
                    self._spool_rows(rows, exc)
                    return
        try:
            self._store.record_calls(records)
            return
        except Exception:  # noqa: BLE001 - retried one by one below
            pass
        failed: list[BaseException] = []
        for record in records:
            try:
                self._store.record_calls((record,))
            except Exception as exc:  # noqa: BLE001 - logged below; the writer must keep going
                failed.append(exc)
        if failed:
            log.error("could not record %d of %d calls in the audit store: %s", len(failed), len(records),
                      _describe(failed[-1]))


def _describe(exc: BaseException) -> str:
    """The error's class and the first line of its driver message: never the SQL parameters."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__
