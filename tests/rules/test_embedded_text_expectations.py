"""Embedded rule tests can expect card text per language (`text`) and its absence (`no_text`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cds.rules import RuleSet
from cds.rules.testing import run_embedded_tests

RULE = """
id: old
version: "1.0"
title: {nb: Eldre, en: Older}
hooks: [encounter-start]
when: {fact: age, op: ">=", value: 70}
card:
  topic: frailty-status
  indicator: info
  summary: {nb: "Pasienten er {{ age }} år", en: "The patient is {{ age }}"}
  detail: {nb: "Alder registrert.", en: "Age recorded."}
source: {seed: ["004_8d09680a4bef5543.txt:120-122"]}
tests:
  - name: text found in summary and detail, absent text absent
    hook: encounter-start
    given: {age: 80}
    expect:
      cards: [frailty-status]
      text: {nb: [80 år, Alder registrert], en: [is 80, Age recorded]}
      no_text: {nb: [81 år], en: [unknown]}
  - name: wrong expectations
    hook: encounter-start
    given: {age: 80}
    expect:
      text: {nb: [81 år]}
      no_text: {en: [is 80]}
"""


def test_text_and_no_text_are_checked_per_language(make_rules: Callable[..., Path]) -> None:
    passing, failing = run_embedded_tests(RuleSet.load(make_rules({"old.yaml": RULE})))
    assert passing.ok, passing.failures
    assert failing.failures == [
        "expected '81 år' in the text of a card (nb); not found",
        "expected 'is 80' in no card text (en), but a card has it",
    ]
