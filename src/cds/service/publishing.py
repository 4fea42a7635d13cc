"""`RuleSetPublisher`: one rule set served by every worker and every replica of one database.

The rule set that serves is the newest one *published* in the audit store
(table ``ruleset_versions``: the files as one archive, `cds.rules.archive`,
with their digest). A reload (``POST /admin/rules/reload``, SIGHUP) on any
worker of any host reads the local rule directory once, validates exactly
those bytes, and publishes them as a new version that takes effect at
``effective_at`` = now + ``rules_switch_seconds``; a broken set is refused
with its errors and nothing is published, so nothing changes anywhere.

Every worker runs one thread that looks at the store every
``rules_poll_seconds``, loads each new version as soon as it sees it (the
same archive, unpacked under ``<data_dir>/rulesets/<version>``), and swaps it
in at its ``effective_at``, not before: until that moment every worker
serves the previous version, after it the new one. A worker switches late
only if it could not load the version in time (the poll interval plus the
load time, ~2 s for the bundled rules, must stay below
``rules_switch_seconds``; it logs a warning when it happens). Clocks of the
hosts must agree (NTP): the switch happens at the same wall-clock moment.

At start, a worker serves the version in effect in the store (and loads one
still pending); a store with no version yet gets the local rule directory
published. Rule files on disk that differ from the published set are *not*
published by a start (a replica restarted with stale files must not roll the
others back): the worker logs a warning and serves the published set.

The call's audit row names the digest it was evaluated with, as before.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cds.rules.archive import ArchiveError, pack, unpack
from cds.rules.errors import RuleError, RuleSetError
from cds.rules.holder import ReloadResult, RuleSetHolder
from cds.rules.ruleset import RuleSet
from cds.store import AuditStore
from cds.store.records import PublishedVersion

__all__ = ["RULESETS_DIR", "RuleSetPublisher"]

log = logging.getLogger(__name__)

#: The directory (under the data directory) where published versions are unpacked to be loaded.
RULESETS_DIR = "rulesets"


class RuleSetPublisher:
    """Publishes reloads to the store and switches the worker's `RuleSetHolder` to each version on time."""

    def __init__(self, holder: RuleSetHolder, store: AuditStore, *, data_dir: Path, switch_seconds: float,
                 poll_seconds: float, clock: Callable[[], datetime]) -> None:
        self._holder = holder
        self._store = store
        self._dir = Path(data_dir) / RULESETS_DIR
        self._switch = switch_seconds
        self._poll = poll_seconds
        self._clock = clock
        self._known: PublishedVersion | None = None  # the newest version this worker has seen
        self._serving: int | None = None
        self._pending: list[tuple[PublishedVersion, RuleSet]] = []
        self._wake = threading.Condition()
        self._publishing = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._poll_failing = False

    def version(self) -> int | None:
        """The published version this worker serves (None before `start`; for the rule-set version gauge)."""
        return self._serving

    # ------------------------------------------------------------------ start and stop

    def start(self) -> None:
        """Take the version in effect (publishing the local rules if the store has none) and start watching."""
        versions = self._store.ruleset_versions()
        if not versions:
            result, _ = self.publish(switch_seconds=0.0)
            if not result.ok:  # pragma: no cover - the holder's own set loaded from these files at start
                raise RuleSetError([RuleError("rules", None, "; ".join(result.errors), "fix the rule files")])
            versions = self._store.ruleset_versions()
        now = self._clock()
        in_effect = [v for v in versions if v.effective_at <= now] or versions[:1]
        active = in_effect[-1]
        ruleset = self._load(active)
        if ruleset.digest != self._holder.current().digest:
            log.warning("the rule files in %s differ from the published rule set %s (version %d), which this "
                        "worker serves; a reload publishes the files", self._holder.directory,
                        active.digest[:12], active.version)
            self._holder.take(ruleset)
        self._serving, self._known = active.version, active
        self._thread = threading.Thread(target=self._run, name="cds-ruleset-publisher", daemon=True)
        for version in versions:
            if version.version > active.version:
                self._accept(version, self._load(version))  # pending: switched to by the thread, on time
        self._thread.start()

    def stop(self) -> None:
        """Stop watching the store (the rule set in use stays)."""
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join()

    # ------------------------------------------------------------------ publishing

    def publish(self, *, switch_seconds: float | None = None) -> tuple[ReloadResult, PublishedVersion | None]:
        """Validate the local rule files and publish them as a new version (see the module docstring).

        Returns the reload result and the version published (None when the
        set was refused or equals the newest published one). Store errors
        propagate: nothing was published then.
        """
        with self._publishing:
            previous = self._store.ruleset_versions(after=self._known.version if self._known else 0)
            for version in previous:
                self._accept(version, None)
            known = self._known.digest if self._known else None  # None: the store has no version yet
            latest = known or self._holder.current().digest
            try:
                archive = pack(self._holder.directory, self._holder.overrides)
            except OSError as exc:
                message = f"cannot read the rule files: {exc.strerror or exc} ({exc.filename})"
                return ReloadResult(False, False, latest, latest, [message]), None
            staging = self._staging()
            try:
                files = unpack(archive, staging)
                ruleset = RuleSet.load(files.rules_dir, files.overrides)
            except RuleSetError as error:
                log.warning("rule set reload refused (%d errors); nothing published", len(error.errors))
                return ReloadResult(False, False, latest, latest, [str(e) for e in error.errors],
                                    [str(w) for w in error.warnings]), None
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            warnings = [str(w) for w in ruleset.warnings]
            if ruleset.digest == known:
                return ReloadResult(True, False, latest, latest, warnings=warnings), None
            published = self._store.publish_ruleset(
                ruleset.digest, archive, switch_seconds=self._switch if switch_seconds is None else switch_seconds,
                now=self._clock())
            log.info("rule set %s published as version %d, serving everywhere from %s", ruleset.digest[:12],
                     published.version, published.effective_at.isoformat())
            self._accept(published, ruleset)
            return ReloadResult(True, True, ruleset.digest, latest, warnings=warnings), published

    # ------------------------------------------------------------------ switching

    def _accept(self, version: PublishedVersion, ruleset: RuleSet | None) -> None:
        """Note a version newer than the known one; keep its loaded set to switch to at its ``effective_at``."""
        if self._known is not None and version.version <= self._known.version:
            return
        if ruleset is None:
            ruleset = self._load(version)  # raises before the version counts as known: tried again next poll
        self._known = version
        with self._wake:
            self._pending.append((version, ruleset))
            self._wake.notify_all()
        if self._thread is None:  # not started (an app whose lifespan does not run): switch now
            self._switch_due(force=True)

    def _switch_due(self, *, force: bool = False) -> None:
        now = self._clock()
        with self._wake:
            due = [(v, r) for v, r in self._pending if force or v.effective_at <= now]
            self._pending = self._pending[len(due):]
        if not due:
            return
        version, ruleset = due[-1]
        late = (now - version.effective_at).total_seconds()
        if late > max(1.0, self._poll):
            log.warning("rule set version %d switched %.1f s after its effective time (raise rules_switch_seconds)",
                        version.version, late)
        self._holder.take(ruleset)
        self._serving = version.version

    def _run(self) -> None:
        next_poll = 0.0
        while True:
            with self._wake:
                if self._stopped:
                    return
            self._switch_due()
            now = self._clock().timestamp()
            if now >= next_poll:
                self._poll_store()
                next_poll = self._clock().timestamp() + self._poll
            with self._wake:
                wake_at = next_poll
                if self._pending:
                    wake_at = min(wake_at, self._pending[0][0].effective_at.timestamp())
                if not self._stopped:
                    self._wake.wait(max(0.0, wake_at - self._clock().timestamp()))

    def _poll_store(self) -> None:
        try:
            with self._publishing:
                for version in self._store.ruleset_versions(after=self._known.version if self._known else 0):
                    self._accept(version, None)
        except Exception as exc:  # noqa: BLE001 - the store may be down: keep serving, try again
            if not self._poll_failing:
                log.warning("cannot read the published rule-set version: %s", type(exc).__name__)
                self._poll_failing = True
            return
        self._poll_failing = False

    # ------------------------------------------------------------------ loading

    def _load(self, version: PublishedVersion) -> RuleSet:
        """The rule set of a published version: the serving one when the digest agrees, else unpacked and loaded."""
        current = self._holder.current()
        if current.digest == version.digest:
            return current
        target = self._dir / str(version.version)
        if not (target / "manifest.json").is_file():
            staging = self._staging()
            try:
                unpack(self._store.ruleset_archive(version.version), staging)
                try:
                    os.replace(staging, target)
                except OSError:  # another worker unpacked it first
                    shutil.rmtree(staging, ignore_errors=True)
            except ArchiveError:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        files = unpack_paths(target)
        ruleset = RuleSet.load(files[0], files[1])
        if ruleset.digest != version.digest:
            log.error("published rule set version %d loads with digest %s, not %s", version.version,
                      ruleset.digest[:12], version.digest[:12])
        return ruleset

    def _staging(self) -> Path:
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._dir.chmod(0o700)  # published rule files are the service's own, like everything in the data directory
        return Path(tempfile.mkdtemp(prefix=".staging-", dir=self._dir))


def unpack_paths(target: Path) -> tuple[Path, list[Path]]:
    """The rule directory and override files of a version unpacked in ``target``."""
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    return target / "rules", [target / name for name in manifest.get("overrides", [])]
