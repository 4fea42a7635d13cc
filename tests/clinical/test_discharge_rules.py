"""Discharge rules through the real engine: pathways A/B/C, coordinator, safety checks, readmission risk."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

if TYPE_CHECKING:
    from conftest import Clinic

    from cds.rules.ruleset import RuleSet

ICD10 = "http://hl7.org/fhir/sid/icd-10"
HEART_FAILURE = {"codings": [{"system": ICD10, "code": "I50.0"}]}
COPD = {"codings": [{"system": ICD10, "code": "J44.1"}]}
PNEUMONIA = {"codings": [{"system": ICD10, "code": "J18.9"}]}
DISCHARGE = {"encounter_class": "inpatient", "encounter_id": "enc-1", "age": 80}


REPO = Path(__file__).resolve().parents[2]

def pathway(result) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(t for t in result.topics if t.startswith("pathway-"))


# -- pathways ---------------------------------------------------------------------------------


def test_no_municipal_services_is_pathway_a(clinic: Clinic) -> None:
    assert pathway(clinic.evaluate("encounter-discharge", service_need="none", **DISCHARGE)) == ["pathway-a"]


def test_unknown_service_need_is_no_pathway_and_the_card_says_not_recorded(clinic: Clinic) -> None:
    """000:4779-4805 categorises from the patient's needs; an unknown need is not 'no services' (pathway A)."""
    result = clinic.evaluate("encounter-discharge", **DISCHARGE)
    assert pathway(result) == ["pathway-undetermined"]
    assert "pathway" not in result.derived or result.derived["pathway"] is None
    card = result.card("pathway-undetermined")
    assert "ikke registrert" in card.summary
    assert "Kommunale tjenester før innleggelsen: ikke registrert" in (card.detail or "")


def test_services_before_and_an_empty_after_list_is_not_a_decreased_need(clinic: Clinic) -> None:
    result = clinic.evaluate(
        "encounter-discharge", municipal_services_before=["home-help"], municipal_services_after=[], **DISCHARGE
    )
    assert pathway(result) == ["pathway-undetermined"]
    texts = " ".join((c.summary + (c.detail or "")) for lang in ("nb", "en") for c in result.cards[lang])
    assert "mindre enn før" not in texts and "færre" not in texts and "fewer" not in texts


def test_unchanged_need_for_existing_services_is_pathway_b(clinic: Clinic) -> None:
    result = clinic.evaluate("encounter-discharge", home_nursing=True, service_need="unchanged", **DISCHARGE)
    assert pathway(result) == ["pathway-b"]
    assert result.derived["pathway"] == "B"


def test_two_chronic_conditions_with_new_need_is_pathway_c(clinic: Clinic) -> None:
    result = clinic.evaluate("encounter-discharge", service_need="new", conditions=[HEART_FAILURE, COPD], **DISCHARGE)
    assert pathway(result) == ["pathway-c"]
    assert "flere kroniske sykdommer" in (result.card("pathway-c").detail or "")


def test_one_chronic_condition_with_new_need_is_not_pathway_c(clinic: Clinic) -> None:
    result = clinic.evaluate(
        "encounter-discharge", service_need="new", conditions=[HEART_FAILURE, PNEUMONIA], **DISCHARGE
    )
    assert pathway(result) == ["pathway-undetermined"]
    assert "vurder B eller C" in result.card("pathway-undetermined").summary


def test_frail_cut_point_for_pathway_c_is_cfs_5(clinic: Clinic) -> None:
    assert pathway(clinic.evaluate("encounter-discharge", cfs={"score": 5}, service_need="increased", **DISCHARGE)) == [
        "pathway-c"
    ]
    assert pathway(clinic.evaluate("encounter-discharge", cfs={"score": 4}, service_need="increased", **DISCHARGE)) == [
        "pathway-undetermined"
    ]


