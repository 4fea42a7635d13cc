"""`AuditSpool`: a bounded, durable local file for audit rows and feedback the database could not take.

When the audit database is unreachable (PostgreSQL restarting, a network cut),
the service keeps answering hook calls, and what it would have written goes to
a spool file in the data directory instead (``<data_dir>/audit-spool.jsonl``,
mode 0600): one JSON line per entry, appended and ``fsync`` ed before the
append returns, so an acknowledged feedback item survives a crash of the
process or the host. When the database answers again the writer drains the
spool *in file order* before it writes anything new, and each entry is written
idempotently (calls by their ``call_key``, feedback by its ``dedup_key``), so
an entry written twice (a drain cut off half-way, a commit whose
acknowledgement was lost) is stored once.

All workers of a service on one host share the file; appends and drains hold
an exclusive ``flock`` on a separate lock file (``audit-spool.lock``), so the
spool can be rewritten while nobody appends. What is in it is what the store
would hold: patient *pseudonyms*, never raw identifiers, and no tokens.

The spool is bounded (``max_bytes``): an append that would exceed it raises
`SpoolFull`, and the caller decides (feedback answers 503 with ``Retry-After``;
a call already answered is logged as lost). A torn last line (a crash during
an append, before its ``fsync`` returned, so never acknowledged) is skipped.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

__all__ = ["DEFAULT_SPOOL_MAX_BYTES", "SPOOL_FILE", "AuditSpool", "SpoolFull"]

log = logging.getLogger(__name__)

SPOOL_FILE: Final = "audit-spool.jsonl"
SPOOL_LOCK_FILE: Final = "audit-spool.lock"
#: Bytes the spool may hold (64 MiB: about 100,000 calls with their cards).
DEFAULT_SPOOL_MAX_BYTES: Final = 64 * 1024 * 1024


class SpoolFull(Exception):
    """The spool cannot take this entry: it would grow beyond its bound, or the file cannot be written."""


class AuditSpool:
    """Entries (JSON objects) kept in order in a local file until `drain` hands them to the database."""

    def __init__(self, directory: Path, *, max_bytes: int = DEFAULT_SPOOL_MAX_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.path = Path(directory) / SPOOL_FILE
        self._lock_path = Path(directory) / SPOOL_LOCK_FILE
        self.max_bytes = max_bytes
        self._threads = threading.Lock()  # flock does not exclude threads sharing one open file

    def pending(self) -> bool:
        """True if entries are waiting (one ``stat``: cheap enough to ask before every write)."""
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def depth(self) -> int:
        """The number of entries waiting to be written (for the audit spool depth gauge)."""
        try:
            with self.path.open("rb") as file:
                return sum(1 for line in file if line.endswith(b"\n"))
        except FileNotFoundError:
            return 0

    def append(self, entry: dict[str, Any]) -> None:
        """Add ``entry`` at the end, durably (fsynced) before returning; `SpoolFull` if it cannot be kept."""
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        try:
            with self._locked():
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    if os.fstat(fd).st_size + len(line) > self.max_bytes:
                        raise SpoolFull(f"the audit spool {self.path} is full ({self.max_bytes} bytes)")
                    os.write(fd, line)
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise SpoolFull(f"the audit spool {self.path} cannot be written: {exc.strerror or exc}") from exc

    def drain(self, write: Callable[[dict[str, Any]], None]) -> int:
        """Hand every entry to ``write``, oldest first; remove those written. Returns how many were.

        Stops at the first entry ``write`` raises for and re-raises: that entry
        and the ones after it stay in the spool, in order, for the next drain.
        """
        with self._locked():
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                return 0
            lines = data.split(b"\n")
            if lines and lines[-1]:
                log.warning("audit spool: skipping a torn last line (an append cut off before it was acknowledged)")
            lines = [line for line in lines[:-1] if line]
            done = 0
            try:
                for line in lines:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        log.warning("audit spool: skipping an unreadable entry")
                        done += 1
                        continue
                    write(entry)
                    done += 1
            finally:
                self._keep(lines[done:])
            return done

    def _keep(self, lines: list[bytes]) -> None:
        """Rewrite the spool with ``lines`` only (atomically: a new file renamed over the old one)."""
        if not lines:
            with open(self.path, "wb") as file:  # noqa: PTH123 - truncate in place keeps mode and owner
                os.fsync(file.fileno())
            return
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, b"".join(line + b"\n" for line in lines))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._threads:
            self._lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the lock
