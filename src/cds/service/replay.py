"""The ``jti`` of every accepted client JWT, shared by all workers of a service (and, with a store, all hosts).

With an audit store (as ``cds serve`` runs), `StoreReplayGuard` keeps the
record in the database (table ``jti_seen``): one insert on a unique key per
accepted token, so a token replayed to another worker *or another host* of the
same database is refused; expired rows are pruned once a minute. While the
database cannot be reached it falls back to the local `ReplayTable` below
(replays to the same host are still refused; a replay to another host during
the outage is not: logged as a warning). Without a store the local table is
the record.

A client JWT may be used once (CDS Hooks 2.0 "Trusting CDS Clients"). The
service remembers each accepted ``(iss, jti)`` until the token expires (its
``exp`` plus the leeway) in a `ReplayTable`: a fixed-size hash table in a
memory-mapped file in the data directory (``<data_dir>/jti-replay.bin``). Every
worker process of ``cds serve --workers N`` maps the same file, so a token
replayed to another worker is refused, and a restarted service still knows the
tokens it accepted before, until they expire. One worker uses it too: there is
no second, in-memory mechanism.

The file holds digests and expiry times only: a slot is the 16-byte BLAKE2b
digest of (issuer, jti) and the Unix time after which it is free again. No
token, claim, subject or patient identifier is written.

Layout: a 64-byte header (`MAGIC`, `FORMAT_VERSION`, slots per bucket, bucket
count), then the buckets. A key's bucket is fixed by its digest; a bucket holds
`SLOTS_PER_BUCKET` slots, its digests first, then their expiry times (signed
64-bit, little-endian), so one ``bytes.find`` looks a key up. An empty or
expired slot is free. When all slots of a bucket hold live entries, the one
that expires first is dropped, with a warning: the table is too small for the
traffic (raise ``auth.jti_cache_size``). The table has `SLOTS_PER_ENTRY` slots
per configured entry, since keys do not spread perfectly evenly over the
buckets: with ``jti_cache_size`` live tokens about 3 inserts in 10,000 find
their bucket full, with three quarters of that about 1 in a million. (Buckets
of 8 slots in a file of the same size would overflow at 1 % to 5 % of inserts
near the configured load; 32 cost no more to search, one ``find`` each.)

Check-and-insert is one critical section across processes (``flock`` on the
file) and across the threads of a process (a `threading.Lock`: ``flock`` does
not exclude threads that share one open file). A file of another size or
format (``jti_cache_size`` changed, or another version) is replaced by a new,
empty one, never read as this one; processes still mapping the old file keep it
until they restart.

Limits: the table is shared through the file system of one host. Services on
several hosts each keep their own; catching a token replayed to another host
would need a shared store (``flock`` on network file systems is unreliable,
so do not put the data directory on NFS for this). Keep
``auth.max_token_lifetime_seconds`` short.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import mmap
import os
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cds.store import AuditStore

__all__ = ["FORMAT_VERSION", "MAGIC", "SLOTS_PER_BUCKET", "SLOTS_PER_ENTRY", "ReplayTable", "StoreReplayGuard"]

log = logging.getLogger(__name__)

MAGIC = b"CDS-JTI\x00"
FORMAT_VERSION = 1
#: Slots in one bucket: a lookup compares a key with all of them.
SLOTS_PER_BUCKET = 32
#: Table slots per configured entry (``auth.jti_cache_size``): head-room for buckets that fill faster than others.
SLOTS_PER_ENTRY = 2

_HEADER = struct.Struct("<8sIIQ")  # magic, format version, slots per bucket, buckets
_HEADER_BYTES = 64
_DIGEST_BYTES = 16
_DIGESTS_BYTES = SLOTS_PER_BUCKET * _DIGEST_BYTES
_EXPIRIES = struct.Struct(f"<{SLOTS_PER_BUCKET}q")
_EXPIRY = struct.Struct("<q")
_BUCKET_BYTES = _DIGESTS_BYTES + _EXPIRIES.size


_forks = 0  # forks of this process so far: a forked child must open the file itself (flock is per open file)


def _count_fork() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_count_fork)


def _digest(issuer: str, jti: str) -> bytes:
    """The table key of (issuer, jti): a 16-byte BLAKE2b digest.

    The issuer's length keeps the pair unambiguous; ``surrogatepass`` because a
    JSON string (a jti) may hold a lone surrogate, which plain UTF-8 refuses.
    """
    pair = f"{len(issuer)}:{issuer}{jti}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(pair, digest_size=_DIGEST_BYTES).digest()


def _slot_of(digests: bytes, key: bytes) -> int | None:
    """The slot whose digest is ``key`` (a match must start on a slot boundary), or None."""
    at = digests.find(key)
    while at >= 0:
        if at % _DIGEST_BYTES == 0:
            return at // _DIGEST_BYTES
        at = digests.find(key, at + 1)
    return None


class ReplayTable:
    """Seen ``(iss, jti)`` pairs until they expire, in a table file shared by the processes that open it.

    >>> table = ReplayTable(Path("data/jti-replay.bin"), entries=100_000)
    >>> table.seen("https://epj.example.no", "4f1c...", expires_at=1_790_000_330)
    False
    >>> table.seen("https://epj.example.no", "4f1c...", expires_at=1_790_000_330)
    True

    The file is created (or replaced, see the module docstring) by `open` or on first use.
    """

    def __init__(self, path: Path, entries: int, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.buckets = max(1, math.ceil(entries * SLOTS_PER_ENTRY / SLOTS_PER_BUCKET))
        self.size = _HEADER_BYTES + self.buckets * _BUCKET_BYTES
        self._header = _HEADER.pack(MAGIC, FORMAT_VERSION, SLOTS_PER_BUCKET, self.buckets)
        self._clock = clock
        self._lock = threading.Lock()
        self._fd = -1
        self._map: mmap.mmap | None = None
        self._opened_at_fork = -1  # the value of _forks when _fd and _map were opened; -1: not open

    def bucket(self, issuer: str, jti: str) -> int:
        """The bucket (0 .. buckets - 1) that holds this pair."""
        return int.from_bytes(_digest(issuer, jti)[:8], "little") % self.buckets

    def seen(self, issuer: str, jti: str, expires_at: float) -> bool:
        """True if this pair is remembered and not yet expired; otherwise remember it until ``expires_at``."""
        key = _digest(issuer, jti)
        start = _HEADER_BYTES + (int.from_bytes(key[:8], "little") % self.buckets) * _BUCKET_BYTES
        with self._lock:
            if self._opened_at_fork != _forks:
                self._open()
            table = self._map
            assert table is not None
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                now = self._clock()
                slot = _slot_of(table[start:start + _DIGESTS_BYTES], key)
                if slot is not None:
                    if _EXPIRY.unpack_from(table, start + _DIGESTS_BYTES + slot * _EXPIRY.size)[0] >= now:
                        return True
                else:  # the slot that expires first: empty (0), expired, or else the one to drop
                    expiries = _EXPIRIES.unpack_from(table, start + _DIGESTS_BYTES)
                    first = min(expiries)
                    slot = expiries.index(first)
                    if first >= now:
                        log.warning("jti replay table bucket is full; the entry expiring first was dropped "
                                    "(raise auth.jti_cache_size)")
                at = start + slot * _DIGEST_BYTES
                table[at:at + _DIGEST_BYTES] = key
                _EXPIRY.pack_into(table, start + _DIGESTS_BYTES + slot * _EXPIRY.size, math.ceil(expires_at))
                return False
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def open(self) -> None:
        """Open the file now (creating it if need be) instead of at the first `seen`; OSError if it cannot be."""
        with self._lock:
            if self._opened_at_fork != _forks:
                self._open()

    def close(self) -> None:
        """Unmap and close the file (the next `seen` opens it again)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._opened_at_fork = -1

    def _open(self) -> None:
        self._close()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if self._ready(fd):
                    self._map = mmap.mmap(fd, self.size)
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    self._fd, self._opened_at_fork = fd, _forks
                    return
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the file was replaced: open the one now at the path

    def _ready(self, fd: int) -> bool:
        """True if ``fd`` (locked) is the table at the path, in this size and format (an empty new file is set up)."""
        opened = os.fstat(fd)
        try:
            if not os.path.samestat(opened, os.stat(self.path)):
                return False
        except FileNotFoundError:
            return False
        if opened.st_size == 0:
            self._initialise(fd)
            return True
        if opened.st_size == self.size and os.pread(fd, len(self._header), 0) == self._header:
            return True
        log.warning("%s has another size or format than auth.jti_cache_size gives; starting a new, empty table",
                    self.path)
        descriptor, name = tempfile.mkstemp(prefix=self.path.name, suffix=".new", dir=self.path.parent)
        try:
            self._initialise(descriptor)
            os.replace(name, self.path)
        except BaseException:
            os.unlink(name)
            raise
        finally:
            os.close(descriptor)
        return False

    def _initialise(self, fd: int) -> None:
        os.ftruncate(fd, self.size)  # zeros: every slot empty
        os.pwrite(fd, self._header, 0)


