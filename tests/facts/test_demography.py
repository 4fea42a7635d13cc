"""Demography facts from the Patient resource."""

from __future__ import annotations

from datetime import timedelta

from factkit import NOW, build, encounter, patient

from cds.fhir.resources import ResourceIssue

MUNI_EXT = "http://hl7.no/fhir/StructureDefinition/no-basis-municipalitycode"


def municipality_ext(code: str) -> dict:
    return {"url": MUNI_EXT, "valueCoding": {"system": "urn:oid:2.16.578.1.12.4.1.1.3402", "code": code}}


def test_age_counts_whole_years_before_the_birthday() -> None:
    assert build([patient(birthDate="1942-11-21"), encounter()]).age == 83
    assert build([patient(birthDate="1942-11-20"), encounter()]).age == 84


def test_partial_birth_year_counts_from_the_first_of_january() -> None:
    assert build([patient(birthDate="1942"), encounter()]).age == 84


def test_missing_patient_leaves_demography_unknown_and_is_reported(issues: list[ResourceIssue]) -> None:
    snapshot = build([encounter()], issues=issues)
    assert (snapshot.age, snapshot.sex, snapshot.deceased) == (None, None, None)
    assert any(i.resource_type == "Patient" for i in issues)


def test_municipality_from_the_no_basis_extension_on_district() -> None:
    address = {"use": "home", "district": "Bergen", "_district": {"extension": [municipality_ext("4601")]}}
    assert build([patient(address=[address])]).municipality == "4601"


def test_municipality_from_the_extension_on_the_address_itself() -> None:
    assert build([patient(address=[{"extension": [municipality_ext("0301")]}])]).municipality == "0301"


def test_four_digit_district_is_read_as_municipality_number_but_a_name_is_not() -> None:
    assert build([patient(address=[{"district": "5001"}])]).municipality == "5001"
    assert build([patient(address=[{"district": "Trondheim"}])]).municipality is None


def test_ended_address_is_skipped() -> None:
    old = {"use": "home", "district": "1103", "period": {"end": "2020-01-01"}}
    assert build([patient(address=[old, {"use": "temp", "district": "4601"}])]).municipality == "4601"


def test_gp_reference_is_kept_and_absence_is_unknown() -> None:
    with_gp = build([patient(generalPractitioner=[{"reference": "Practitioner/gp-1"}])])
    assert (with_gp.has_gp, with_gp.gp_reference) == (True, "Practitioner/gp-1")
    assert build([patient()]).has_gp is None


def test_deceased_is_false_without_deceased_element_and_true_with_a_date() -> None:
    assert build([patient()]).deceased is False
    assert build([patient(deceasedDateTime="2026-11-19T03:00:00+01:00")]).deceased is True


def test_sex_follows_administrative_gender() -> None:
    assert build([patient(gender="male")]).sex == "male"
    assert build([{"resourceType": "Patient", "id": "kari"}]).sex is None


def test_resources_of_another_patient_are_ignored() -> None:
    earlier = NOW - timedelta(days=60)
    mine = encounter("my-old-stay", start=earlier, end=earlier + timedelta(days=3))
    other = {
        **encounter("other-stay", start=earlier, end=earlier + timedelta(days=3)),
        "subject": {"reference": "Patient/someone-else"},
    }
    snapshot = build([patient(), encounter(), mine, other])
    assert [a.encounter_id for a in snapshot.admissions or ()] == ["my-old-stay"]


GP_ROLE = {"coding": [{"system": "https://fhir.cds-frailty.no/CodeSystem/care-team-role", "code": "gp"}]}


def care_team(member: str, role: dict | None = None, status: str = "active") -> dict:
    participant = {"member": {"reference": member}} | ({"role": [role]} if role else {})
    return {"resourceType": "CareTeam", "id": "team", "status": status, "subject": {"reference": "Patient/kari"},
            "participant": [participant]}


def test_the_gp_from_patient_general_practitioner_comes_first() -> None:
    snapshot = build([patient(generalPractitioner=[{"reference": "Practitioner/gp-1"}]),
                      care_team("Practitioner/gp-2", GP_ROLE)])
    assert (snapshot.has_gp, snapshot.gp_reference) == (True, "Practitioner/gp-1")


def test_the_gp_from_a_care_team_participant_in_the_gp_role() -> None:
    snapshot = build([patient(), care_team("Practitioner/gp-2", GP_ROLE)])
    assert (snapshot.has_gp, snapshot.gp_reference) == (True, "Practitioner/gp-2")


def test_the_gp_from_a_care_team_member_that_is_a_practitioner_role_coded_as_gp() -> None:
    role = {"resourceType": "PractitionerRole", "id": "flr-1", "code": [GP_ROLE],
            "practitioner": {"reference": "Practitioner/gp-3"}}
    snapshot = build([patient(), role, care_team("PractitionerRole/flr-1")])
    assert (snapshot.has_gp, snapshot.gp_reference) == (True, "PractitionerRole/flr-1")


def test_no_gp_anywhere_is_unknown_never_none() -> None:
    other_role = {"coding": [{"system": "https://fhir.cds-frailty.no/CodeSystem/care-team-role", "code": "coordinator"}]}
    for data in ([patient()], [patient(), care_team("Practitioner/x", other_role)],
                 [patient(), care_team("Practitioner/gp-2", GP_ROLE, status="inactive")]):
        snapshot = build(data)
        assert (snapshot.has_gp, snapshot.gp_reference) == (None, None)
