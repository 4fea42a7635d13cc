"""Frailty rules through the real engine: CFS screening, CGA referral, end of life, ED geriatric selection."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Clinic



# -- cfs-screening-due (reference rule; boundaries of its parameters) ----------------------------


def test_astrid_aged_70_without_cfs_is_due_for_screening(clinic: Clinic) -> None:
    assert clinic.evaluate("encounter-start", age=70).fired("cfs-screening-due")


def test_a_69_year_old_is_below_the_screening_age(clinic: Clinic) -> None:
    assert not clinic.evaluate("encounter-start", age=69).fired("cfs-screening-due")


def test_only_a_current_cfs_stops_the_screening_card(clinic: Clinic) -> None:
    """`cfs` holds a current score only (the facts apply the CFS table's window); `cfs_latest` is history."""
    old = {"score": 4, "baseline_date": date(2024, 10, 1)}
    assert not clinic.evaluate("patient-view", age=80, cfs=old, cfs_latest=old, cfs_age_days=90).fired(
        "cfs-screening-due"
    )
    assert clinic.evaluate("patient-view", age=80, cfs_latest=old, cfs_age_days=91).fired("cfs-screening-due")


def test_no_screening_card_for_a_patient_recorded_as_deceased(clinic: Clinic) -> None:
    assert not clinic.evaluate("patient-view", age=88, deceased=True).fired("cfs-screening-due")
    assert clinic.evaluate("patient-view", age=88, deceased=False).fired("cfs-screening-due")


def test_screening_task_is_written_in_norwegian_and_names_the_baseline(clinic: Clinic) -> None:
    card = clinic.evaluate("encounter-start", age=78).card("cfs-screening-due")
    (suggestion,) = card.suggestions or []
    task = suggestion.actions[0].resource
    assert task["code"]["text"] == "Skår klinisk skrøpelighetsskala (CFS) for tilstanden to uker før akutt sykdom"
    assert "to uker før den akutte sykdommen" in task["description"]


def test_screening_card_links_norwegian_guidance_before_the_original_scale(clinic: Clinic) -> None:
    card = clinic.evaluate("encounter-start", age=78).card("cfs-screening-due")
    urls = [str(link.url) for link in card.links or []]
    assert urls[0].startswith("https://unn.no/") and urls[0].endswith("/cfs")
    assert urls[1] == "https://www.dal.ca/sites/gmr/our-tools/clinical-frailty-scale.html"


# -- cga-referral ------------------------------------------------------------------------------


def test_ingrid_84_with_cfs_6_is_offered_a_cga_referral_at_discharge(clinic: Clinic) -> None:
    result = clinic.evaluate("encounter-discharge", age=84, cfs={"score": 6})
    card = result.card("cga-referral")
    (suggestion,) = card.suggestions or []
    resource = suggestion.actions[0].resource
    assert resource["resourceType"] == "ServiceRequest"
    assert resource["code"]["text"].startswith("Helhetlig geriatrisk vurdering")
    assert resource["reasonCode"][0]["text"] == "Skrøpelighet, CFS 6"


def test_cga_cut_point_is_cfs_5(clinic: Clinic) -> None:
    assert clinic.evaluate("encounter-discharge", age=80, cfs={"score": 5}).fired("cga-referral")
    assert not clinic.evaluate("encounter-discharge", age=80, cfs={"score": 4}).fired("cga-referral")


def test_cga_needs_the_validated_age_of_65(clinic: Clinic) -> None:
    assert clinic.evaluate("encounter-discharge", age=65, cfs={"score": 6}).fired("cga-referral")
    assert not clinic.evaluate("encounter-discharge", age=64, cfs={"score": 6}).fired("cga-referral")


def test_cfs_8_gets_cga_only_when_end_of_life_signs_are_assessed_and_absent(clinic: Clinic) -> None:
    assert clinic.evaluate("encounter-discharge", age=90, cfs={"score": 8}, end_of_life_signs=False).fired(
        "cga-referral"
    )
    for signs in (True, None):  # recorded, or not assessed: unknown is not no
        result = clinic.evaluate("encounter-discharge", age=90, cfs={"score": 8}, end_of_life_signs=signs)
        assert not result.fired("cga-referral")
        assert result.fired("end-of-life")


def test_a_cga_done_or_referred_within_the_look_back_is_not_suggested_again(clinic: Clinic) -> None:
    assert not clinic.evaluate("encounter-discharge", age=80, cfs={"score": 6}, last_cga=date(2025, 1, 15)).fired(
        "cga-referral"
    )
    assert clinic.evaluate("encounter-discharge", age=80, cfs={"score": 6}, last_cga=date(2023, 1, 15)).fired(
        "cga-referral"
    )


# -- end-of-life -------------------------------------------------------------------------------


def test_olav_with_cfs_9_gets_an_end_of_life_card_and_no_cga(clinic: Clinic) -> None:
    result = clinic.evaluate("encounter-discharge", age=79, cfs={"score": 9})
    assert result.fired("end-of-life")
    assert not result.fired("cga-referral")
    assert result.card("end-of-life").indicator == "warning"


def test_end_of_life_at_cfs_8_needs_recorded_signs(clinic: Clinic) -> None:
    assert clinic.evaluate("patient-view", age=91, cfs={"score": 8}, end_of_life_signs=True).fired("end-of-life")
    assert not clinic.evaluate("patient-view", age=91, cfs={"score": 8}, end_of_life_signs=False).fired("end-of-life")


def test_cfs_7_with_end_of_life_signs_is_below_the_end_of_life_level(clinic: Clinic) -> None:
    assert not clinic.evaluate("patient-view", age=91, cfs={"score": 7}, end_of_life_signs=True).fired("end-of-life")


def test_end_of_life_card_suggests_shared_decisions_with_relatives_only_with_consent(clinic: Clinic) -> None:
    card = clinic.evaluate("encounter-start", age=88, cfs={"score": 9}).card("end-of-life")
    labels = [s.label for s in card.suggestions or []]
    assert labels == [
        "Avklar behandlingsnivå",
        "Kartlegg palliative behov",
        "Samtale om hva som er viktig for pasienten",
    ]
    assert "når pasienten samtykker" in (card.detail or "")


# -- geriatric-selection -----------------------------------------------------------------------

ED = {"age": 81, "encounter_class": "emergency", "home_dwelling": True, "expected_to_live_at_home": True}


def test_home_dwelling_cfs_6_with_new_falls_is_selected_for_geriatrics(clinic: Clinic) -> None:
    result = clinic.evaluate("encounter-start", **ED, cfs={"score": 6}, new_falls=True)
    assert "nyoppstått falltendens" in result.card("geriatric-selection").summary


def test_geriatric_selection_cut_point_is_below_cfs_7(clinic: Clinic) -> None:
    assert not clinic.evaluate("encounter-start", **ED, cfs={"score": 7}, suspected_delirium=True).fired(
        "geriatric-selection"
    )


def test_each_geriatric_signal_alone_selects(clinic: Clinic) -> None:
    for signal in ("acute_functional_decline", "new_falls", "suspected_delirium"):
        assert clinic.evaluate("encounter-start", **ED, cfs={"score": 3}, **{signal: True}).fired(
            "geriatric-selection"
        ), signal


def test_no_geriatric_signal_no_selection(clinic: Clinic) -> None:
    assert not clinic.evaluate("encounter-start", **ED, cfs={"score": 5}).fired("geriatric-selection")


def test_patient_not_expected_to_live_at_home_is_not_selected(clinic: Clinic) -> None:
    facts = {**ED, "expected_to_live_at_home": False}
    assert not clinic.evaluate("encounter-start", **facts, cfs={"score": 5}, new_falls=True).fired(
        "geriatric-selection"
    )


# -- frailty-status and frailty-validity ------------------------------------------------------

CFS_6 = {"score": 6, "baseline_date": date(2025, 1, 1), "performer_role": "sykepleier", "source": "hospital"}


@pytest.mark.parametrize(
    ("score", "band_nb", "band_en"),
    [
        (1, "ikke skrøpelig", "not frail"),
        (3, "ikke skrøpelig", "not frail"),
        (4, "svært lett skrøpelighet", "very mild frailty"),
        (5, "skrøpelig", "frail"),
        (8, "skrøpelig", "frail"),
        (9, "terminalt syk", "terminally ill"),
    ],
)
def test_every_documented_cfs_gets_a_status_card_with_its_band(
    clinic: Clinic, score: int, band_nb: str, band_en: str
) -> None:
    result = clinic.evaluate("patient-view", age=80, cfs={"score": score, "baseline_date": date(2025, 1, 1)})
    assert f"CFS {score} – " in result.card("frailty-status").summary
    assert f"({band_nb}" in result.card("frailty-status", "nb").summary
    assert f"({band_en}" in result.card("frailty-status", "en").summary


def test_status_card_names_the_level_baseline_and_who_scored_it(clinic: Clinic) -> None:
    result = clinic.evaluate("encounter-start", age=84, cfs=CFS_6)
    nb, en = result.card("frailty-status", "nb"), result.card("frailty-status", "en")
    assert nb.summary.startswith("CFS 6 – Lever med moderat skrøpelighet (skrøpelig")
    assert en.summary.startswith("CFS 6 – Living with moderate frailty (frail")
    assert "grunnlag 01.01.2025" in nb.summary and "baseline 2025-01-01" in en.summary
    assert "Skåret av: sykepleier (sykehuset)" in (nb.detail or "")
    assert "Rockwood K, Theou O" in (nb.detail or "")


# Decision cut points the sources set (src/cds/scores/data/cfs.yaml): frail from 5 (000:2160-2162), geriatric
# selection needs < 7 (004:134-137), 8 with signs of approaching end of life (clinical-content.md section 1),
# terminally ill at 9 (000:2178-2180); margin 1 level (scores.md). No cut point at 6.
CUTS_NEAR_LEVEL: dict[int, tuple[int, ...]] = {
    1: (), 2: (), 3: (), 4: (5,), 5: (5,), 6: (7,), 7: (7, 8), 8: (8, 9), 9: (9,)
}


@pytest.mark.parametrize(("score", "cuts"), sorted(CUTS_NEAR_LEVEL.items()))
def test_uncertain_flag_and_named_cut_points_agree_on_the_card_in_both_languages_and_in_the_scores(
    clinic: Clinic, score: int, cuts: tuple[int, ...]
) -> None:
    """The frailty-status card (nb, en), interpret_cfs and `cds score` (text, JSON) give the same answer per level."""
    from cds.cli.score import render_json, render_text
    from cds.scores.cfs import cfs_cut_points, interpret_cfs

    labels = {c.at: c for c in cfs_cut_points()}
    snapshot = clinic.snapshot(age=80, cfs={"score": score})
    result = clinic.run("patient-view", snapshot)
    nb, en = result.card("frailty-status", "nb"), result.card("frailty-status", "en")
    assert ("usikker)" in nb.summary) is bool(cuts)
    assert ("uncertain)" in en.summary) is bool(cuts)
    assert ("**Usikker skår:**" in (nb.detail or "")) is bool(cuts)
    assert ("**Uncertain score:**" in (en.detail or "")) is bool(cuts)
    for at, cut in labels.items():
        assert (cut.nb in (nb.detail or "")) is (at in cuts), (at, "nb")
        assert (cut.en in (en.detail or "")) is (at in cuts), (at, "en")
    scores = interpret_cfs(score, 80)
    assert scores.uncertain is bool(cuts)
    assert tuple(c.at for c in scores.uncertain_cut_points) == cuts
    text = render_text(snapshot)
    assert (f"uncertain near cut point {', '.join(map(str, cuts))})" in text) if cuts else "uncertain" not in text
    cfs_json = json.loads(render_json(snapshot))["cfs"]
    assert cfs_json["uncertain"] is bool(cuts)
    assert tuple(c["at"] for c in cfs_json["uncertain_cut_points"]) == cuts


def test_status_card_never_reproduces_the_copyrighted_level_descriptions(clinic: Clinic) -> None:
    for score in range(1, 10):
        card = clinic.evaluate("patient-view", age=80, cfs={"score": score}).card("frailty-status", "en")
        assert "robust" not in (card.detail or "").lower() and "completely dependent" not in (card.detail or "").lower()


def test_frailty_status_is_not_shown_at_discharge(clinic: Clinic) -> None:
    assert not clinic.evaluate("encounter-discharge", age=80, cfs=CFS_6).fired("frailty-status")


def test_lise_60_with_cfs_5_gets_one_status_card_with_the_caveat_and_no_cga(clinic: Clinic) -> None:
    result = clinic.evaluate("patient-view", age=60, cfs={"score": 5})
    assert result.fired("frailty-status") and not result.fired("frailty-validity")
    assert not result.fired("cga-referral")
    (card,) = [c for c in result.cards["nb"] if c.source.topic and c.source.topic.code == "frailty-status"]
    assert card.summary.endswith("ikke validert under 65 år")
    assert "**Forbehold:** Pasienten er 60 år" in (card.detail or "")


def test_under_65_caveat_boundary_is_age_65(clinic: Clinic) -> None:
    young = clinic.evaluate("patient-view", age=64, cfs={"score": 3}).card("frailty-status")
    adult = clinic.evaluate("patient-view", age=65, cfs={"score": 3}).card("frailty-status")
    assert "ikke validert under 65 år" in young.summary
    assert "ikke validert" not in adult.summary


def test_at_discharge_the_under_65_caveat_comes_from_frailty_validity(clinic: Clinic) -> None:
    assert clinic.evaluate("encounter-discharge", age=64, cfs={"score": 3}).fired("frailty-validity")
    assert not clinic.evaluate("encounter-discharge", age=65, cfs={"score": 3}).fired("frailty-validity")


def test_cga_card_names_the_level_and_the_baseline_date_in_norwegian_form(clinic: Clinic) -> None:
    result = clinic.evaluate("encounter-discharge", age=84, cfs={"score": 6, "baseline_date": date(2025, 1, 1)})
    assert "CFS 6 (Lever med moderat skrøpelighet), skåret for tilstanden 01.01.2025" in (
        result.card("cga-referral").detail or ""
    )
    assert "CFS 6 (Living with moderate frailty), scored for the state on 2025-01-01" in (
        result.card("cga-referral", "en").detail or ""
    )


def test_screening_card_names_the_stale_score_its_level_and_age(clinic: Clinic) -> None:
    cfs = {"score": 4, "baseline_date": date(2024, 10, 15)}
    result = clinic.evaluate("patient-view", age=79, cfs_latest=cfs, cfs_age_days=92)
    assert (
        "Siste CFS: 4 (Lever med svært lett skrøpelighet), grunnlag 15.10.2024 (92 dager siden) – eldre enn 90 dager"
        " og brukes ikke i beslutninger; skår på nytt."
        in (result.card("cfs-screening-due").detail or "")
    )
    undated = clinic.evaluate("patient-view", age=79, cfs_latest={"score": 4}).card("cfs-screening-due", "en")
    assert "Latest CFS: 4 (Living with very mild frailty) – without a date, not used for decisions." in (
        undated.detail or ""
    )


def test_geriatric_selection_is_not_offered_under_65_or_at_unknown_age(clinic: Clinic) -> None:
    ed = {
        "encounter_class": "emergency",
        "home_dwelling": True,
        "expected_to_live_at_home": True,
        "cfs": {"score": 5},
        "new_falls": True,
    }
    young = clinic.evaluate("encounter-start", age=45, **ed)
    assert not young.fired("geriatric-selection")
    assert young.fired("frailty-status")  # the status card carries the "not validated under 65" caveat
    assert not clinic.evaluate("encounter-start", **ed).fired("geriatric-selection")
    assert clinic.evaluate("encounter-start", age=65, **ed).fired("geriatric-selection")
