"""Cards rendered from findings: nb/en text, topic, provenance, suggestions, override reasons."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cds.cards import render_cards
from cds.cards.render import OVERRIDE_REASON_SYSTEM, PROVENANCE
from cds.cards.topics import TOPIC_SYSTEM, load_topics
from cds.facts.snapshot import PatientSnapshot
from cds.cards import WireCard
from cds.hooks.models import SUMMARY_MAX, Card, to_json_dict
from cds.rules import RuleSet

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return RuleSet.load(REPO / "rules")


def kari(**facts: object) -> PatientSnapshot:
    """Kari, 78, admitted without any CFS on record."""
    return PatientSnapshot(now=NOW, patient_key="k", age=78, encounter_id="enc-1", **facts)  # type: ignore[arg-type]


def screening_card(ruleset: RuleSet, language: str = "nb", patient_id: str | None = "pat-1", **facts: object) -> WireCard:
    snapshot = kari(**facts)
    findings = [f for f in ruleset.evaluate("encounter-start", snapshot) if f.rule_id == "cfs-screening-due"]
    (card,) = render_cards(findings, ruleset, snapshot, language=language, patient_id=patient_id)
    return card


def test_card_text_is_norwegian_by_default_and_english_on_request(ruleset: RuleSet) -> None:
    assert "78 år" in screening_card(ruleset)["summary"]
    assert "aged 78" in screening_card(ruleset, "en")["summary"]


def test_card_names_rule_version_and_rule_set_digest(ruleset: RuleSet) -> None:
    provenance = screening_card(ruleset)["extension"][PROVENANCE]
    assert provenance == {"ruleId": "cfs-screening-due", "ruleVersion": ruleset.rule("cfs-screening-due").version, "rulesetDigest": ruleset.digest}


def test_card_topic_is_a_coding_from_the_card_topic_code_system(ruleset: RuleSet) -> None:
    topic = screening_card(ruleset, "en")["source"]["topic"]
    assert topic == {"system": TOPIC_SYSTEM, "code": "cfs-screening-due", "display": "CFS screening due"}


def test_suggestion_uuid_derives_from_card_uuid_and_suggestion_id(ruleset: RuleSet) -> None:
    card = screening_card(ruleset)
    (suggestion,) = card["suggestions"]
    assert suggestion["uuid"] == str(uuid.uuid5(uuid.UUID(card["uuid"]), "record-cfs"))
    assert card["selectionBehavior"] == "at-most-one"


def test_suggestion_resource_refers_to_the_patient_of_the_call(ruleset: RuleSet) -> None:
    (suggestion,) = screening_card(ruleset, patient_id="pat-42")["suggestions"]
    resource = suggestion["actions"][0]["resource"]
    assert resource["resourceType"] == "Task" and resource["for"] == {"reference": "Patient/pat-42"}


def test_suggestion_needing_a_missing_patient_id_is_left_out(ruleset: RuleSet) -> None:
    card = screening_card(ruleset, patient_id=None)
    assert "suggestions" not in card and "selectionBehavior" not in card


def test_override_reasons_carry_system_code_and_localised_display(ruleset: RuleSet) -> None:
    reasons = screening_card(ruleset, "en")["overrideReasons"]
    assert reasons[0] == {"system": OVERRIDE_REASON_SYSTEM, "code": "scored-elsewhere", "display": "CFS is documented elsewhere"}


def test_a_card_is_cds_hooks_json_as_the_card_model_serialises_it(ruleset: RuleSet) -> None:
    card = screening_card(ruleset)
    assert "detail" in card and None not in card.values()
    assert list(card) == list(to_json_dict(Card.model_validate(card)))  # valid, nothing to leave out, the spec's order
    assert to_json_dict(Card.model_validate(card)) == card


LONG_RULE = """
id: long
version: "1.0"
title: {nb: Lang, en: Long}
hooks: [encounter-start]
when: {fact: age, op: ">=", value: 70}
card:
  topic: frailty-status
  indicator: info
  summary: {nb: "{{ 'ord ' * 40 }}", en: "{{ 'word ' * 40 }}"}
