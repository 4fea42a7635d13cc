"""Load errors of a rule set: every one names file, line, what is wrong and what to do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RuleError:
    """One problem in one rule file: ``file:line: message — hint``."""

    file: str
    line: int | None
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}" + (f" — {self.hint}" if self.hint else "")


class RuleSetError(Exception):
    """A rule set failed to load; ``errors`` lists every problem found across all files."""

    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = list(errors)
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