def test_repeated_admissions_from_home_alone_are_not_a_pathway_c_criterion(clinic: Clinic) -> None:
    """000:2799-2805 describes a hospital-municipality disagreement, not a criterion (issue #16)."""
    now = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
    admissions = [{"start": datetime(2025, 3, 1, tzinfo=UTC)}, {"start": datetime(2025, 5, 1, tzinfo=UTC)}]
    facts = {"now": now, "home_dwelling": True, "service_need": "unchanged", **DISCHARGE}
    result = clinic.evaluate("encounter-discharge", admissions=admissions, **facts)
    assert pathway(result) == ["pathway-b"]
    assert not result.fired("coordinator")


def test_new_need_with_discharge_to_a_nursing_home_alone_is_not_pathway_c(clinic: Clinic) -> None:
    """A new need for round-the-clock care is not a seed criterion (000:2799-2805); C needs a C1-C5 criterion."""
    result = clinic.evaluate(
        "encounter-discharge", service_need="new", discharge_destination="nursing-home", **DISCHARGE
    )
    assert pathway(result) == ["pathway-undetermined"]
    frail = clinic.evaluate(
        "encounter-discharge", service_need="new", discharge_destination="nursing-home", cfs={"score": 6}, **DISCHARGE
    )
    assert pathway(frail) == ["pathway-c"]


def test_pathway_cards_suggest_a_board_flag(clinic: Clinic) -> None:
    card = clinic.evaluate("encounter-discharge", service_need="unchanged", **DISCHARGE).card("pathway-b")
    flag = (card.suggestions or [])[0].actions[0].resource
    assert flag["resourceType"] == "Flag"
    assert flag["code"]["text"].startswith("Utskrivingsforløp B")


# -- coordinator ------------------------------------------------------------------------------


def test_pathway_c_without_coordinator_offers_one_even_when_ip_declined(clinic: Clinic) -> None:
    result = clinic.evaluate(
        "encounter-discharge", cfs={"score": 7}, service_need="new", individual_plan="declined", **DISCHARGE
    )
    card = result.card("coordinator")
    assert card.summary.startswith("Vurder om pasienten har rett til koordinator")
    assert "det fjerner ikke retten til koordinator" in (card.detail or "")
    assert "spesialisthelsetjenesteloven § 2-5a" in (card.detail or "")
    assert "Sykehuset skal tilby" not in (card.detail or "")
    assert any(str(link.url).startswith("https://lovdata.no/dokument/NL/lov/1999-07-02-61") for link in card.links or [])
    kinds = [s.actions[0].resource["resourceType"] for s in card.suggestions or []]
    assert kinds == ["Task", "CommunicationRequest"]


def test_no_coordinator_card_when_one_is_assigned(clinic: Clinic) -> None:
    assert not clinic.evaluate("encounter-discharge", has_coordinator=True, **DISCHARGE).fired("coordinator")


# -- discharge safety checks -----------------------------------------------------------------


def test_missing_follow_up_appointment_warns(clinic: Clinic) -> None:
    assert (
        clinic.evaluate("encounter-discharge", follow_up_booked=False, **DISCHARGE).card("follow-up-missing").indicator
        == "warning"
    )
    assert not clinic.evaluate("encounter-discharge", follow_up_booked=True, **DISCHARGE).fired("follow-up-missing")


def test_no_follow_up_visible_to_the_system_is_reported_as_not_recorded(clinic: Clinic) -> None:
    card = clinic.evaluate("encounter-discharge", **DISCHARGE).card("follow-up-missing")
    assert card.summary.startswith("Ingen oppfølgingstime er registrert")
    assert clinic.evaluate("encounter-discharge", **DISCHARGE).fired("follow-up-missing")


def test_unreconciled_medication_list_warns(clinic: Clinic) -> None:
    assert clinic.evaluate(
        "encounter-discharge", active_medication_count=5, medication_reconciled=False, **DISCHARGE
    ).fired("medication-reconciliation")
    assert not clinic.evaluate(
        "encounter-discharge", active_medication_count=5, medication_reconciled=True, **DISCHARGE
    ).fired("medication-reconciliation")


