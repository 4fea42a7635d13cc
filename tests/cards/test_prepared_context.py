"""Per-call rendering shortcuts give the same text: a context prepared once per card, remembered number texts,
substitution templates rendered without Jinja, the sandbox's attribute lookup answered from its cache."""

from __future__ import annotations

import dataclasses
from datetime import date
from types import SimpleNamespace
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from cds.cards.templates import check_template, environment, prepared_context
from cds.facts.snapshot import CfsFact


def _compiled(source: str, language: str | None):  # type: ignore[no-untyped-def]
    template, problems = check_template(source, ["x", "y"], language)
    assert template is not None, problems
    return template


@pytest.mark.parametrize(
    ("source", "language"),
    [
        ("Risiko {{ x | pct(1) }}, {{ y }}", "nb"),
        ("Risk {{ x | pct(1) }}, {{ y }}", "en"),
        ("{{ cfs_level(6) }} ({{ y.missing }})", "nb"),
        ("Patient/{{ y }}", None),
        ("plain text, no template", "nb"),
    ],
)
def test_prepared_context_renders_the_same_text_as_render(source: str, language: str | None) -> None:
    values = {"x": 0.1234, "y": None, "age": 84}
    template = _compiled(source, language)
    assert template.render_prepared(prepared_context(values, language, False)) == template.render(**values)


def test_a_templates_own_set_does_not_leak_into_the_next_template_of_the_card() -> None:
    context = prepared_context({"x": 1, "y": 2}, "nb", False)
    setter = _compiled("{% set y = 99 %}{{ y }}", "nb")
    reader = _compiled("{{ y }}", "nb")
    assert setter.render_prepared(context) == "99"
    assert reader.render_prepared(context) == "2"


def test_strict_prepared_rendering_still_fails_on_an_unknown_value() -> None:
    template = _compiled("{{ y.missing }}", "nb")
    with pytest.raises(UndefinedError):
        template.render_prepared(prepared_context({"x": 1, "y": None}, "nb", True), strict=True)


def test_a_number_formatted_again_prints_as_babel_prints_it_even_minus_zero_after_zero() -> None:
    from babel.numbers import format_decimal

    from cds.cards.helpers import number_filters

    num = number_filters("en", "unknown")["num"]
    for value in (0.0, -0.0, 0.0, 1234.5, 1234.5, -0.0):
        assert num(value, 1) == format_decimal(value, "#,##0.0", locale="en")


def test_a_compiled_suggestion_resource_renders_like_render_value_and_builds_fresh_dicts() -> None:
    from cds.cards.templates import compile_value, render_value

    resource = {"resourceType": "Task", "for": {"reference": "Patient/{{ y }}"}, "note": [{"text": "  plain  "}], "priority": 2}
    templates = {text: _compiled(text, None) for text in ("Task", "Patient/{{ y }}", "  plain  ")}
    values = {"x": 1, "y": "p-1"}
    context = prepared_context(values, None, False)
    renderer = compile_value(resource, templates)
    expected = render_value(resource, lambda text: str(templates[text].render(**values)).strip())
    first, second = renderer(context, False), renderer(context, False)
    assert first == expected == {"resourceType": "Task", "for": {"reference": "Patient/p-1"}, "note": [{"text": "plain"}], "priority": 2}
    assert first is not second and first["for"] is not second["for"]



@pytest.mark.parametrize("y", ["p-1", "", None])
def test_a_pruned_suggestion_resource_is_the_wire_object_of_the_rendered_resource(y: str | None) -> None:
    from cds.cards.templates import compile_value, render_value
    from cds.hooks.models import wire_object

    resource = {
        "resourceType": "Task",
        "for": {"reference": "{{ y }}"},
        "note": [{"text": "{{ y }}"}, {"text": "  plain  "}, "", None],
        "code": {"coding": [{"code": "{{ y }}"}]},
        "status": None,
        "priority": 0,
        "doNotPerform": False,
        "input": [],
    }
    sources = ("Task", "{{ y }}", "  plain  ", "")
    templates = {text: _compiled(text, None) for text in sources}
    values = {"y": y}
    context = prepared_context(values, None, False)
    expected = wire_object(render_value(resource, lambda text: str(templates[text].render(**values)).strip()))
    assert compile_value(resource, templates, prune=True)(context, False) == expected
    only_empty = {"note": ["{{ y }}"], "code": {"text": "{{ y }}"}}
    assert (compile_value(only_empty, templates, prune=True)(context, False) or None) == wire_object(
        render_value(only_empty, lambda text: str(templates[text].render(**values)).strip())
    )

# -- substitution templates (text and names only) render without Jinja's machinery, to the same text

VALUES: list[object] = [None, "", "p-1", 0, 14, 0.1, -0.0, True, False, date(2025, 1, 2), [1, 2], {"score": 6}, CfsFact(score=6)]


