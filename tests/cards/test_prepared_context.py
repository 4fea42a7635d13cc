"""Per-call rendering shortcuts give the same text: a context prepared once per card, remembered number texts."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError

from cds.cards.templates import check_template, prepared_context


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
