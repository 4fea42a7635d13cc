"""A broken rule set is refused whole, with file:line, what is wrong and what to do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cds.rules import RuleSet, RuleSetError

RULE_HEAD = """
id: {id}
version: "1.0"
title: {{nb: Tittel, en: Title}}
hooks: [encounter-start]
source: {{seed: ["000_ea1be622f5d88811.txt:1-2"]}}
"""


def rule(id: str, body: str) -> str:
    return RULE_HEAD.format(id=id) + body


def errors_of(directory: Path) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        RuleSet.load(directory)
    return [str(e) for e in caught.value.errors]


CARD = """
card:
  topic: frailty-status
  indicator: info
  summary: {nb: "Skrøpelig", en: "Frail"}
"""


def test_unknown_fact_names_file_line_and_where_to_look(make_rules: Callable[..., Path]) -> None:
    d = make_rules({"a.yaml": rule("a", "when:\n  all:\n    - {fact: age, op: '>=', value: 70}\n    - {fact: cfs.scroe, op: '>=', value: 5}\n" + CARD)})
    (error,) = errors_of(d)
    assert error.startswith("rules/a.yaml:9: unknown fact: cfs has no fact 'scroe'")
    assert "docs/facts.md" in error


def test_type_mismatch_is_refused(make_rules: Callable[..., Path]) -> None:
    d = make_rules({"a.yaml": rule("a", "when: {fact: lives_alone, op: '==', value: 'yes'}\n" + CARD)})
    (error,) = errors_of(d)
    assert "rules/a.yaml:6: type mismatch: 'lives_alone' is true/false" in error


def test_enum_fact_accepts_only_its_values(make_rules: Callable[..., Path]) -> None:
    d = make_rules({"a.yaml": rule("a", "when: {fact: service_need, op: '==', value: 'more'}\n" + CARD)})
    (error,) = errors_of(d)
    assert "'service_need' is one of 'none', 'unchanged', 'increased', 'new', 'decreased'" in error


def test_unknown_parameter_says_to_declare_it(make_rules: Callable[..., Path]) -> None:
    d = make_rules({"a.yaml": rule("a", "when: {fact: age, op: '>=', value: $min_agе}\n" + CARD)})
    (error,) = errors_of(d)
    assert "rules/a.yaml:6: unknown parameter" in error and "declare it under 'parameters:'" in error


def test_missing_translation_names_the_language(make_rules: Callable[..., Path]) -> None:
    text = rule("a", "when: {fact: age, op: '>=', value: 70}\n" + CARD).replace('{nb: "Skrøpelig", en: "Frail"}', '{nb: "Skrøpelig"}')
    d = make_rules({"a.yaml": text})
    (error,) = errors_of(d)
    assert "rules/a.yaml:11: card.summary: 'en' is required — missing translation: add the 'en' text" == error


def test_template_referring_to_unknown_field_is_a_load_error(make_rules: Callable[..., Path]) -> None:
    text = rule("a", "when: {fact: age, op: '>=', value: 70}\n" + CARD).replace('"Frail"', '"Frail, CFS {{ cfs.level }}"')
    d = make_rules({"a.yaml": text})
    (error,) = errors_of(d)
    assert error.startswith("rules/a.yaml:11: template refers to unknown field: cfs has no fact 'level'")


def test_template_referring_to_unknown_name_is_a_load_error(make_rules: Callable[..., Path]) -> None:
    text = rule("a", "when: {fact: age, op: '>=', value: 70}\n" + CARD).replace('"Frail"', '"Frail {{ threshold }}"')
    (error,) = errors_of(make_rules({"a.yaml": text}))
    assert "template refers to unknown name 'threshold'" in error


def test_duplicate_rule_id_points_at_both_files(make_rules: Callable[..., Path]) -> None:
    body = "when: {fact: age, op: '>=', value: 70}\n" + CARD
    (error,) = errors_of(make_rules({"a.yaml": rule("same", body), "b.yaml": rule("same", body)}))
    assert error.startswith("rules/b.yaml:1: duplicate rule id 'same' (also in rules/a.yaml:1)")


def test_cycle_in_derived_facts_is_refused(make_rules: Callable[..., Path]) -> None:
    a = rule("a", "when: {fact: y, op: '==', value: true}\nderive: {x: {type: bool, value: true, description: x}}\n")
    b = rule("b", "when: {fact: x, op: '==', value: true}\nderive: {y: {type: bool, value: true, description: y}}\n")
    errors = errors_of(make_rules({"a.yaml": a, "b.yaml": b}))
    assert any("cycle in derived facts: a -> b -> a" in e or "cycle in derived facts: b -> a -> b" in e for e in errors)


def test_unknown_value_set_is_refused(make_rules: Callable[..., Path]) -> None:
    body = "when: {count: {facts: conditions, value_set: chronic.tset}, op: '>=', value: 2}\n" + CARD
    (error,) = errors_of(make_rules({"a.yaml": rule("a", body)}))
    assert "rules/a.yaml:6: unknown value set 'chronic.tset'" in error


def test_unknown_key_is_refused_with_its_line(make_rules: Callable[..., Path]) -> None:
    body = "when: {fact: age, op: '>=', value: 70}\npriority: 3\n" + CARD
    (error,) = errors_of(make_rules({"a.yaml": rule("a", body)}))
    assert error.startswith("rules/a.yaml:7: priority: Extra inputs are not permitted — remove 'priority'")


def test_yaml_syntax_error_has_a_line(make_rules: Callable[..., Path]) -> None:
    (error,) = errors_of(make_rules({"a.yaml": "id: a\nwhen: [unclosed\n"}))
    assert error.startswith("rules/a.yaml:3: YAML syntax error")


def test_errors_from_every_file_are_reported_together(make_rules: Callable[..., Path], screening: Callable[[int], str]) -> None:
    bad_fact = rule("a", "when: {fact: agee, op: '>=', value: 70}\n" + CARD)
    bad_topic = rule("b", "when: {fact: age, op: '>=', value: 70}\n" + CARD.replace("frailty-status", "frailty"))
    errors = errors_of(make_rules({"a.yaml": bad_fact, "b.yaml": bad_topic, "ok.yaml": screening(70)}))
    assert [e.split(":")[0] for e in errors] == ["rules/a.yaml", "rules/b.yaml"]


def test_list_fact_must_be_counted(make_rules: Callable[..., Path]) -> None:
    (error,) = errors_of(make_rules({"a.yaml": rule("a", "when: {fact: conditions, op: '==', value: 1}\n" + CARD)}))
    assert "'conditions' is a list — test it with 'count:'" in error


def test_embedded_test_with_unknown_fact_is_a_load_error(make_rules: Callable[..., Path]) -> None:
    body = "when: {fact: age, op: '>=', value: 70}\n" + CARD + "tests:\n  - name: t\n    hook: encounter-start\n    given: {agee: 80}\n    expect: {cards: [frailty-status]}\n"
    (error,) = errors_of(make_rules({"a.yaml": rule("a", body)}))
    assert "test 't': given.agee: Extra inputs are not permitted" in error


def test_override_with_unknown_parameter_is_refused(
    make_rules: Callable[..., Path], screening: Callable[[int], str], tmp_path: Path
) -> None:
    d = make_rules({"s.yaml": screening(70)})
    override = tmp_path / "oslo.yaml"
    override.write_text(
        "override: oslo\ndescription: Oslo variant\napplies_to: {municipality: ['0301']}\nparameters:\n  screening: {min_years: 75}\n",
        encoding="utf-8",
    )
    with pytest.raises(RuleSetError) as caught:
        RuleSet.load(d, [override])
    (error,) = [str(e) for e in caught.value.errors]
    assert error.startswith("oslo.yaml:5: rule 'screening' has no parameter 'min_years' (known: min_age)") or ":5: rule 'screening' has no parameter" in error


def test_a_suggestion_resource_member_without_value_is_refused_with_its_line(make_rules: Callable[..., Path]) -> None:
    body = "when: {fact: age, op: '>=', value: 70}\n" + CARD + (
        "  selection_behavior: any\n"
        "  suggestions:\n"
        "    - id: task\n"
        "      label: {nb: Oppgave, en: Task}\n"
        "      actions:\n"
        "        - type: create\n"
        "          description: {nb: Oppgave, en: Task}\n"
        "          resource:\n"
        "            resourceType: Task\n"
        "            code: {text: Oppnevne koordinator (sammensatte behov, forløp C)}\n"
    )
    (error,) = errors_of(make_rules({"a.yaml": rule("a", body)}))
    assert error.startswith("rules/a.yaml:21: suggestion resource member 'code.forløp C)' has no value")
    assert "must be quoted" in error


def test_a_condition_the_engine_cannot_compile_is_refused_at_its_rule_file_and_line(
    make_rules: Callable[..., Path],
) -> None:
    # Five nested any-of-three blocks expand to 3**5 alternatives, past durable-rules' limit: the set is
    # refused like any other broken rule (file:line, what to do), never an engine traceback at load.
    any_block = "    - any:\n" + "".join(f"        - {{fact: age, op: '>=', value: {n}}}\n" for n in (60, 70, 80))
    body = "when:\n  all:\n" + any_block * 5 + CARD
    d = make_rules({"complex.yaml": rule("complex", body)})
    (message,) = errors_of(d)
    assert message.startswith("rules/complex.yaml:1: the rule engine cannot compile this rule's condition")
    assert "simplify `when`" in message
