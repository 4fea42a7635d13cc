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


def screening_card(ruleset: RuleSet, language: str = "nb", patient_id: str | None = "pat-1", **facts: object) -> Card:
    snapshot = kari(**facts)
    findings = [f for f in ruleset.evaluate("encounter-start", snapshot) if f.rule_id == "cfs-screening-due"]
    (card,) = render_cards(findings, ruleset, snapshot, language=language, patient_id=patient_id)
    return card


def test_card_text_is_norwegian_by_default_and_english_on_request(ruleset: RuleSet) -> None:
    assert "78 år" in screening_card(ruleset).summary
    assert "aged 78" in screening_card(ruleset, "en").summary


def test_card_names_rule_version_and_rule_set_digest(ruleset: RuleSet) -> None:
    provenance = (screening_card(ruleset).extension or {})[PROVENANCE]
    assert provenance == {"ruleId": "cfs-screening-due", "ruleVersion": ruleset.rule("cfs-screening-due").version, "rulesetDigest": ruleset.digest}


def test_card_topic_is_a_coding_from_the_card_topic_code_system(ruleset: RuleSet) -> None:
    topic = screening_card(ruleset, "en").source.topic
    assert topic is not None
    assert (topic.system, topic.code, topic.display) == (TOPIC_SYSTEM, "cfs-screening-due", "CFS screening due")


def test_suggestion_uuid_derives_from_card_uuid_and_suggestion_id(ruleset: RuleSet) -> None:
    card = screening_card(ruleset)
    (suggestion,) = card.suggestions or []
    assert suggestion.uuid == str(uuid.uuid5(uuid.UUID(card.uuid), "record-cfs"))
    assert card.selectionBehavior is not None


def test_suggestion_resource_refers_to_the_patient_of_the_call(ruleset: RuleSet) -> None:
    (suggestion,) = screening_card(ruleset, patient_id="pat-42").suggestions or []
    resource = (suggestion.actions or [])[0].resource or {}
    assert resource["resourceType"] == "Task" and resource["for"] == {"reference": "Patient/pat-42"}


def test_suggestion_needing_a_missing_patient_id_is_left_out(ruleset: RuleSet) -> None:
    card = screening_card(ruleset, patient_id=None)
    assert card.suggestions is None and card.selectionBehavior is None


def test_override_reasons_carry_system_code_and_localised_display(ruleset: RuleSet) -> None:
    reasons = screening_card(ruleset, "en").overrideReasons or []
    assert reasons[0].system == OVERRIDE_REASON_SYSTEM
    assert (reasons[0].code, reasons[0].display) == ("scored-elsewhere", "CFS is documented elsewhere")


def test_card_serialises_as_cds_hooks_json_without_nulls(ruleset: RuleSet) -> None:
    data = to_json_dict(screening_card(ruleset))
    assert "detail" in data and None not in data.values()


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
    assert len(card.summary) < SUMMARY_MAX and card.summary.endswith("…")


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
    assert (nb.summary, nb.detail) == ("Risiko 0.4, LACE ukjent", "Alder ukjent.")
    assert en.summary == "Risk 0.4, LACE unknown"


def test_number_filters_use_a_decimal_comma_in_norwegian() -> None:
    from cds.cards.templates import check_template

    nb, _ = check_template("{{ readmission_risk.probability | pct }} / {{ 2.345 | num(1) }}", [], "nb")
    en, _ = check_template("{{ readmission_risk.probability | pct }} / {{ 2.345 | num(1) }}", [], "en")
    assert nb is not None and en is not None
    risk = {"probability": 0.354}
    assert nb.render(readmission_risk=risk) == "35\u00a0% / 2,3"  # no-break space before the per cent sign
    assert en.render(readmission_risk=risk) == "35% / 2.3"
    assert nb.render(readmission_risk=None) == "ukjent / 2,3"