source: {paper: test}
"""


def test_a_summary_over_140_characters_is_shortened_never_refused(tmp_path: Path) -> None:
    (tmp_path / "codesystems").mkdir()
    shutil.copy(REPO / "rules" / "codesystems" / "card-topic.yaml", tmp_path / "codesystems" / "card-topic.yaml")
    (tmp_path / "long.yaml").write_text(LONG_RULE, encoding="utf-8")
    ruleset = RuleSet.load(tmp_path)
    snapshot = kari()
    (card,) = render_cards(ruleset.evaluate("encounter-start", snapshot), ruleset, snapshot)
    assert len(card["summary"]) < SUMMARY_MAX and card["summary"].endswith("…")


def test_unsupported_language_is_refused(ruleset: RuleSet) -> None:
    with pytest.raises(ValueError, match="unsupported language 'de'"):
        screening_card(ruleset, "de")


def test_findings_without_a_card_render_nothing(ruleset: RuleSet) -> None:
    snapshot = kari(cfs={"score": 6}, cfs_age_days=3)
    findings = [f for f in ruleset.evaluate("encounter-start", snapshot) if "topic" not in f.outputs]
    assert render_cards(findings, ruleset, snapshot) == []


def test_card_topic_code_system_defines_every_topic_with_nb_and_en() -> None:
    url, topics = load_topics(REPO / "rules" / "codesystems" / "card-topic.yaml")
    assert url == TOPIC_SYSTEM
    assert {"cfs-screening-due", "pathway-a", "discharge-safety"} <= set(topics)
    assert all(t.display_nb and t.display_en and t.definition for t in topics.values())


UNKNOWN_PATH_RULE = """
id: lace
version: "1.0"
title: {nb: Reinnleggelsesrisiko, en: Readmission risk}
hooks: [encounter-discharge]
when: {fact: readmission_risk.probability, op: ">=", value: 0.3}
card:
  topic: readmission-risk
  indicator: warning
  summary: {nb: "Risiko {{ readmission_risk.probability }}, LACE {{ scores.lace.points }}", en: "Risk {{ readmission_risk.probability }}, LACE {{ scores.lace.points }}"}
  detail: {nb: "{% if scores.lace.points >= 10 %}Høy LACE.{% endif %} Alder {{ age }}.", en: "Age {{ age }}."}
source: {paper: test}
"""


def test_unknown_values_in_card_text_print_as_unknown_instead_of_failing_the_call(tmp_path: Path) -> None:
    from cds.facts.snapshot import RiskPrediction

    (tmp_path / "codesystems").mkdir()
    shutil.copy(REPO / "rules" / "codesystems" / "card-topic.yaml", tmp_path / "codesystems" / "card-topic.yaml")
    (tmp_path / "lace.yaml").write_text(UNKNOWN_PATH_RULE, encoding="utf-8")
    ruleset = RuleSet.load(tmp_path)
    snapshot = PatientSnapshot(now=NOW, patient_key="k", readmission_risk=RiskPrediction(probability=0.4, model_version="t"))
    (nb,) = render_cards(ruleset.evaluate("encounter-discharge", snapshot), ruleset, snapshot)
    (en,) = render_cards(ruleset.evaluate("encounter-discharge", snapshot), ruleset, snapshot, language="en")
    assert (nb["summary"], nb["detail"]) == ("Risiko 0.4, LACE ukjent", "Alder ukjent.")
    assert en["summary"] == "Risk 0.4, LACE unknown"


def test_number_filters_use_a_decimal_comma_in_norwegian() -> None:
    from cds.cards.templates import check_template

    nb, _ = check_template("{{ readmission_risk.probability | pct }} / {{ 2.345 | num(1) }}", [], "nb")
    en, _ = check_template("{{ readmission_risk.probability | pct }} / {{ 2.345 | num(1) }}", [], "en")
    assert nb is not None and en is not None
    risk = {"probability": 0.354}
    assert nb.render(readmission_risk=risk) == "35\u00a0% / 2,3"  # no-break space before the per cent sign
    assert en.render(readmission_risk=risk) == "35% / 2.3"
    assert nb.render(readmission_risk=None) == "ukjent / 2,3"


EMPTY_TEXTS_RULE = """
id: empty
version: "1.0"
title: {nb: Tittel, en: Title}
hooks: [encounter-start]
when: {fact: age, op: ">=", value: 70}
card:
  topic: frailty-status
  indicator: info
  summary: {nb: "{{ '' if age > 70 else 'Alder' }}", en: "{{ '  ' }}"}
  detail: {nb: "{{ ' ' }}", en: "{{ '' }}"}
  selection_behavior: any
  suggestions:
    - id: no-label
      label: {nb: "{{ '' }}", en: "{{ '' }}"}
      actions:
        - description: {nb: Oppgave, en: Task}
          resource: {resourceType: Task, for: {reference: "Patient/{{ patient_id }}"}}
    - id: no-description
      label: {nb: Notat, en: Note}
      actions:
        - description: {nb: "{{ '' }}", en: "{{ '' }}"}
          resource: {resourceType: Task, for: {reference: "Patient/{{ patient_id }}"}}
    - id: empty-resource
      label: {nb: Notat, en: Note}
      actions:
        - description: {nb: Oppgave, en: Task}
          resource: {note: ["{{ '' }}"], code: {text: "{{ '' }}"}}