def _both(template, context, strict):  # type: ignore[no-untyped-def]
    """(text or exception type) rendered by the substitution and by Jinja."""
    jinja = dataclasses.replace(template, substitution=None)
    out = []
    for t in (template, jinja):
        try:
            out.append(t.render_prepared(context, strict))
        except Exception as error:  # noqa: BLE001 - the kind of failure must match too
            out.append(type(error))
    return out


@pytest.mark.parametrize("source", ["Patient/{{ y }}", "{{ y }}", "{{ y.score }} / {{ y.missing }}", "a {{ x }}{{ y }} b\n", "{{ y.score.real }}"])
@pytest.mark.parametrize("language", ["nb", "en", None])
def test_a_substitution_template_prints_what_jinja_prints(source: str, language: str | None) -> None:
    template = _compiled(source, language)
    assert template.substitution is not None
    for strict in (False, True):
        for value in VALUES:
            context = prepared_context({"x": 1, "y": value}, language, strict)
            first, second = _both(template, context, strict)
            assert first == second, (value, strict)
        first, second = _both(template, prepared_context({"x": 1}, language, strict), strict)  # y not in the context
        assert first == second


def test_only_text_and_names_are_substituted() -> None:
    for source in ["{{ y | upper }}", "{% if y %}a{% endif %}", "{{ y['a'] }}", "{{ cfs_level(y) }}", "{{ 'a' }}", "{% set y = 1 %}{{ y }}"]:
        assert _compiled(source, "nb").substitution is None


def test_every_bundled_substitution_template_prints_what_jinja_prints() -> None:
    from cds.rules import RuleSet

    ruleset = RuleSet.load(Path(__file__).resolve().parents[2] / "rules")
    values = {"patient_id": "p-1", "encounter_id": "e-1", "gp_reference": "Practitioner/gp", "cfs": CfsFact(score=7)}
    checked = 0
    for rule in ruleset.rules:
        if rule.card is None:
            continue
        texts = [(t, lang) for lang, t in [*rule.card.summary.items(), *rule.card.detail.items()]]
        texts += [(t, None) for t in rule.card.suggestion_templates.values()]
        for template, language in texts:
            if template.substitution is None:
                continue
            checked += 1
            for names in (values, {**values, "cfs": None, "gp_reference": None}):
                context = prepared_context({**dict.fromkeys(template.names, 3), **names, **rule.parameters}, language, False)
                first, second = _both(template, context, False)
                assert first == second, template.source
    assert checked > 20


def test_the_attribute_shortcut_gives_what_the_sandbox_gives() -> None:
    for ours in (environment("nb", strict=True), environment("en", strict=False)):
        plain = SandboxedEnvironment(undefined=ours.undefined)
        cases = [(CfsFact(score=6), "score"), ({"score": 6}, "score"), ({"score": 6}, "get"), ("a{}", "format"),
                 ("a", "upper"), (CfsFact(score=6), "__class__"), (CfsFact(score=6), "missing"), (None, "score"),
                 (date(2025, 1, 2), "year"), ({"score": 6}, "missing"), ({"score": 6}, "items"),
                 ({"__class__": 6}, "__class__"), ({"_private": 6}, "_private"), ("a{x}", "format_map"),
                 (SimpleNamespace(f="a{}".format), "f")]
        for _ in range(2):  # the second time from the cache
            for obj, attribute in cases:
                mine, theirs = ours.getattr(obj, attribute), plain.getattr(obj, attribute)
                assert type(mine) is type(theirs), (obj, attribute)
                if isinstance(theirs, ours.undefined):
                    assert (mine._undefined_name, mine._undefined_obj) == (theirs._undefined_name, theirs._undefined_obj)
                elif attribute in ("format", "f"):  # str.format, under its own name or another
                    assert mine("b") == theirs("b") == "ab"
                elif attribute == "format_map":
                    assert mine({"x": 1}) == theirs({"x": 1}) == "a1"
                else:
                    assert mine == theirs


def test_a_builtin_method_call_gives_what_the_sandbox_gives() -> None:
    def rendered(env: SandboxedEnvironment, source: str) -> object:
        try:
            return env.from_string(source).render(d={"a": 1}, nxt=next, it=iter([]))
        except Exception as error:  # noqa: BLE001 - the kind of failure must match too
            return (type(error), str(error))

    for strict in (False, True):
        ours = environment("nb", strict=strict)
        plain = SandboxedEnvironment(undefined=ours.undefined, finalize=ours.finalize)
        for source in ("{{ d.get('a', 'x') }} {{ d.get('b', 'x') }}", "{{ nxt(it) }}", "{{ d.items() | list }}"):
            assert rendered(ours, source) == rendered(plain, source), (source, strict)
