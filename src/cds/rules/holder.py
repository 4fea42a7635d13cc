"""Hot reload: `RuleSetHolder` swaps a freshly loaded rule set in atomically.

`current()` returns the rule set to use for one call; a call keeps the object it
got, so calls in flight finish on the old set while new calls get the new one.
`reload()` loads the directory again; a broken set is refused with its errors
and the old set keeps serving. A set that loads with warnings serves; each
warning is logged once when the set is taken (`log_warnings`, which the service
also calls for the set it starts with).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cds.rules.errors import RuleSetError
from cds.rules.ruleset import RuleSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: ``ok`` with the digest now serving, or the errors that refused it."""

    ok: bool
    changed: bool
    digest: str
    previous_digest: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # of the set now serving (or of the refused one)

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "changed": self.changed,
            "digest": self.digest,
            "previousDigest": self.previous_digest,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }


def log_warnings(ruleset: RuleSet) -> None:
    """Log each warning of a rule set the service starts serving: rule file, line and message (no hint)."""
    for warning in ruleset.warnings:
        log.warning("rule set %s: warning: %s", ruleset.digest[:12], warning.located)


class RuleSetHolder:
    """Holds the serving `RuleSet`; `reload` replaces it only with a set that loaded whole."""

    def __init__(self, directory: Path, overrides: Sequence[Path] = (), *, initial: RuleSet | None = None) -> None:
        self.directory = Path(directory)
        self.overrides = [Path(p) for p in overrides]
        self._reload_lock = threading.Lock()
        self._current = initial if initial is not None else RuleSet.load(self.directory, self.overrides)

    def current(self) -> RuleSet:
        return self._current  # one atomic attribute read

    def take(self, ruleset: RuleSet) -> RuleSet:
        """Serve ``ruleset`` from now on (a set loaded and checked elsewhere: a published version); return the old."""
        with self._reload_lock:
            old, self._current = self._current, ruleset
        if ruleset.digest != old.digest:
            log.info("rule set switched: %s -> %s", old.digest[:12], ruleset.digest[:12])
            log_warnings(ruleset)
        return old

    def reload(self) -> ReloadResult:
        with self._reload_lock:
            old = self._current
            try:
                new = RuleSet.load(self.directory, self.overrides)
            except RuleSetError as error:
                log.warning("rule set reload refused (%d errors); still serving %s", len(error.errors), old.digest[:12])
                return ReloadResult(
                    False, False, old.digest, old.digest, [str(e) for e in error.errors], [str(w) for w in error.warnings]
                )
            warnings = [str(w) for w in new.warnings]
            if new.digest == old.digest:  # same files: their warnings were logged when this set was taken
                return ReloadResult(True, False, old.digest, old.digest, warnings=warnings)
            self._current = new
            log.info("rule set reloaded: %s -> %s", old.digest[:12], new.digest[:12])
            log_warnings(new)
            return ReloadResult(True, True, new.digest, old.digest, warnings=warnings)