source: {paper: test}
"""


def _empty_texts_card(tmp_path: Path, rule: str, language: str = "nb", strict: bool = False) -> WireCard:
    from cds.cards import render_card

    (tmp_path / "codesystems").mkdir()
    shutil.copy(REPO / "rules" / "codesystems" / "card-topic.yaml", tmp_path / "codesystems" / "card-topic.yaml")
    (tmp_path / "rule.yaml").write_text(rule, encoding="utf-8")
    ruleset = RuleSet.load(tmp_path)
    snapshot = kari()
    (finding,) = ruleset.evaluate("encounter-start", snapshot)
    card = render_card(finding, ruleset, snapshot, language=language, patient_id="pat-1", strict=strict)
    assert card is not None
    return card


def test_a_summary_that_renders_empty_shows_the_rule_title_and_an_empty_detail_is_left_out(tmp_path: Path) -> None:
    card = _empty_texts_card(tmp_path, EMPTY_TEXTS_RULE)
    assert card["summary"] == "Tittel" and "detail" not in card
    Card.model_validate(card)


def test_suggestions_with_an_empty_label_description_or_resource_are_left_out_with_their_selection_behavior(
    tmp_path: Path,
) -> None:
    card = _empty_texts_card(tmp_path, EMPTY_TEXTS_RULE)
    assert "suggestions" not in card and "selectionBehavior" not in card
    Card.model_validate(card)


def test_empty_members_of_a_suggestion_resource_are_left_out(tmp_path: Path) -> None:
    rule = EMPTY_TEXTS_RULE.replace("{note: [\"{{ '' }}\"], code: {text: \"{{ '' }}\"}}", "{resourceType: Task, note: [\"{{ '' }}\"], code: {text: \"{{ '' }}\"}, status: draft}")
    (suggestion,) = _empty_texts_card(tmp_path, rule)["suggestions"]
    assert suggestion["actions"] == [{"type": "create", "description": "Oppgave", "resource": {"resourceType": "Task", "status": "draft"}}]


def test_strict_rendering_refuses_an_empty_summary(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="summary is empty"):
        _empty_texts_card(tmp_path, EMPTY_TEXTS_RULE, strict=True)


def test_a_card_whose_fixed_parts_break_the_spec_is_refused_when_its_plan_is_made(tmp_path: Path) -> None:
    from pydantic import ValidationError

    rule = LONG_RULE.replace("source: {paper: test}", "  links: [{label: {nb: Lenke, en: Link}, url: 'https://'}]\nsource: {paper: test}")
    (tmp_path / "codesystems").mkdir()
    shutil.copy(REPO / "rules" / "codesystems" / "card-topic.yaml", tmp_path / "codesystems" / "card-topic.yaml")
    (tmp_path / "long.yaml").write_text(rule, encoding="utf-8")
    ruleset = RuleSet.load(tmp_path)
    snapshot = kari()
    with pytest.raises(ValidationError, match="url"):
        render_cards(ruleset.evaluate("encounter-start", snapshot), ruleset, snapshot)
