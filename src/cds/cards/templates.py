"""Card text and suggestion templates: Jinja2 in a sandbox, compiled once and checked at load.

Filters besides Jinja's own: ``num(digits)`` prints a number with fixed
decimals (decimal comma in nb) and ``pct(digits)`` a probability as per cent
(``{{ readmission_risk.probability | pct }}`` -> "35 %" / "35%").

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

from jinja2 import ChainableUndefined, StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.sandbox import SandboxedEnvironment

from cds.rules.catalogue import UnknownFact, resolve, top_level_facts

CONTEXT_NAMES: tuple[str, ...] = ("patient_id", "encounter_id", "gp_reference")

# What an unknown (None) value prints as, per language; suggestion resources use "".
UNKNOWN_TEXT: dict[str | None, str] = {"nb": "ukjent", "en": "unknown", None: ""}


def _lenient_undefined(text: str) -> type[Undefined]:
    """At run time a path through an unknown fact (``cfs.score`` without a CFS) prints as
    "unknown" and compares false, instead of failing the call. Unknown *names* never get
    here: `check_template` refuses them at load, and embedded tests render strictly."""

    class UnknownValue(ChainableUndefined):
        __slots__ = ()

        def __str__(self) -> str:
            return text

        def _false(self, *args: Any, **kwargs: Any) -> bool:
            return False

        __lt__ = __le__ = __gt__ = __ge__ = _false  # type: ignore[assignment]

    return UnknownValue


def _number_filters(language: str | None, unknown: str) -> dict[str, Callable[..., str]]:
    """``num`` (fixed decimals, decimal comma in nb) and ``pct`` (a probability as per cent)."""
    comma = language == "nb"

    def num(value: Any, digits: int = 0) -> str:
        if value is None or isinstance(value, Undefined) or isinstance(value, bool):
            return unknown
        text = f"{float(value):.{digits}f}"
        return text.replace(".", ",") if comma else text

    def pct(value: Any, digits: int = 0) -> str:
        if value is None or isinstance(value, Undefined) or isinstance(value, bool):
            return unknown
        return num(float(value) * 100, digits) + (" %" if comma else "%")

    return {"num": num, "pct": pct}


def _environment(language: str | None, strict: bool) -> SandboxedEnvironment:
    unknown = UNKNOWN_TEXT[language]
    env = SandboxedEnvironment(
        undefined=StrictUndefined if strict else _lenient_undefined(unknown),
        autoescape=False,
        keep_trailing_newline=False,
        finalize=lambda value: unknown if value is None else value,
    )
    env.filters.update(_number_filters(language, unknown))
    return env


_STRICT: dict[str | None, SandboxedEnvironment] = {lang: _environment(lang, True) for lang in UNKNOWN_TEXT}
_LENIENT: dict[str | None, SandboxedEnvironment] = {lang: _environment(lang, False) for lang in UNKNOWN_TEXT}
_ENV = _STRICT[None]


def environment(language: str | None = None, *, strict: bool = True) -> SandboxedEnvironment:
    return (_STRICT if strict else _LENIENT)[language]


@dataclass(frozen=True)
class CompiledTemplate:
    """A template compiled once; ``names`` are the top-level names it reads.

    ``render`` is for serving (unknown values print as "ukjent"/"unknown");
    ``render_strict`` fails on anything undefined (embedded tests).
    """

    source: str
    render: Callable[..., str]
    names: frozenset[str]
    render_strict: Callable[..., str]


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


def check_template(
    source: str, allowed: Iterable[str], language: str | None = None
) -> tuple[CompiledTemplate | None, list[str]]:
    """Compile a template and list its problems (syntax, unknown names, unknown fact paths).

    ``language`` (nb/en) sets how an unknown value prints ("ukjent"/"unknown");
    None (suggestion resources) prints it as an empty string.
    """
    if "{{" not in source and "{%" not in source and "{#" not in source:  # plain text: nothing to compile
        constant: Callable[..., str] = lambda **_: source  # noqa: E731
        return CompiledTemplate(source=source, render=constant, names=frozenset(), render_strict=constant), []
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
    lenient = _LENIENT[language].from_string(source)
    strict = _STRICT[language].from_string(source)
    return CompiledTemplate(source=source, render=lenient.render, names=frozenset(names), render_strict=strict.render), []


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
