"""Counting and membership on lists of plain codes: municipal services before and after the stay.

Astrid, 84, had home nursing before admission; after discharge she is expected
to have home nursing, a safety alarm and everyday rehabilitation: three
services after, two of them new.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cds.facts.snapshot import PatientSnapshot
from cds.rules import RuleSet, RuleSetError

SERVICES = """
systems:
  municipal-service:
    uris: [https://fhir.cds-frailty.no/CodeSystem/municipal-service]
valuesets:
  - id: municipal-service.home-nursing
    title: Home nursing
    source: test
    include: [{system: municipal-service, codes: [{code: home-nursing}]}]
  - id: municipal-service.safety-alarm
    title: Safety alarm
    source: test
    include: [{system: municipal-service, codes: [{code: safety-alarm}]}]
  - id: municipal-service.everyday-rehabilitation
    title: Everyday rehabilitation
    source: test
    include: [{system: municipal-service, codes: [{code: everyday-rehabilitation}]}]
  - id: home-based
    title: Home-based services
    source: test
    include: [{system: municipal-service, codes: [{code: home-nursing}, {code: safety-alarm}]}]
"""

RULE = """
id: services
version: "1.0"
title: {{nb: Tjenester, en: Services}}
hooks: [encounter-discharge]
parameters:
  code: {{type: str, default: home-nursing, description: a service code}}
when: {when}
derive:
  hit: {{type: bool, value: true, description: the condition held}}
source: {{paper: test}}
"""


def _holds(make_rules: Callable[..., Path], when: str, snap: PatientSnapshot) -> bool | None:
    ruleset = RuleSet.load(make_rules({"r.yaml": RULE.format(when=when)}, valuesets=SERVICES))
    engine = ruleset.run("encounter-discharge", snap).derived.get("hit")
    assert engine == ruleset.evaluate_python("encounter-discharge", snap).derived.get("hit")
    return engine


@pytest.fixture
def astrid(patient: Callable[..., PatientSnapshot]) -> PatientSnapshot:
    return patient(
        age=84,
        municipal_services_before=("home-nursing",),
        municipal_services_after=("everyday-rehabilitation", "home-nursing", "safety-alarm"),
    )


def test_count_of_services_after_discharge(make_rules, astrid) -> None:  # type: ignore[no-untyped-def]
    assert _holds(make_rules, '{count: {facts: municipal_services_after}, op: "==", value: 3}', astrid)


def test_new_services_are_the_after_list_minus_the_before_list(make_rules, astrid) -> None:  # type: ignore[no-untyped-def]
    when = '{count: {facts: municipal_services_after, not_in: municipal_services_before}, op: "==", value: 2}'
    assert _holds(make_rules, when, astrid)


def test_new_services_are_unknown_when_the_before_list_is_unknown(make_rules, patient) -> None:  # type: ignore[no-untyped-def]
    when = '{count: {facts: municipal_services_after, not_in: municipal_services_before}, op: ">=", value: 0}'
    assert _holds(make_rules, when, patient(municipal_services_after=("home-nursing",))) is None


def test_contains_a_code_given_literally_or_as_a_parameter(make_rules, astrid, patient) -> None:  # type: ignore[no-untyped-def]
    assert _holds(make_rules, "{fact: municipal_services_after, op: contains, value: safety-alarm}", astrid)
    assert _holds(make_rules, "{fact: municipal_services_after, op: contains, value: $code}", astrid)
    assert not _holds(make_rules, "{fact: municipal_services_after, op: contains, value: $code}", patient(municipal_services_after=()))


def test_not_contains_on_an_unknown_list_stays_unknown(make_rules, patient) -> None:  # type: ignore[no-untyped-def]
    assert _holds(make_rules, "{not: {fact: municipal_services_after, op: contains, value: home-nursing}}", patient()) is None


def test_count_codes_of_a_value_set_that_groups_services(make_rules, astrid) -> None:  # type: ignore[no-untyped-def]
    assert _holds(make_rules, '{count: {facts: municipal_services_after, value_set: home-based}, op: "==", value: 2}', astrid)
    assert _holds(make_rules, '{count: {facts: municipal_services_after, value_set: municipal-service.safety-alarm}, op: "==", value: 1}', astrid)


def test_count_only_listed_codes(make_rules, astrid) -> None:  # type: ignore[no-untyped-def]
    when = '{count: {facts: municipal_services_after, codes: [safety-alarm, everyday-rehabilitation]}, op: "==", value: 2}'
    assert _holds(make_rules, when, astrid)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("{fact: municipal_services_after, op: contains, value: home-nurse}", "unknown code 'home-nurse'"),
        ("{fact: age, op: contains, value: home-nursing}", "'contains' tests a list of codes"),
        ('{count: {facts: municipal_services_after, where: {active: true}}, op: ">", value: 0}', "no dates or item filters"),
        ('{count: {facts: conditions, codes: [home-nursing]}, op: ">", value: 0}', "is not a code list"),
        ('{count: {facts: municipal_services_after, not_in: conditions}, op: ">", value: 0}', "'conditions' is not a code list"),
    ],
)
def test_misuse_of_code_lists_is_a_load_error(make_rules, when: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuleSetError) as error:
        RuleSet.load(make_rules({"r.yaml": RULE.format(when=when)}, valuesets=SERVICES))
    assert message in str(error.value)


def test_explain_names_the_code_count(make_rules, astrid) -> None:  # type: ignore[no-untyped-def]
    ruleset = RuleSet.load(make_rules({"r.yaml": RULE.format(when="{fact: municipal_services_after, op: contains, value: home-nursing}")}, valuesets=SERVICES))
    trace, *living_guard = ruleset.explain("encounter-discharge", astrid).rule("services").conditions
    assert str(trace) == "count(municipal_services_after codes home-nursing) = 1  >= 1  -> true"