def test_medication_review_from_four_medicines(clinic: Clinic) -> None:
    assert clinic.evaluate("encounter-discharge", active_medication_count=4, **DISCHARGE).fired("medication-review")
    assert not clinic.evaluate("encounter-discharge", active_medication_count=3, **DISCHARGE).fired("medication-review")


def test_medication_review_interval_boundary_is_365_days(clinic: Clinic) -> None:
    facts = {"active_medication_count": 8, **DISCHARGE}
    assert not clinic.evaluate("encounter-discharge", last_medication_review=date(2024, 1, 16), **facts).fired(
        "medication-review"
    )
    assert clinic.evaluate("encounter-discharge", last_medication_review=date(2024, 1, 15), **facts).fired(
        "medication-review"
    )


def test_home_nursing_gp_check_up_boundary_is_14_days(clinic: Clinic) -> None:
    facts = {"home_nursing": True, "gp_reference": "Practitioner/gp-1", **DISCHARGE}
    assert not clinic.evaluate("encounter-discharge", gp_follow_up_within_days=14, **facts).fired("gp-check-up")
    assert clinic.evaluate("encounter-discharge", gp_follow_up_within_days=15, **facts).fired("gp-check-up")


def test_abnormal_result_without_follow_up_warns_before_discharge(clinic: Clinic) -> None:
    lab = {
        "codings": [{"system": "http://loinc.org", "code": "2951-2"}],
        "value": 127.0,
        "abnormal": True,
        "followed_up": False,
        "in_current_encounter": True,
    }
    assert clinic.evaluate("encounter-discharge", labs=[lab], **DISCHARGE).fired("unresolved-findings")
    assert not clinic.evaluate("encounter-discharge", labs=[{**lab, "followed_up": True}], **DISCHARGE).fired(
        "unresolved-findings"
    )


def test_new_symptoms_in_the_last_24_hours_warn(clinic: Clinic) -> None:
    assert clinic.evaluate("encounter-discharge", new_symptoms_before_discharge=True, **DISCHARGE).fired(
        "unresolved-findings"
    )


# -- readmission risk -------------------------------------------------------------------------


def risk(p: float, *, validated: bool = True) -> dict[str, object]:
    return {
        "probability": p,
        "model_version": "readmission-30d-abc123",
        "contributions": [("prior_inpatient", 0.4), ("n_diagnoses", -0.3), ("los_days", 0.2)],
        "validated": validated,
    }


def test_readmission_probability_boundary_between_moderate_and_high(clinic: Clinic) -> None:
    high = clinic.evaluate("encounter-discharge", readmission_risk=risk(0.20), **DISCHARGE)
    moderate = clinic.evaluate("encounter-discharge", readmission_risk=risk(0.19), **DISCHARGE)
    assert high.fired("readmission-risk-high") and not high.fired("readmission-risk")
    assert high.card("readmission-risk").summary == "Risiko for reinnleggelse innen 30 dager: lokalt validert modell høy (20 %)"
    assert moderate.fired("readmission-risk") and not moderate.fired("readmission-risk-high")
    assert moderate.card("readmission-risk", "en").summary == "30-day readmission risk: locally validated model moderate (19%)"


def test_readmission_low_class_below_10_percent(clinic: Clinic) -> None:
    card = clinic.evaluate("encounter-discharge", readmission_risk=risk(0.09), **DISCHARGE).card(
        "readmission-risk", "en"
    )
    assert card.summary == "30-day readmission risk: locally validated model low (9%)"
    assert card.indicator == "info"


