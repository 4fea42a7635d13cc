"""Living situation, residence, municipal services, coordinator and individual plan."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from factkit import (
    ADMITTED,
    EID,
    LOCAL,
    NO_ICD10,
    NOW,
    SNOMED,
    build,
    concept,
    condition,
    encounter,
    observation,
    patient,
)

from cds.facts.services import service_need
from cds.facts.snapshot import ServiceNeed

SERVICE = f"{LOCAL}/municipal-service"
DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"


def episode(eid: str, service: str, start: str, end: str | None = None, status: str = "active") -> dict:
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "EpisodeOfCare",
        "id": eid,
        "status": status,
        "type": [concept(SERVICE, service)],
        "patient": {"reference": "Patient/kari"},
        "period": period,
    }


def planned(sid: str, service: str, authored: datetime = ADMITTED + timedelta(days=2)) -> dict:
    return {
        "resourceType": "ServiceRequest",
        "id": sid,
        "status": "active",
        "intent": "plan",
        "code": concept(SERVICE, service),
        "subject": {"reference": "Patient/kari"},
        "encounter": {"reference": f"Encounter/{EID}"},
        "authoredOn": authored.isoformat(),
    }


def answer(oid: str, question: str, system: str, code: str) -> dict:
    return observation(
        oid,
        concept(f"{LOCAL}/observation", question),
        NOW - timedelta(days=1),
        valueCodeableConcept=concept(system, code),
    )


DISCHARGING = encounter(hospitalization={"dischargeDisposition": concept(DISPOSITION, "home")})


@pytest.mark.parametrize(
    ("before", "after", "need"),
    [
        ((), (), ServiceNeed.none),
        ((), ("home-nursing",), ServiceNeed.new),
        (("home-help",), ("home-help",), ServiceNeed.unchanged),
        (("home-help",), ("home-help", "home-nursing"), ServiceNeed.increased),
        (("home-help",), ("home-nursing",), ServiceNeed.increased),
        (("home-help", "home-nursing"), ("home-help",), ServiceNeed.decreased),
        (("home-help",), (), None),  # services before, none requested after: not recorded, not "decreased"
        (None, ("home-help",), None),
        (("home-help",), None, None),
    ],
)
def test_service_need_compares_before_and_after(before, after, need) -> None:  # noqa: ANN001
    assert service_need(before, after) == need


def test_services_before_are_episodes_running_at_admission() -> None:
    resources = [
        patient(),
        DISCHARGING,
        episode("hn", "home-nursing", "2024-01-01"),
        episode("ended", "home-help", "2023-01-01", "2025-01-01", status="finished"),
        episode("later", "safety-alarm", "2026-11-19"),
    ]
    snapshot = build(resources)
    assert snapshot.municipal_services_before == ("home-nursing",)
    assert snapshot.home_nursing is True


def test_services_after_are_unknown_before_discharge_planning_is_visible() -> None:
    snapshot = build([patient(), encounter()], searched=["ServiceRequest", "EpisodeOfCare"])
    assert snapshot.municipal_services_after is None and snapshot.service_need is None


def test_no_services_after_is_concluded_once_the_discharge_is_planned() -> None:
    snapshot = build([patient(), DISCHARGING], searched=["ServiceRequest", "EpisodeOfCare"])
    assert snapshot.municipal_services_after == () and snapshot.service_need is ServiceNeed.none


def test_a_municipal_request_of_this_stay_makes_the_plan_known() -> None:
    snapshot = build([patient(), encounter(), episode("hh", "home-help", "2025-01-01"), planned("sr", "home-help")])
    assert snapshot.service_need is ServiceNeed.unchanged


def test_request_from_an_earlier_stay_is_not_part_of_this_plan() -> None:
    old = {
        **planned("old", "home-nursing", ADMITTED - timedelta(days=200)),
        "encounter": {"reference": "Encounter/old"},
    }
    snapshot = build([patient(), DISCHARGING, old], searched=["ServiceRequest", "EpisodeOfCare"])
    assert snapshot.municipal_services_after == ()


def test_home_nursing_is_unknown_without_episode_data() -> None:
    assert build([patient(), encounter()]).home_nursing is None


@pytest.mark.parametrize(("code", "alone"), [("lives-alone", True), ("lives-with-others", False)])
def test_living_situation_answer_sets_lives_alone(code: str, alone: bool) -> None:
    obs = answer("ls", "living-situation", f"{LOCAL}/living-situation", code)
    assert build([patient(), encounter(), obs]).lives_alone is alone


def test_snomed_lives_alone_finding_and_icd10_z60_2_count() -> None:
    finding = observation("f", concept(SNOMED, "105529008"), NOW - timedelta(days=3), valueBoolean=True)
    assert build([patient(), encounter(), finding]).lives_alone is True
    assert build([patient(), encounter(), condition("z", NO_ICD10, "Z60.2")]).lives_alone is True


def test_lives_alone_is_unknown_without_a_record() -> None:
    assert build([patient(), encounter()]).lives_alone is None


def test_residence_answer_decides_home_dwelling() -> None:
    home = answer("r", "residence", f"{LOCAL}/residence", "own-home")
    nursing = answer("r", "residence", f"{LOCAL}/residence", "nursing-home")
    assert build([patient(), encounter(), home]).home_dwelling is True
    assert build([patient(), encounter(), nursing]).home_dwelling is False


def test_long_term_stay_means_not_home_dwelling_and_home_services_mean_home() -> None:
    assert build([patient(), encounter(), episode("lt", "long-term-stay", "2024-01-01")]).home_dwelling is False
    assert build([patient(), encounter(), episode("hh", "home-help", "2024-01-01")]).home_dwelling is True


def test_expected_residence_answer_sets_expected_to_live_at_home() -> None:
    obs = answer("e", "expected-residence", f"{LOCAL}/residence", "own-home")
    assert build([patient(), encounter(), obs]).expected_to_live_at_home is True


def test_answer_code_outside_the_value_sets_is_reported(issues) -> None:  # noqa: ANN001
    odd = answer("odd", "living-situation", "urn:local", "boat")
    assert build([patient(), encounter(), odd], issues=issues).lives_alone is None
    assert [i.id for i in issues] == ["odd"]


def team(status: str = "active", role: str = "coordinator") -> dict:
    return {
        "resourceType": "CareTeam",
        "id": "ct",
        "status": status,
        "subject": {"reference": "Patient/kari"},
        "participant": [{"role": [concept(f"{LOCAL}/care-team-role", role)]}],
    }


def test_coordinator_role_in_a_live_care_team() -> None:
    assert build([patient(), encounter(), team()]).has_coordinator is True
    assert build([patient(), encounter(), team(status="inactive")]).has_coordinator is False
    assert build([patient(), encounter()]).has_coordinator is None


def plan(status: str) -> dict:
    return {
        "resourceType": "CarePlan",
        "id": "ip",
        "status": status,
        "intent": "plan",
        "category": [concept(f"{LOCAL}/care-plan", "individual-plan")],
        "subject": {"reference": "Patient/kari"},
    }


@pytest.mark.parametrize(("status", "expected"), [("active", "active"), ("draft", "active"), ("revoked", "declined")])
def test_individual_plan_status(status: str, expected: str) -> None:
    assert build([patient(), encounter(), plan(status)]).individual_plan == expected


def test_individual_plan_none_only_when_care_plans_are_known() -> None:
    assert build([patient(), encounter()], searched=["CarePlan"]).individual_plan == "none"
    assert build([patient(), encounter()]).individual_plan is None
