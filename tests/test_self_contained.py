"""The repository stands alone: nothing names a path outside it, and every seed citation is defined.

Rule files, data tables and docs cite the Norwegian source documents as
``000:1730-1734`` (seed number, lines of the text copy) and other sources by an
id; docs/sources.md defines them. The text copies themselves are not in the
repository, so no file may point at where a developer happens to keep them.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHECKED = ("src", "tests", "docs", "rules", "models", "api", "scripts", "bench", "fhir_examples", "README.md")
CITING = ("rules", "docs", "src/cds/scores/data", "src/cds/model/data", "src/cds/quality/data")
SKIPPED_SUFFIXES = {".png", ".skops", ".npy", ".gz", ".pyc", ".sqlite", ".pickle"}
# Spelled in two parts so this file does not name them itself.
OUTSIDE_PATHS = ("../" + "shared", "/work/" + "shared")
# A seed citation: three digits, a colon, a line or line range; not a journal's "2013;173:632".
CITATION = re.compile(r"(?<![0-9A-Za-z;:.\-])(\d{3}):(\d+)(?:-(\d+))?")
SEED_ROW = re.compile(r"^\| `(\d{3})` \| `([A-Z][A-Z-]+)` \|.*`\d{3}_[0-9a-f]{16}\.txt`, ([\d,]+) lines, SHA-256 `[0-9a-f]{64}` \|$")


def _files(*roots: str) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        path = REPO / root
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        found += [
            p for p in candidates
            if p.suffix not in SKIPPED_SUFFIXES and "__pycache__" not in p.parts and ".venv" not in p.parts
        ]
    return found


def _defined_seeds() -> dict[str, int]:
    """Seed number -> line count of its text copy, from the seeds table of docs/sources.md."""
    seeds: dict[str, int] = {}
    for line in (REPO / "docs" / "sources.md").read_text(encoding="utf-8").splitlines():
        match = SEED_ROW.match(line)
        if match:
            seeds[match.group(1)] = int(match.group(3).replace(",", ""))
    return seeds


def test_no_file_names_a_path_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {needle}"
        for path in _files(*CHECKED)
        for needle in OUTSIDE_PATHS
        if needle in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert not offenders, "cite a source id from docs/sources.md instead: " + "; ".join(offenders)


def test_sources_page_defines_the_five_seeds_with_their_text_copies() -> None:
    assert sorted(_defined_seeds()) == ["000", "001", "002", "003", "004"]


def test_every_seed_citation_names_a_defined_seed_and_lines_inside_its_text_copy() -> None:
    seeds = _defined_seeds()
    problems: list[str] = []
    cited: set[str] = set()
    for path in _files(*CITING):
        for match in CITATION.finditer(path.read_text(encoding="utf-8", errors="replace")):
            seed, first, last = match.group(1), int(match.group(2)), int(match.group(3) or match.group(2))
            cited.add(seed)
            where = f"{path.relative_to(REPO)} ({match.group(0)})"
            if seed not in seeds:
                problems.append(f"{where}: seed {seed} is not defined in docs/sources.md")
            elif not 1 <= first <= last <= seeds[seed]:
                problems.append(f"{where}: lines outside 1-{seeds[seed]}")
    assert not problems, "; ".join(problems)
    assert {"000", "001", "004"} <= cited  # the check reads the files the citations are in


def test_the_readme_test_command_installs_no_system_packages() -> None:
    """scripts/test.sh may name an install command in a message, never run one."""
    commands = [
        line.strip() for line in (REPO / "scripts" / "test.sh").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#") and not line.strip().startswith("echo")
    ]
    assert not [c for c in commands if re.search(r"\b(apt-get|apt|dnf|yum|apk|brew)\b\s+(-\S+\s+)*install", c)]