def test_a_model_not_validated_locally_is_not_shown_and_raises_no_card(clinic: Clinic) -> None:
    alone = clinic.evaluate("encounter-discharge", readmission_risk=risk(0.45, validated=False), **DISCHARGE)
    assert not alone.fired("readmission-risk") and not alone.fired("readmission-risk-high")
    lace6 = {"lace": {"name": "lace", "points": 6, "band": "moderate"}}
    with_score = clinic.evaluate(
        "encounter-discharge", readmission_risk=risk(0.45, validated=False), scores=lace6, **DISCHARGE
    )
    assert with_score.fired("readmission-risk") and not with_score.fired("readmission-risk-high")
    card = with_score.card("readmission-risk")
    assert card.summary == "Risiko for reinnleggelse innen 30 dager: LACE 6 (moderat)"
    assert "45" not in card.summary + (card.detail or "") and "modell" not in (card.detail or "").lower()


def test_published_high_bands_raise_a_warning(clinic: Clinic) -> None:
    lace10 = {"lace": {"name": "lace", "points": 10, "band": "high"}}
    lace9 = {"lace": {"name": "lace", "points": 9, "band": "moderate"}}
    hospital7 = {"hospital": {"name": "hospital", "points": 7, "band": "high"}}
    assert clinic.evaluate("encounter-discharge", scores=lace10, **DISCHARGE).fired("readmission-risk-high")
    assert not clinic.evaluate("encounter-discharge", scores=lace9, **DISCHARGE).fired("readmission-risk-high")
    assert clinic.evaluate("encounter-discharge", scores=hospital7, **DISCHARGE).fired("readmission-risk-high")


def test_readmission_card_names_raising_factors_only_and_open_modifiable_factors(clinic: Clinic) -> None:
    result = clinic.evaluate("encounter-discharge", readmission_risk=risk(0.3), follow_up_booked=False, **DISCHARGE)
    detail = result.card("readmission-risk").detail or ""
    assert "- innleggelser siste år\n" in detail and "- liggetid\n" in detail
    assert "antall diagnoser" not in detail  # a factor that lowers the estimate is never named
    assert "kjente risikofaktorer for reinnleggelse" in detail and "(kildene)" not in detail
    assert "Ingen oppfølgingstime er registrert." in detail
    done = clinic.evaluate("encounter-discharge", readmission_risk=risk(0.3), **{**DISCHARGE, **ALL_DONE})
    assert "Ingen oppfølgingstime" not in (done.card("readmission-risk").detail or "")


@settings(max_examples=40, deadline=None)
@given(
    probability=st.floats(0.0, 1.0),
    weights=st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=13, max_size=13),
    validated=st.booleans(),
    lace=st.one_of(st.none(), st.integers(0, 19)),
)
def test_readmission_cards_never_say_a_factor_lowers_the_risk_nor_show_a_model_id(
    clinic: Clinic, probability: float, weights: list[float], validated: bool, lace: int | None
) -> None:
    from cds.model.features import FEATURES

    contributions = sorted(zip(FEATURES, weights, strict=True), key=lambda item: -abs(item[1]))
    prediction = {"probability": probability, "model_version": "readmission-30d-0f1e2d3c4b5a",
                  "contributions": contributions, "validated": validated}
    scores = {} if lace is None else {"lace": {"name": "lace", "points": lace, "band": "high" if lace >= 10 else "moderate"}}
    result = clinic.evaluate("encounter-discharge", readmission_risk=prediction, scores=scores, **DISCHARGE)
    if not result.fired("readmission-risk") and not result.fired("readmission-risk-high"):
        assert lace is None and not validated
        return
    labels = yaml.safe_load((REPO / "rules" / "codesystems" / "labels.yaml").read_text(encoding="utf-8"))
    for language in ("nb", "en"):
        card = result.card("readmission-risk", language)
        text = card.summary + (card.detail or "")
        lines = set(text.splitlines())
        assert "0f1e2d3c4b5a" not in text and "readmission-30d" not in text
        assert "senker" not in text and "lowers" not in text
        for name, weight in contributions:
            if weight <= 0:  # a factor that does not raise the estimate is never listed (its label as a list line)
                assert f"- {labels['feature']['labels'][name][language]}" not in lines
        if not validated:
            assert "modell" not in text.lower() and "model" not in text.lower()


