"""Card text and suggestion templates: Jinja2 in a sandbox, compiled once and checked at load.

Templates see: every top-level snapshot fact (``age``, ``cfs.score``,
``scores.lace.points`` ...), the rule's parameters by name, the derived facts
the rule set declares, and the call context ``patient_id``, ``encounter_id``
and ``gp_reference``. Undefined names fail (StrictUndefined); `check_template`
finds them at load time so a typo never reaches a clinician.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from cds.rules.catalogue import UnknownFact, resolve, top_level_facts

CONTEXT_NAMES: tuple[str, ...] = ("patient_id", "encounter_id", "gp_reference")

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def environment() -> SandboxedEnvironment:
    return _ENV


@dataclass(frozen=True)
class CompiledTemplate:
    """A template compiled once; ``names`` are the top-level names it reads."""

    source: str
    render: Callable[..., str]
    names: frozenset[str]


def _dotted(node: nodes.Node) -> str | None:
    parts: list[str] = []
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            parts.append(node.arg.value)
        else:
            return None
        node = node.node
    if isinstance(node, nodes.Name):
        parts.append(node.name)
        return ".".join(reversed(parts))
    return None


def check_template(source: str, allowed: Iterable[str]) -> tuple[CompiledTemplate | None, list[str]]:
    """Compile a template and list its problems (syntax, unknown names, unknown fact paths)."""
    if "{{" not in source and "{%" not in source and "{#" not in source:  # plain text: nothing to compile
        return CompiledTemplate(source=source, render=lambda **_: source, names=frozenset()), []
    allowed_names = set(allowed)
    facts = set(top_level_facts())
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as error:
        return None, [f"template syntax error: {error.message}"]
    problems: list[str] = []
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    names: set[str] = set()
    for name_node in tree.find_all(nodes.Name):
        if name_node.ctx != "load" or name_node.name in assigned:
            continue
        names.add(name_node.name)
        if name_node.name not in allowed_names and name_node.name not in facts:
            problems.append(f"template refers to unknown name {name_node.name!r}")
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        dotted = _dotted(node)
        if dotted is None or dotted.split(".")[0] not in facts or dotted.split(".")[0] in assigned:
            continue
        try:
            resolve(dotted, partial=True)
        except UnknownFact as error:
            problems.append(f"template refers to unknown field: {error}")
    if problems:
        return None, sorted(set(problems))
    template = _ENV.from_string(source)
    return CompiledTemplate(source=source, render=template.render, names=frozenset(names)), []


def render_value(value: Any, render: Callable[[Any], Any]) -> Any:
    """Apply ``render`` to every string inside a nested dict/list template."""
    if isinstance(value, str):
        return render(value)
    if isinstance(value, dict):
        return {k: render_value(v, render) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, render) for v in value]
    return value


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []
