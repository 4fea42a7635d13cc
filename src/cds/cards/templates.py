"""Card text and suggestion templates: Jinja2 in a sandbox, compiled once and checked at load.

Filters besides Jinja's own: ``num(digits)`` prints a number with fixed
decimals and ``pct(digits)`` a probability as per cent, per card language
(``{{ readmission_risk.probability | pct(1) }}`` -> "12,1 %" / "12.1%"); the
globals ``cfs_level(score)`` and ``label(group, key)`` are described in
`cds.cards.helpers`. A template may call only these helpers and Jinja's own
globals (checked at load).

A template that is only text and ``{{ name }}`` / ``{{ name.attr }}``
outputs (most suggestion resources: ``Patient/{{ patient_id }}``) is rendered
by `_substitute` without Jinja's per-render machinery (a new Context, a
generator, the join), with the same lookups and the same printing; that is
most of the templates of a card.

Templates see: every top-level snapshot fact (``age``, ``cfs.score``,
``scores.lace.points`` ...), the rule's parameters by name, the derived facts
the rule set declares, and the call context ``patient_id``, ``encounter_id``
and ``gp_reference``. Undefined names fail (StrictUndefined); `check_template`
finds them at load time so a typo never reaches a clinician.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import ChainableUndefined, Environment, StrictUndefined, Template, TemplateSyntaxError, Undefined, nodes
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, is_internal_attribute

from cds.cards.helpers import HELPER_NAMES, helper_globals, number_filters
from cds.factpaths import UnknownFact, resolve, top_level_facts

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


class _CardEnvironment(SandboxedEnvironment):
    """The sandbox, with its attribute check answered once per (type, attribute name).

    Jinja's check depends only on the attribute name and on ``isinstance``
    tests of the object, i.e. on its type, so the cached answer is the same.
    `getattr` answers the common cases - a dict item by attribute syntax, a
    safe attribute that is not ``str.format`` - without the sandbox's further
    calls, with the value the sandbox gives.
    """

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        kind = type(obj)
        try:
            return _SAFE[(kind, attr)]
        except KeyError:
            safe = _SAFE[(kind, attr)] = not (attr.startswith("_") or is_internal_attribute(obj, attr))
            return safe

    def getattr(self, obj: Any, attribute: str) -> Any:
        # What the sandbox's getattr returns, without its further calls in the common cases:
        # a plain dict's item (``scores.lace``: a dict has no such attribute, so the sandbox
        # ends at the item, or at undefined), and a looked-up value whose (type, attribute)
        # is known safe, returned as it is unless it is a ``format`` method (which the
        # sandbox wraps).
        kind = type(obj)
        if kind is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        if _SAFE.get((kind, attribute)):
            try:
                value = getattr(obj, attribute)
            except AttributeError:
                return super().getattr(obj, attribute)  # item lookup, or undefined
            if not isinstance(value, _METHODS) or value.__name__ not in _FORMAT_METHODS:
                return value
        return super().getattr(obj, attribute)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's names
        # A builtin method (``items.get(...)``) is always safe to the sandbox and
        # takes no context (it can carry no marker attributes), so what is left
        # of Jinja's call is the call itself.
        if type(__obj) is not types.BuiltinMethodType:
            return super().call(__context, __obj, *args, **kwargs)
        kwargs.pop("_loop_vars", None)
        kwargs.pop("_block_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:
            return __self.undefined("value was undefined because a callable raised a StopIteration exception")


_SAFE: dict[tuple[type, str], bool] = {}  # (type, attribute name) -> safe; bounded by the attributes templates name
_METHODS = (types.MethodType, types.BuiltinMethodType)
_FORMAT_METHODS = ("format", "format_map")  # the methods the sandbox wraps (`SandboxedEnvironment.wrap_str_format`)
_DICT_ATTRIBUTES = frozenset(dir(dict))  # a plain dict has no other attributes (no instance __dict__)


def _environment(language: str | None, strict: bool) -> SandboxedEnvironment:
    unknown = UNKNOWN_TEXT[language]
    env = _CardEnvironment(
        undefined=StrictUndefined if strict else _lenient_undefined(unknown),
        autoescape=False,
        keep_trailing_newline=False,
        finalize=lambda value: unknown if value is None else value,
    )
    env.filters.update(number_filters(language, unknown))
    env.globals.update(helper_globals(language, unknown, strict))
    return env


_STRICT: dict[str | None, SandboxedEnvironment] = {lang: _environment(lang, True) for lang in UNKNOWN_TEXT}
_LENIENT: dict[str | None, SandboxedEnvironment] = {lang: _environment(lang, False) for lang in UNKNOWN_TEXT}
_ENV = _STRICT[None]


def environment(language: str | None = None, *, strict: bool = True) -> SandboxedEnvironment:
    return (_STRICT if strict else _LENIENT)[language]


# A substitution template: literal text, or the path of a value to print (``("cfs", "score")`` for ``{{ cfs.score }}``).
Substitution = tuple[str | tuple[str, ...], ...]


def _substitution(tree: nodes.Template) -> Substitution | None:
    """The parts of a template that only prints text and names or attribute paths (None for any other template)."""
    parts: list[str | tuple[str, ...]] = []
    for output in tree.body:
        if not isinstance(output, nodes.Output):
            return None
        for node in output.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append(node.data)
                continue
            path: list[str] = []
            while isinstance(node, nodes.Getattr):
                path.append(node.attr)
                node = node.node
            if not isinstance(node, nodes.Name) or node.ctx != "load":
                return None
            parts.append((node.name, *reversed(path)))
    return tuple(parts)


def _substitute(parts: Substitution, environment: Environment, context: Mapping[str, Any]) -> str | None:
    """What Jinja's compiled code prints for a substitution template: text as it is, each value looked up
    through the (sandboxed) environment's ``getattr`` and printed as ``str(finalize(value))``. None when
    a name is not in the context: Jinja renders that one (undefined names)."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        name = part[0]
        if name not in context:
            return None
        value = context[name]
        for attribute in part[1:]:
            value = environment.getattr(value, attribute)
        out.append(str(environment.finalize(value)))  # type: ignore[misc]
    return "".join(out)


