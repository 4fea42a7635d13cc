"""A rule set's files in one archive, to publish through the store and load the same anywhere.

`pack` reads a rule directory (every file, skipping hidden ones and caches)
and the override files into a gzip'd tar, once: what is validated, published
and later loaded is these bytes, even if the files on disk change meanwhile.
`unpack` writes an archive into a directory and returns the rule directory and
override paths to load from it. The layout keeps the rule-set digest the same
as when loading the original files: files under the rule directory keep their
relative paths (``rules/...``), overrides inside it too, and overrides outside
it keep their file name (``external/<n>/<name>``), as the digest uses.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["ArchiveError", "UnpackedRuleSet", "pack", "unpack"]

_MANIFEST = "manifest.json"
_RULES = "rules"


class ArchiveError(Exception):
    """The archive is not a rule-set archive this version can read."""


@dataclass(frozen=True)
class UnpackedRuleSet:
    """Where an unpacked archive's rule directory and override files are."""

    rules_dir: Path
    overrides: list[Path]


def _skipped(relative: Path) -> bool:
    return any(part.startswith(".") or part == "__pycache__" for part in relative.parts)


def pack(directory: Path, overrides: Sequence[Path] = ()) -> bytes:
    """The rule directory and override files as one archive (OSError if a file cannot be read)."""
    directory = Path(directory)
    files: dict[str, bytes] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.is_file() and not _skipped(relative):
            files[f"{_RULES}/{relative.as_posix()}"] = path.read_bytes()
    names: list[str] = []
    for index, override in enumerate(Path(p) for p in overrides):
        if override.resolve().is_relative_to(directory.resolve()):
            name = f"{_RULES}/{override.resolve().relative_to(directory.resolve()).as_posix()}"
        else:
            name = f"external/{index}/{override.name}"
        files[name] = override.read_bytes()
        names.append(name)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for name, data in [(_MANIFEST, json.dumps({"format": 1, "overrides": names}).encode()), *files.items()]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0  # no times: the same files, the same bytes
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def unpack(archive: bytes, target: Path) -> UnpackedRuleSet:
    """Write ``archive`` into the (new or empty) directory ``target``; `ArchiveError` if it is not one."""
    target = Path(target)
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                name = PurePosixPath(member.name)
                if not member.isfile() or name.is_absolute() or ".." in name.parts:
                    raise ArchiveError(f"unexpected entry {member.name!r} in a rule-set archive")
            tar.extractall(target, members=members, filter="data")
        manifest = json.loads((target / _MANIFEST).read_text(encoding="utf-8"))
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        raise ArchiveError(f"not a rule-set archive: {exc}") from exc
    if manifest.get("format") != 1:
        raise ArchiveError(f"rule-set archive format {manifest.get('format')!r} is not supported")
    rules_dir = target / _RULES
    rules_dir.mkdir(exist_ok=True)
    return UnpackedRuleSet(rules_dir, [target / name for name in manifest.get("overrides", [])])
