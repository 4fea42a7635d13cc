"""YAML documents with the line of every node, for error messages that name ``file:line``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Loc = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """The parsed data of one file and the 1-based line of each location in it."""

    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line(self, loc: Sequence[str | int]) -> int:
        """Line of the deepest known location along ``loc`` (1 when nothing matches)."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)


# libyaml's parser when available (about ten times faster); same nodes, marks and safe constructors
_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlSyntaxError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(message)


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            _walk(value_node, (*loc, key), lines)
            lines[(*loc, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), lines)


def load_yaml(path: Path) -> YamlDocument:
    """Parse one YAML file with the safe loader, keeping line numbers (raises `YamlSyntaxError`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise YamlSyntaxError(None, f"cannot read the file: {error}") from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Loc, int] = {}
        data = None
        if node is not None:
            _walk(node, (), lines)
            data = loader.construct_document(node)
        return YamlDocument(path=path, data=data, lines=lines)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise YamlSyntaxError(mark.line + 1 if mark else None, f"YAML syntax error: {error.problem or error}") from None
    except yaml.YAMLError as error:
        raise YamlSyntaxError(None, f"YAML error: {error}") from None
    finally:
        loader.dispose()
