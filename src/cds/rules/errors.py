"""Load errors and warnings of a rule set: every one names file, line, what is wrong and what to do.

An error refuses the whole set (`RuleSetError`); a warning (`RuleWarning`) lets
it load and travels with it (``RuleSet.warnings``) so that `cds rules check`,
`cds backtest` and the service show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class _Located:
    """A message about one place in one rule file."""

    file: str
    line: int | None
    message: str
    hint: str = ""

    @property
    def located(self) -> str:
        """``file:line: message``, without the hint (what the service logs of a warning)."""
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


@dataclass(frozen=True)
class RuleError(_Located):
    """One problem in one rule file: ``file:line: message — hint``."""

    def __str__(self) -> str:
        return self.located + (f" — {self.hint}" if self.hint else "")


@dataclass(frozen=True)
class RuleWarning(_Located):
    """Something a rule set loads with but its authors should see: ``file:line: message (hint)``."""

    def __str__(self) -> str:
        return self.located + (f" ({self.hint})" if self.hint else "")


class RuleSetError(Exception):
    """A rule set failed to load; ``errors`` lists every problem found across all files, ``warnings`` the warnings."""

    def __init__(self, errors: list[RuleError], warnings: Sequence[RuleWarning] = ()) -> None:
        self.errors = list(errors)
        self.warnings = list(warnings)
        count = len(self.errors)
        lines = "\n".join(str(e) for e in self.errors)
        super().__init__(f"rule set refused: {count} error{'s' if count != 1 else ''}\n{lines}")


def display_path(path: Path, base: Path | None = None) -> str:
    """A path as shown in messages: relative to ``base`` (or the working directory) when possible."""
    for root in (base, Path.cwd()):
        if root is None:
            continue
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)