@dataclass(frozen=True)
class CompiledTemplate:
    """A template compiled once; ``names`` are the top-level names it reads.

    ``render`` is for serving (unknown values print as "ukjent"/"unknown");
    ``render_strict`` fails on anything undefined (embedded tests).
    `render_prepared` gives the same text from a context made once per card by
    `prepared_context` (no copy of the context per template).
    """

    source: str
    render: Callable[..., str]
    names: frozenset[str]
    render_strict: Callable[..., str]
    lenient_template: Template | None = None  # None: plain text
    strict_template: Template | None = None
    substitution: Substitution | None = None  # set when `_substitute` can render it

    def render_prepared(self, context: Mapping[str, Any], strict: bool = False) -> str:
        """``render(**values)`` / ``render_strict(**values)`` for ``context = prepared_context(values, language, strict)``.

        ``language`` must be the one the template was compiled for (card text:
        its language; suggestion texts: None). The context is shared, not
        copied: a template's own ``{% set %}`` writes to its render context only.
        """
        template = self.strict_template if strict else self.lenient_template
        if template is None:
            return self.source
        if self.substitution is not None:
            text = _substitute(self.substitution, template.environment, context)
            if text is not None:
                return text
        try:
            return template.environment.concat(template.root_render_func(template.new_context(context, shared=True)))  # type: ignore[attr-defined,arg-type]
        except Exception:
            template.environment.handle_exception()
            raise  # pragma: no cover - handle_exception always raises


def prepared_context(values: Mapping[str, Any], language: str | None, strict: bool) -> dict[str, Any]:
    """The render context of a template environment: its globals, then ``values`` (as ``Template.render`` builds it)."""
    return {**environment(language, strict=strict).globals, **values}


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


# Jinja's own globals a template may call besides our helpers.
_JINJA_CALLABLES = frozenset({"range", "dict", "namespace", "cycler", "joiner"})


def _call_problems(tree: nodes.Template, assigned: set[str], label_groups: Collection[str] | None) -> list[str]:
    problems: list[str] = []
    for call in tree.find_all(nodes.Call):
        if not isinstance(call.node, nodes.Name) or call.node.name in assigned:
            continue  # method calls (x.get(...)) are left to the sandbox
        name = call.node.name
        if name not in HELPER_NAMES and name not in _JINJA_CALLABLES:
            problems.append(f"template calls unknown helper {name!r} (known: {', '.join(HELPER_NAMES)})")
        elif name == "label" and label_groups is not None:
            group = call.args[0] if call.args else None
            if not isinstance(group, nodes.Const) or not isinstance(group.value, str):
                problems.append("label() needs a label group as its first argument, e.g. label('band', scores.lace.band)")
            elif group.value not in label_groups:
                known = ", ".join(sorted(label_groups)) or "none"
                problems.append(f"unknown label group {group.value!r} (rules/codesystems/labels.yaml has: {known})")
    return problems


def check_template(
    source: str, allowed: Iterable[str], language: str | None = None, *, label_groups: Collection[str] | None = None
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
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    problems: list[str] = _call_problems(tree, assigned, label_groups)
    names: set[str] = set()
    for name_node in tree.find_all(nodes.Name):
        if name_node.ctx != "load" or name_node.name in assigned:
            continue
        names.add(name_node.name)
        if name_node.name in HELPER_NAMES or name_node.name in _JINJA_CALLABLES:
            continue
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
    try:
        lenient = _LENIENT[language].from_string(source)
        strict = _STRICT[language].from_string(source)
    except TemplateSyntaxError as error:  # e.g. an unknown filter
        return None, [f"template error: {error.message}"]
    return (
        CompiledTemplate(
            source=source,
            render=lenient.render,
            names=frozenset(names),
            render_strict=strict.render,
            lenient_template=lenient,
            strict_template=strict,
            substitution=_substitution(tree),
        ),
        [],
    )


Renderer = Callable[[Mapping[str, Any], bool], Any]


def compile_value(value: Any, templates: Mapping[str, CompiledTemplate], *, prune: bool = False) -> Renderer:
    """``render_value(value, render)`` with ``render = lambda t: str(templates[t].render_prepared(context, strict)).strip()``,
    worked out once: plain strings are stripped here, and only templated strings render per call.
    Returns ``renderer(context, strict)``; every call builds fresh dicts and lists.

    With ``prune``, a dict or list leaves out its null and empty members (``None``, ``""``, ``[]``,
    ``{}``) at every depth as it is rendered: the result is `cds.hooks.models.wire_object` of the
    rendered value (an empty dict where that gives None), without a second walk over it."""
    if isinstance(value, str):
        template = templates[value]
        if template.lenient_template is None:
            text = value.strip()
            return lambda context, strict: text
        return lambda context, strict: str(template.render_prepared(context, strict)).strip()
    if isinstance(value, dict):
        items = [(key, compile_value(v, templates, prune=prune)) for key, v in value.items() if not (prune and v is None)]
        if prune:
            return lambda context, strict: {
                key: part for key, render in items if not _empty_json(part := render(context, strict))
            }
        return lambda context, strict: {key: render(context, strict) for key, render in items}
    if isinstance(value, list):
        parts = [compile_value(v, templates, prune=prune) for v in value if not (prune and v is None)]
        if prune:
            return lambda context, strict: [
                part for render in parts if not _empty_json(part := render(context, strict))
            ]
        return lambda context, strict: [render(context, strict) for render in parts]
    return lambda context, strict: value


def _empty_json(value: Any) -> bool:
    """Whether a JSON value is one the CDS Hooks wire leaves out: null, or an empty string, array or object."""
    return value is None or value == "" or value == [] or value == {}


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
