"""Count expressions: item filters, time windows and value sets, as the projection computes them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

import pytest

from cds.facts.snapshot import ConditionFact, Coding, EventFact, LabFact, PatientSnapshot
from cds.rules.catalogue import CODED_LISTS, EVENT_LISTS, FactKind
from cds.rules.expressions import CountExpr, _attribute, _can_have
from cds.terminology import Terminology

from .conftest import NOW, snapshot

ICD10 = "urn:oid:2.16.578.1.12.4.1.1.7110"
NUMBER = FactKind("number", integer=True)


@pytest.fixture(scope="module")
def terminology() -> Terminology:
    from cds.rules import RuleSet

    return RuleSet.load(Path(__file__).resolve().parents[2] / "rules").terminology


def lab(**flags: Any) -> LabFact:
    return LabFact(codings=(), **flags)


def count(patient: PatientSnapshot, terminology: Terminology, **spec: Any) -> Any:
    return CountExpr("count", NUMBER, **spec).compute(patient, terminology)


def test_every_item_filter_is_a_bool_field_of_the_items() -> None:
    # CountExpr compares the flags of an item as one tuple: each must be a declared bool field
    for name, filters in {**CODED_LISTS, **EVENT_LISTS}.items():
        items = get_args(PatientSnapshot.model_fields[name].annotation)[0]  # tuple[Item, ...] of "tuple[...] | None"
        item_type = get_args(items)[0]
        for flag in filters:
            annotation = item_type.model_fields[flag].annotation
            assert annotation is bool or bool in get_args(annotation), (name, flag)


def test_labs_pass_only_when_every_flag_is_exactly_as_wanted(terminology: Terminology) -> None:
    labs = (
        lab(abnormal=True, followed_up=False, in_current_encounter=True),  # counted
        lab(abnormal=True, followed_up=None, in_current_encounter=True),  # follow-up unknown: not "not followed up"
        lab(abnormal=True, followed_up=True, in_current_encounter=True),
        lab(abnormal=None, followed_up=False, in_current_encounter=True),
        lab(abnormal=True, followed_up=False, in_current_encounter=False),
    )
    where = (("abnormal", True), ("followed_up", False), ("in_current_encounter", True))
    assert count(snapshot(labs=labs), terminology, facts="labs", where=where) == 1
    assert count(snapshot(labs=labs), terminology, facts="labs", where=(("abnormal", True),)) == 4
    assert count(snapshot(labs=()), terminology, facts="labs", where=where) == 0
    assert count(snapshot(), terminology, facts="labs", where=where) is None


def test_a_value_set_matches_a_lab_concept_or_a_coding(terminology: Terminology) -> None:
    chronic = ConditionFact(codings=(Coding(system=ICD10, code="I50.0"),), active=True)
    fracture = ConditionFact(codings=(Coding(system=ICD10, code="S72.0"),), active=True)
    conditions = snapshot(conditions=(chronic, fracture, chronic))
    assert count(conditions, terminology, facts="conditions", value_set="clin.chronic-condition") == 2
    labs = snapshot(labs=(lab(concept="clin.chronic-condition"), lab(concept="haemoglobin")))
    assert count(labs, terminology, facts="labs", value_set="clin.chronic-condition") == 1


def test_a_window_counts_items_that_started_in_it(terminology: Terminology) -> None:
    admissions = tuple(EventFact(start=NOW - timedelta(days=d)) for d in (1, 30, 31, -1))
    assert count(snapshot(admissions=admissions), terminology, facts="admissions", within_days=30) == 2


def test_a_field_the_item_type_lacks_reads_as_its_default() -> None:
    event = EventFact(start=NOW)
    assert not _can_have(EventFact, "concept") and _can_have(LabFact, "concept")
    assert _attribute(event, "concept") is None and _attribute(event, "codings", ()) == ()
    assert _attribute(lab(concept="x"), "concept") == "x"

    class Plain:  # not a pydantic model: always asked
        concept = "y"

    assert _attribute(Plain(), "concept") == "y"


def test_value_set_counts_answer_as_the_terminology_does_for_every_coding(terminology: Terminology) -> None:
    """The count looks a snapshot Coding up by system and code; the answer is `Terminology.contains`'s."""
    codings = [
        Coding(system=ICD10, code="I50.0"),
        Coding(system=ICD10, code="i500"),  # normalised like the terminology normalises it
        Coding(system="http://hl7.org/fhir/sid/icd-10", code="J44.1"),
        Coding(system=None, code="I50.0"),  # no system: in no value set
        Coding(system=ICD10, code="Z99.9"),
        Coding(system="urn:unknown", code="I50.0"),
    ]
    for coding in codings:
        conditions = (ConditionFact(codings=(coding,), active=True),)
        expected = int(terminology.contains("clin.chronic-condition", coding))
        got = count(snapshot(conditions=conditions), terminology, facts="conditions", value_set="clin.chronic-condition")
        assert got == expected, coding
    assert sum(terminology.contains("clin.chronic-condition", c) for c in codings) >= 2
