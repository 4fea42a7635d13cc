"""CFS from the HL7 Norway vkp-Observation-CFSscore (SNOMED CT 763264000)."""

from __future__ import annotations

from datetime import date

from factkit import LOCAL, SNOMED, build, concept, encounter, observation, patient

from cds.fhir.resources import ResourceIssue

CFS = concept(SNOMED, "763264000")


def cfs(oid: str, when: str, **value: object) -> dict:
    return observation(oid, CFS, when, **value)


def test_most_recent_score_is_chosen_by_baseline_date_not_by_recording() -> None:
    older_baseline_recorded_later = cfs("late", "2026-09-01", valueInteger=4, issued="2026-11-18T10:00:00+01:00")
    newer_baseline = cfs("new", "2026-11-01", valueInteger=6, issued="2026-11-02T10:00:00+01:00")
    snapshot = build([patient(), encounter(), older_baseline_recorded_later, newer_baseline])
    assert snapshot.cfs is not None and snapshot.cfs.score == 6
    assert snapshot.cfs.baseline_date == date(2026, 11, 1)


def test_cfs_age_counts_days_from_the_baseline() -> None:
    assert build([patient(), encounter(), cfs("c", "2026-11-06", valueInteger=5)]).cfs_age_days == 14


def test_value_quantity_and_numeric_codeable_concept_are_tolerated() -> None:
    quantity = cfs("q", "2026-11-01", valueQuantity={"value": 7, "unit": "{score}"})
    coded = cfs("c", "2026-11-01", valueCodeableConcept={"coding": [{"system": "urn:local:cfs", "code": "3"}]})
    assert build([patient(), quantity]).cfs.score == 7
    assert build([patient(), coded]).cfs.score == 3


def test_value_outside_one_to_nine_is_ignored_and_reported(issues: list[ResourceIssue]) -> None:
    snapshot = build([patient(), encounter(), cfs("bad", "2026-11-01", valueInteger=12)], issues=issues)
    assert snapshot.cfs is None
    assert [i.id for i in issues] == ["bad"] and "outside 1-9" in issues[0].message


def test_non_integer_score_is_reported(issues: list[ResourceIssue]) -> None:
    snapshot = build([patient(), encounter(), cfs("half", "2026-11-01", valueQuantity={"value": 5.5})], issues=issues)
    assert snapshot.cfs is None and "whole number" in issues[0].message


def test_entered_in_error_score_is_ignored() -> None:
    wrong = {**cfs("wrong", "2026-11-10", valueInteger=9), "status": "entered-in-error"}
    snapshot = build([patient(), cfs("right", "2026-11-01", valueInteger=4), wrong])
    assert snapshot.cfs.score == 4


def test_future_baseline_is_ignored_and_reported(issues: list[ResourceIssue]) -> None:
    assert build([patient(), encounter(), cfs("f", "2026-12-24", valueInteger=5)], issues=issues).cfs is None
    assert "after the evaluation time" in issues[0].message


def test_local_cfs_code_is_accepted() -> None:
    local = observation("l", concept(f"{LOCAL}/observation", "cfs"), "2026-11-01", valueInteger=5)
    assert build([patient(), local]).cfs.score == 5


def test_record_source_tag_and_performer_role_are_kept_without_identity() -> None:
    role = {
        "resourceType": "PractitionerRole",
        "id": "r1",
        "code": [{"text": "Sykepleier"}],
        "practitioner": {"reference": "Practitioner/p1"},
    }
    score = cfs(
        "s",
        "2026-11-01",
        valueInteger=5,
        performer=[{"reference": "PractitionerRole/r1"}],
        meta={"tag": [{"system": f"{LOCAL}/record-source", "code": "municipality"}]},
    )
    fact = build([patient(), score, role]).cfs
    assert (fact.source, fact.performer_role) == ("municipality", "Sykepleier")


def test_no_cfs_observation_means_unknown() -> None:
    snapshot = build([patient(), encounter()])
    assert snapshot.cfs is None and snapshot.cfs_age_days is None
