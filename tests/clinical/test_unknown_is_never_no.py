"""Unknown is never no: no card text states a negative fact that is unknown in the patient's snapshot.

`negative_phrases.yaml` (beside this file) lists every negative statement the
bundled card texts may make and when it is true. Two checks:

* every negation word in any bundled rule's title, summary or detail (nb and
  en) lies inside a listed pattern, so a new negative sentence cannot reach a
  clinician without being classified here;
* over a generated cohort (`cds.quality.cohort`, 500 patients, every hook,
  through the same `Evaluator` as the service), a rendered card prints a
  ``fact`` pattern only when the facts it needs are known in that patient's
  snapshot, and never a ``forbidden`` one. Half the patients are evaluated
  with every exported type marked as searched (absent = none), half without
  (absent = unknown), so both readings of missing data are exercised.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds.cards.render import render_cards
from cds.evaluation import EvaluationCall, Evaluator
from cds.pseudonym import Pseudonymizer
from cds.quality.batch import prepare_patient
from cds.quality.cohort import patient_resources
from cds.rules.holder import RuleSetHolder

REPO = Path(__file__).resolve().parents[2]
HOOKS = ("patient-view", "encounter-start", "encounter-discharge")
COHORT_SIZE = 500
SEED = 12
NEGATION = re.compile(r"\b(ikke|ingen|uten|mangler|aldri|not|no|none|without|missing|never|cannot)\b", re.IGNORECASE)
JINJA = re.compile(r"\{%.*?%\}|\{\{.*?\}\}", re.DOTALL)
EXPORTED = frozenset(
    {"Patient", "Encounter", "Observation", "Condition", "MedicationStatement", "Procedure", "EpisodeOfCare",
     "ServiceRequest", "Communication", "CommunicationRequest", "CarePlan", "CareTeam", "Appointment", "Flag"}
)


@dataclass(frozen=True)
class Phrase:
    pattern: re.Pattern[str]
    kind: str
    requires: tuple[str, ...]


@cache
def phrases() -> tuple[Phrase, ...]:
    data = yaml.safe_load((Path(__file__).parent / "negative_phrases.yaml").read_text(encoding="utf-8"))
    return tuple(
        Phrase(re.compile(p["pattern"], re.IGNORECASE), p["kind"], tuple(p.get("requires", ())))
        for p in data["phrases"]
    )


def _flat(text: str) -> str:
    return " ".join(text.split())


def _rule_texts() -> list[tuple[str, str, str]]:
    """(rule id, where, text with Jinja blocks as ' | ') for every card text of every bundled rule."""
    out = []
    for path in sorted((REPO / "rules").glob("*/*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or "hooks" not in doc:
            continue
        card = doc.get("card") or {}
        for key, texts in (("title", doc.get("title")), ("summary", card.get("summary")), ("detail", card.get("detail"))):
            for language, text in (texts or {}).items():
                out.append((doc["id"], f"{key}.{language}", _flat(JINJA.sub(" | ", text))))
    return out


def _uncovered(text: str) -> list[str]:
    covered = [m.span() for p in phrases() if p.kind != "forbidden" for m in p.pattern.finditer(text)]
    return [
        text[max(0, m.start() - 30) : m.end() + 30]
        for m in NEGATION.finditer(text)
        if not any(start <= m.start() and m.end() <= end for start, end in covered)
    ]


def test_the_phrase_table_is_well_formed() -> None:
    kinds = Counter(p.kind for p in phrases())
    assert set(kinds) <= {"record", "fact", "rule", "forbidden"}
    assert kinds["fact"] >= 1 and kinds["forbidden"] >= 1
    from cds.facts.snapshot import PatientSnapshot

    for phrase in phrases():
        assert (phrase.kind == "fact") == bool(phrase.requires), phrase.pattern.pattern
        for name in phrase.requires:
            assert name in PatientSnapshot.model_fields, f"{phrase.pattern.pattern}: no fact {name!r}"


def test_every_negative_phrase_in_a_rule_text_is_in_the_table() -> None:
    problems = [
        f"{rule} {where}: ...{snippet}..." for rule, where, text in _rule_texts() for snippet in _uncovered(text)
    ]
    assert problems == [], "negative wording not in tests/clinical/negative_phrases.yaml:\n" + "\n".join(problems)


def test_no_rule_text_holds_a_forbidden_phrase() -> None:
    forbidden = [p for p in phrases() if p.kind == "forbidden"]
    found = [f"{rule} {where}" for rule, where, text in _rule_texts() for p in forbidden if p.pattern.search(text)]
    assert found == []


def test_the_coverage_check_catches_an_unlisted_negation() -> None:
    assert _uncovered("Pasienten har ikke fått hjelp.") != []
    assert _uncovered("The patient has no carer.") != []
    assert _uncovered("Legemiddelsamstemming er ikke registrert under oppholdet") == []


def violations(card_texts: list[str], snapshot: Any, seen: Counter[str] | None = None) -> list[str]:
    """The negative statements among ``card_texts`` that the snapshot does not support (``seen`` counts kinds)."""
    out = []
    for text in card_texts:
        flat = _flat(text)
        for phrase in phrases():
            match = phrase.pattern.search(flat)
            if match is None:
                continue
            if seen is not None:
                seen[phrase.kind] += 1
            if phrase.kind == "forbidden":
                out.append(f"forbidden wording {match.group(0)!r}")
            elif phrase.kind == "fact":
                unknown = [name for name in phrase.requires if getattr(snapshot, name) is None]
                if unknown:
                    out.append(f"{match.group(0)!r} printed while {', '.join(unknown)} unknown")
    return out


def test_the_cohort_check_catches_a_negative_stated_on_unknown_facts() -> None:
    from cds.facts.snapshot import PatientSnapshot

    unknown = PatientSnapshot.model_validate({"now": "2025-01-15T12:00:00Z", "patient_key": "k"})
    known = unknown.model_copy(update={"municipal_services_after": ()})
    text = "Ingen kommunale tjenester er bestilt for tiden etter utskriving."
    assert violations([text], unknown) != []
    assert violations([text], known) == []
    assert violations(["Legemiddellisten er ikke samstemt"], known) != []


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return Evaluator(RuleSetHolder(REPO / "rules"), pseudonymizer=Pseudonymizer(b"unknown-is-never-no-test-key-32b"))


@cache
def cohort_patient(index: int) -> list[dict[str, Any]]:
    return patient_resources(index, SEED)


@pytest.mark.parametrize("hook", HOOKS)
def test_no_card_states_a_negative_that_is_unknown_in_the_snapshot_over_a_generated_cohort(
    evaluator: Evaluator, hook: str
) -> None:
    problems: list[str] = []
    carded = 0
    seen: Counter[str] = Counter()
    for index in range(COHORT_SIZE):
        resources = cohort_patient(index)
        searched = EXPORTED if index % 2 == 0 else ()
        encounter_id, now, parsed = prepare_patient(resources, hook, None, searched)
        if now is None:
            continue
        call = EvaluationCall(
            service_id="unknown-is-never-no",
            hook=hook,
            patient_id=resources[0]["id"],
            encounter_id=encounter_id,
            user_id=None,
            now=now,
            resources=parsed,
        )
        evaluation = evaluator.evaluate(call)
        if not evaluation.findings:
            continue
        carded += 1
        english = render_cards(
            evaluation.findings, evaluator.rules.current(), evaluation.snapshot, language="en", patient_id="p"
        )
        texts = [
            str(part)
            for card in [*evaluation.cards, *english]
            for part in (card.get("summary"), card.get("detail"), card.get("source", {}).get("label"))
            if part
        ]
        problems += [f"patient {index}: {v}" for v in violations(texts, evaluation.snapshot, seen)]
    assert carded >= 100, f"only {carded} patients got a card at {hook}: the cohort does not exercise the rules"
    if hook == "encounter-discharge":  # pathway A and the coordinator texts are fact phrases: the check is exercised
        assert seen["fact"] >= 10, seen
    assert problems == [], "\n".join(problems[:20])