def test_readmission_card_for_inpatients_at_patient_view_but_not_after_discharge(clinic: Clinic) -> None:
    assert clinic.evaluate("patient-view", readmission_risk=risk(0.3), **DISCHARGE).fired("readmission-risk-high")
    ended = datetime(2025, 1, 10, tzinfo=UTC)
    assert not clinic.evaluate("patient-view", readmission_risk=risk(0.3), encounter_end=ended, **DISCHARGE).fired(
        "readmission-risk-high"
    )


LACE_11 = {
    "name": "lace",
    "points": 11.0,
    "band": "high",
    "band_could_change": True,
    "items": [{"name": "length_of_stay", "points": 4.0}, {"name": "ed_visits", "points": None, "unknown": True}],
}
HOSPITAL_5 = {
    "name": "hospital",
    "points": 5.0,
    "band": "intermediate",
    "items": [{"name": "haemoglobin", "points": 1.0}],
}


def test_readmission_card_in_norwegian_has_norwegian_bands_item_names_and_decimal_comma(clinic: Clinic) -> None:
    result = clinic.evaluate(
        "encounter-discharge",
        readmission_risk=risk(0.121),
        scores={"lace": LACE_11, "hospital": HOSPITAL_5},
        **DISCHARGE,
    )
    card = result.card("readmission-risk")
    assert (
        card.summary.replace("\u00a0", " ")
        == "Risiko for reinnleggelse innen 30 dager: LACE 11 (høy), HOSPITAL 5 (middels); lokalt validert modell moderat (12 %)"
    )
    detail = (card.detail or "").replace("\u00a0", " ")  # the pct filter may use a no-break space
    assert "sannsynlighet 12,1 %" in detail and "lav under 10 %, høy fra 20 %" in detail
    assert "- liggetid: 4" in detail and "- besøk i akuttmottak siste 6 måneder: ukjent" in detail
    assert "(middels risiko)" in detail
    for english in ("high", "intermediate", "length_of_stay", "ed_visits", "haemoglobin", "12.1"):
        assert english not in card.summary + detail, english


def test_readmission_card_in_english_keeps_a_decimal_point(clinic: Clinic) -> None:
    result = clinic.evaluate("encounter-discharge", readmission_risk=risk(0.121), scores={"lace": LACE_11}, **DISCHARGE)
    card = result.card("readmission-risk", "en")
    assert card.summary == "30-day readmission risk: LACE 11 (high); locally validated model moderate (12%)"
    assert "probability 12.1%" in (card.detail or "") and "- length of stay: 4" in (card.detail or "")


def test_every_model_feature_has_a_name_in_both_card_languages(clinic: Clinic) -> None:
    from cds.model.features import FEATURES

    for feature in FEATURES:
        odd = {"probability": 0.3, "model_version": "test", "contributions": [(feature, 0.4)], "validated": True}
        result = clinic.evaluate("encounter-discharge", readmission_risk=odd, **DISCHARGE)
        assert f"- {feature} (" not in (result.card("readmission-risk").detail or ""), feature
        assert f"- {feature} (" not in (result.card("readmission-risk", "en").detail or ""), feature


# -- pathway C: several municipal services (from the service lists) ------------------------------------------------


def test_several_municipal_services_with_one_new_is_pathway_c_and_the_card_says_why(clinic: Clinic) -> None:
    result = clinic.evaluate(
        "encounter-discharge",
        municipal_services_before=["home-help"],
        municipal_services_after=["home-help", "home-nursing"],
        **DISCHARGE,
    )
    assert pathway(result) == ["pathway-c"]
    assert "2 kommunale tjenester etter utskriving, minst én ny" in (result.card("pathway-c").detail or "")
    assert "2 municipal services after discharge, at least one new" in (result.card("pathway-c", "en").detail or "")


def test_several_services_boundary_is_two(clinic: Clinic, ruleset: RuleSet) -> None:
    assert ruleset.rule("pathway-c-several-services").parameters["c_min_services"] == 2
    one = clinic.evaluate(
        "encounter-discharge", municipal_services_before=[], municipal_services_after=["home-nursing"], **DISCHARGE
    )
    assert one.derived["c_several_services"] is False