#: Seconds between two deletions of expired replay records from the store.
PRUNE_INTERVAL_SECONDS = 60.0


class StoreReplayGuard:
    """Seen ``(iss, jti)`` pairs in the audit store, shared by every host of one database (see the module docstring).

    Same contract as `ReplayTable.seen`; blocking (a database round trip), so
    call it off the event loop.
    """

    blocking = True

    def __init__(self, store: AuditStore, fallback: ReplayTable, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._fallback = fallback
        self._clock = clock
        self._next_prune = 0.0
        self._down = False

    def open(self) -> None:
        """Open the local fallback table now (OSError if it cannot be)."""
        self._fallback.open()

    def seen(self, issuer: str, jti: str, expires_at: float) -> bool:
        """True if this pair was accepted before and has not expired; otherwise remember it until ``expires_at``."""
        from cds.store.writer import unavailable

        now = self._clock()
        key = _digest(issuer, jti).hex()
        try:
            if now >= self._next_prune:
                self._next_prune = now + PRUNE_INTERVAL_SECONDS
                self._store.prune_jti(now=now)
            claimed = self._store.claim_jti(key, expires_at=math.ceil(expires_at), now=now)
        except Exception as exc:
            if not unavailable(exc):
                raise
            if not self._down:
                log.warning("jti replay record: the store is unreachable; refusing replays to this host only "
                            "until it is back")
                self._down = True
            return self._fallback.seen(issuer, jti, expires_at)
        if self._down:
            log.info("jti replay record: the store is reachable again")
            self._down = False
        self._fallback.seen(issuer, jti, expires_at)  # the local table also knows it, for the next outage
        return not claimed