def test_the_same_several_services_as_before_stay_pathway_b(clinic: Clinic) -> None:
    services = ["home-help", "home-nursing", "safety-alarm"]
    result = clinic.evaluate(
        "encounter-discharge",
        municipal_services_before=services,
        municipal_services_after=services,
        service_need="unchanged",
        **DISCHARGE,
    )
    assert pathway(result) == ["pathway-b"]


def test_unknown_services_before_never_make_a_new_need(clinic: Clinic) -> None:
    result = clinic.evaluate(
        "encounter-discharge", municipal_services_after=["long-term-stay", "home-help"], **DISCHARGE
    )
    assert result.derived["c_several_services"] is False


# -- readmission card: conditional suggestions --------------------------------------------------------------------

ALL_DONE = {
    "gp_reference": "Practitioner/gp-1",
    "follow_up_booked": True,
    "medication_reconciled": True,
    "gp_notified": True,
    "early_notice_sent": datetime(2025, 1, 14, 10, tzinfo=UTC),
    "municipal_services_before": ["home-nursing"],
    "municipal_services_after": ["home-nursing"],
    "has_coordinator": True,
}


def offered(clinic: Clinic, **facts: object) -> list[str]:
    result = clinic.evaluate("encounter-discharge", readmission_risk=risk(0.3), **{**DISCHARGE, **ALL_DONE, **facts})
    card = result.card("readmission-risk")
    return [s.label for s in card.suggestions or []]


def test_readmission_card_offers_no_safety_task_when_everything_is_done(clinic: Clinic) -> None:
    assert offered(clinic) == []


def test_follow_up_is_suggested_only_when_not_booked(clinic: Clinic) -> None:
    assert offered(clinic, follow_up_booked=False) == ["Bestill oppfølgingstime før utreise"]
    assert offered(clinic, follow_up_booked=None) == ["Bestill oppfølgingstime før utreise"]


def test_medication_reconciliation_is_suggested_only_when_not_reconciled(clinic: Clinic) -> None:
    assert offered(clinic, medication_reconciled=False) == ["Samstem legemiddellisten"]


def test_early_information_to_the_municipality_only_when_not_sent_and_services_are_involved(clinic: Clinic) -> None:
    assert offered(clinic, early_notice_sent=None) == ["Send tidlig informasjon til kommunen"]
    no_services = {"municipal_services_before": [], "municipal_services_after": [], "home_nursing": False}
    assert offered(clinic, early_notice_sent=None, **no_services) == []


def test_gp_notice_only_when_the_gp_is_not_notified(clinic: Clinic) -> None:
    assert offered(clinic, gp_notified=False) == ["Varsle fastlegen"]


def test_coordinator_only_for_complex_needs_without_a_coordinator(clinic: Clinic) -> None:
    complex_needs = {
        "municipal_services_before": ["home-help"],
        "municipal_services_after": ["home-help", "home-nursing"],
    }
    assert offered(clinic, has_coordinator=False, **complex_needs) == ["Oppnevn koordinator"]
    assert offered(clinic, has_coordinator=True, **complex_needs) == []
    assert offered(clinic, has_coordinator=False) == []  # pathway B: no complex needs


def test_readmission_suggestions_never_promise_a_service(clinic: Clinic) -> None:
    facts = {"follow_up_booked": False, "medication_reconciled": False, "gp_notified": False, "early_notice_sent": None}
    result = clinic.evaluate("encounter-discharge", readmission_risk=risk(0.3), **{**DISCHARGE, **ALL_DONE, **facts})
    card = result.card("readmission-risk")
    text = " ".join(str(s.model_dump(mode="json")) for s in card.suggestions or [])
    assert "Kommunen vurderer behovet for tjenester" in text
    assert "vil få" not in text and "innvilg" not in text
